"""What an image file carries besides its pixels, and taking out what must not leave the team.

Phones and cameras write where a photo was taken (GPS), the camera's serial number, its owner's name,
maker notes (which hold serials and more) and XMP packets (which may repeat all of it). `scrub` takes
those out of a copy without re-encoding: JPEG segments, PNG chunks and WebP chunks are rewritten, and
only a short list of harmless EXIF tags stays (orientation, so the copy still shows upright; camera
model and exposure). The team's own originals are never changed, unless FLUXSITE_STRIP_METADATA_ON_UPLOAD.

Works on bytes only, like images.py.
"""

import io
import struct
import zlib

from django.conf import settings
from PIL import ExifTags, Image

from . import images

# EXIF tags a copy keeps; everything else goes (GPS, serial numbers, owner and artist names, maker
# notes, unique ids, comments, Windows XP author tags and any tag nobody here has heard of).
KEEP_MAIN_TAGS = {
    ExifTags.Base.Orientation, ExifTags.Base.XResolution, ExifTags.Base.YResolution, ExifTags.Base.ResolutionUnit,
    ExifTags.Base.Make, ExifTags.Base.Model, ExifTags.Base.Software, ExifTags.Base.DateTime,
    ExifTags.Base.YCbCrPositioning,
}
KEEP_EXIF_TAGS = {
    ExifTags.Base.ExifVersion, ExifTags.Base.DateTimeOriginal, ExifTags.Base.DateTimeDigitized,
    ExifTags.Base.ExposureTime, ExifTags.Base.FNumber, ExifTags.Base.ISOSpeedRatings, ExifTags.Base.FocalLength,
    ExifTags.Base.FocalLengthIn35mmFilm, ExifTags.Base.Flash, ExifTags.Base.WhiteBalance, ExifTags.Base.ColorSpace,
    ExifTags.Base.ExifImageWidth, ExifTags.Base.ExifImageHeight,
}
EXIF_HEADER = b"Exif\x00\x00"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt"}
PNG_KEPT_TEXT = b"parameters"  # what images.embed_parameters writes; share links that hide it take it out themselves


def scrub(data):
    """A copy of an image file without location, serial numbers, owner names, maker notes or XMP;
    None for a file damaged so badly that no clean copy can be made (it is then not sent at all)."""
    try:
        if data[:2] == b"\xff\xd8":
            return _scrub_jpeg(data)
        if data[:8] == PNG_SIGNATURE:
            return _scrub_png(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _scrub_webp(data)
    except (ValueError, IndexError, struct.error):
        return _reencoded(data)  # a file these parsers cannot walk is drawn again, with nothing but its pixels
    return data  # GIF: no EXIF


def _reencoded(data):
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > settings.FLUXSITE_MAX_PIXELS:
            return None
        out = io.BytesIO()
        image.save(out, image.format if image.format in ("JPEG", "PNG", "WEBP") else "PNG")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return out.getvalue()


def copy_for_link(data, with_parameters):
    """An original as a share link sends it: scrubbed, and without its generation parameters unless the
    link shows them (None: no clean copy can be made)."""
    clean = scrub(data)
    return clean if clean is None or with_parameters else images.strip_parameters(clean)


def clean_exif(raw):
    """EXIF (a TIFF structure, with or without the Exif header) with only the kept tags; b"" if none is left."""
    exif = Image.Exif()
    exif.load(raw)
    kept = Image.Exif()
    for tag in KEEP_MAIN_TAGS & set(exif):
        kept[tag] = exif[tag]
    camera = {tag: value for tag, value in exif.get_ifd(ExifTags.IFD.Exif).items() if tag in KEEP_EXIF_TAGS}
    if camera:
        kept[ExifTags.IFD.Exif] = camera
    return kept.tobytes().removeprefix(EXIF_HEADER) if len(kept) else b""


# --- JPEG: a list of segments, then the compressed scans ---------------------------------------------------------

def _keep_jpeg_segment(marker, payload):
    """The segment to write instead (b"" drops it). APP0 (JFIF), ICC profiles and APP14 (Adobe colour) stay;
    EXIF is cleaned; XMP, IPTC (APP13), MPF and every other application segment go."""
    if marker == 0xE1 and payload.startswith(EXIF_HEADER):
        exif = clean_exif(payload)
        return _jpeg_segment(0xE1, EXIF_HEADER + exif) if exif else b""
    if marker == 0xE2 and payload.startswith(b"ICC_PROFILE\x00"):
        return None
    if 0xE1 <= marker <= 0xED or marker == 0xEF:
        return b""
    return None  # None: keep as it is


def _jpeg_segment(marker, payload):
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def _scan_end(data, pos):
    """Where the entropy-coded data starting at `pos` ends: at the first marker that is not a stuffed
    0xFF00 or a restart marker (or at the end of a file cut short)."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos == -1 or pos + 1 == len(data):
            return len(data)
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            pos += 1 if following == 0xFF else 2
            continue
        return pos


def _scrub_jpeg(data):
    """The first image only: anything after its end (an MPO's second frame, a phone's motion-photo video) goes."""
    out, pos = [data[:2]], 2
    while pos < len(data):
        if data[pos] != 0xFF:
            raise ValueError("not a JPEG marker")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            out.append(b"\xff\xd9")
            return b"".join(out)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            out.append(data[pos:pos + 2])
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        end = pos + 2 + length
        if end > len(data) or length < 2:
            raise ValueError("truncated JPEG segment")
        if marker == 0xDA:  # start of scan: the header, then compressed data up to the next marker
            end = _scan_end(data, end)
            out.append(data[pos:end])
        else:
            replacement = _keep_jpeg_segment(marker, data[pos + 4:end]) if 0xE0 <= marker <= 0xEF else None
            out.append(data[pos:end] if replacement is None else replacement)
        pos = end
    return b"".join(out)  # cut short in its last scan: what there is, as a browser would show it


# --- PNG and WebP: chunks --------------------------------------------------------------------------------------

def _png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def _scrub_png(data):
    out, pos = [PNG_SIGNATURE], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, end = data[pos + 4:pos + 8], pos + 12 + length
        if end > len(data):
            raise ValueError("truncated PNG chunk")
        payload = data[pos + 8:pos + 8 + length]
        if kind == b"eXIf":
            exif = clean_exif(payload)
            out.append(_png_chunk(kind, exif) if exif else b"")
        elif kind in PNG_TEXT_CHUNKS and payload.split(b"\x00", 1)[0] != PNG_KEPT_TEXT:
            pass  # text chunks: XMP, "Raw profile type exif", authors, comments
        else:
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            break
    return b"".join(out)


VP8X_EXIF, VP8X_XMP = 0x08, 0x04


def _scrub_webp(data):
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        kind, (length,) = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])
        payload = data[pos + 8:pos + 8 + length]
        if len(payload) != length:
            raise ValueError("truncated WebP chunk")
        if kind == b"EXIF":
            payload = clean_exif(payload)
        if kind != b"XMP " and payload:
            chunks.append([kind, payload])
        pos += 8 + length + (length & 1)
    kinds = {kind for kind, _ in chunks}
    for chunk in chunks:
        if chunk[0] == b"VP8X":
            flags = chunk[1][0] & ~VP8X_XMP & ~(0 if b"EXIF" in kinds else VP8X_EXIF)
            chunk[1] = bytes([flags]) + chunk[1][1:]
    body = b"".join(
        kind + struct.pack("<I", len(payload)) + payload + (b"\x00" if len(payload) & 1 else b"") for kind, payload in chunks
    )
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body
