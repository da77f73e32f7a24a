"""Template helpers of the photo-grid pages: the shape class that lays a tile out in justified rows."""

from django import template

register = template.Library()

# Ratios (width / height) the grid shows as they are; wider or taller images are cropped to these,
# so a panorama still has a readable height and a tall portrait does not take a whole row.
SHAPE_MIN, SHAPE_MAX = 5, 30  # tenths


@register.filter
def shape(item):
    """`shape-13` for an image 1.3 times as wide as high: static/css/browse.css gives each its flex share.

    A class rather than a style attribute: the pages' CSP allows no inline style, and CSS knows
    the shape before any image loads, so nothing moves as thumbnails arrive.
    """
    tenths = round(10 * item.width / item.height) if item.height else 10
    return f"shape-{min(max(tenths, SHAPE_MIN), SHAPE_MAX)}"
