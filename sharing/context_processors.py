"""`picks_news` in every page: how many picks and comments visitors left on this person's links since
they last looked (a count on the Shared links item of the top bar). Counted only when a page shows it."""

from django.utils.functional import SimpleLazyObject

from team.models import allows

from .picking import unseen_count


def picks_news(request):
    user = getattr(request, "user", None)
    if user is None or not allows(user, "share"):
        return {"picks_news": 0}
    return {"picks_news": SimpleLazyObject(lambda: unseen_count(user))}
