"""The next round from a link's picks, in one step for the link's page, its board and the API: a new
board, a preset job on every picked output (sharing.picking.start_round), and, if asked, a link to the
new board on the same terms as the old one."""

import logging

from django.db import transaction

from .models import Board, create_link
from .options import ShareOptions
from .picking import PickRefused, PickRules, start_round

log = logging.getLogger(__name__)


def next_round(link, preset, person, share=False):
    """(board, jobs started, new link or None). All or nothing: PickRefused (nothing picked, an unknown
    preset, a dead link to copy terms from), FileNotFoundError or UploadRejected leave no board and no job."""
    if share and not link.is_active:
        raise PickRefused(f"This link is {link.state}: its terms cannot be copied.")
    with transaction.atomic():
        board = Board.objects.create(name=f"Next round: {link.target_label}"[:120], created_by=person)
        started = start_round(board, link, preset, person)
        new_link = share_like(link, board, person) if share else None
    log.info("%s varied the %s picks of share link %s onto board %s", person.get_username(), len(started), link.pk, board.pk)
    return board, started, new_link


def share_like(link, target, user):
    """A new link to `target` with `link`'s terms: what it allows, its password, its expiry date and its picking."""
    new_link, _ = create_link(target, ShareOptions(allow_download=link.allow_download, show_parameters=link.show_parameters), user)
    new_link.expires_at, new_link.password = link.expires_at, link.password
    new_link.save(update_fields=["expires_at", "password"])
    rules = getattr(link, "pick_rules", None)
    if rules is not None:
        PickRules.objects.create(link=new_link, min_picks=rules.min_picks, max_picks=rules.max_picks, deadline=rules.deadline)
    return new_link
