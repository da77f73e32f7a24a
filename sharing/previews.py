"""Larger previews for share links that grant thumbnails only: a visitor can look closer without
getting the original. A WebP of FLUXSITE_SHARE_PREVIEW_PX on its longest side, drawn anew from the
stored image (so it carries no metadata), made on first request and kept beside the other files
under previews/; it goes when its source or output does."""

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.db.models.signals import post_delete
from django.dispatch import receiver
from PIL import Image

from variations.images import make_thumbnail
from variations.models import Output, Source


def preview_name(item):
    return f"previews/{item._meta.model_name}s/{item.pk}-{settings.FLUXSITE_SHARE_PREVIEW_PX}.webp"


def preview_of(item):
    """The item's preview as a stored file (made now if it is not there yet). Raises FileNotFoundError
    when the original is missing."""
    field = item._meta.get_field("image")
    name = preview_name(item)
    if not field.storage.exists(name):
        with item.image.open("rb") as original, Image.open(original) as image:
            data = make_thumbnail(image, settings.FLUXSITE_SHARE_PREVIEW_PX)
        name = field.storage.save(name, ContentFile(data))  # two at once: each keeps a copy, both valid
    return FieldFile(item, field, name)


@receiver(post_delete, sender=Source)
@receiver(post_delete, sender=Output)
def forget_preview(sender, instance, **kwargs):
    """Once the row is gone for good, as the other files of a deleted item."""
    storage, name = instance._meta.get_field("image").storage, preview_name(instance)
    transaction.on_commit(lambda: storage.delete(name))
