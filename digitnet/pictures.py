"""Reading picture files: a path or bytes → a decoded Pillow image → grey levels.

Refuses, with one line naming the file, anything that is not a usable picture
(missing, empty, not an image, damaged, a decompression bomb) before it costs
memory; composites transparency on white and turns any colour or bit depth into
0–255 grey, so the rest of the pipeline sees one kind of picture.  A picture cropped to its
digit can be put inside a frame of its own paper (``framed``).
"""

from __future__ import annotations

from pathlib import Path

from .errors import DigitnetError
from .preprocess import PIXEL_MAX

# Refused before decoding: a 40-megapixel photo is bigger than any phone takes, and a
# "decompression bomb" (a small file declaring a gigantic canvas) is stopped here
# rather than by running out of memory.
MAX_PIXELS = 40_000_000
# Formats worth trying; Pillow's others (EPS runs Ghostscript, for one) are not needed
# for pictures of digits and are not opened at all.
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
# A digit cropped to its ink is read again inside a frame of its paper this wide (× its longer
# side), the picture shrunk to at most FRAMED_LONGEST pixels first (28×28 is all a digit becomes).
PAPER_FRAME = 0.25
FRAMED_LONGEST = 1024
IMAGE_SUFFIXES = (
    ".png",
    ".jpg",
    ".jpeg",
    ".jpe",
    ".bmp",
    ".dib",
    ".gif",
    ".tif",
    ".tiff",
    ".webp",
    ".ppm",
    ".pgm",
    ".pbm",
)


# --------------------------------------------------------------------------- loading


def describe_source(source) -> str:
    """How a path or bytes is named in messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "image data"
    return str(source)


def load_image(source, *, name: str | None = None):
    """Open a path or bytes as a Pillow image (the first frame), fully decoded.

    Refuses with one-line DigitnetError: missing, empty, not an image, damaged or
    truncated files, and images over MAX_PIXELS (checked before decoding).
    EXIF orientation (phone photos) is applied.
    """
    import io
    import warnings

    from PIL import Image

    name = name or describe_source(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise DigitnetError(f"{name}: is empty, not an image")
        stream = io.BytesIO(bytes(source))
    else:
        stream = _open_file(Path(source), name)
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its own limit and twice that; make it an error.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream, formats=IMAGE_FORMATS) as image:
                _check_size(image, name)
                image.seek(0)  # animated GIF/PNG/TIFF: the first frame
                image.load()
                frame = image.copy()
        return _upright(frame)
    except DigitnetError:
        raise
    except Image.UnidentifiedImageError:
        raise DigitnetError(f"{name}: is not an image (expected PNG, JPEG, BMP, GIF, TIFF or WebP)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DigitnetError(
            f"{name}: declares a gigantic canvas (over {MAX_PIXELS // 1_000_000} megapixels); refused"
        ) from None
    except MemoryError:
        raise DigitnetError(f"{name}: too large to decode in the memory available") from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, struct.error... on damage
        raise DigitnetError(f"{name}: is damaged or truncated ({_reason(exc)})") from None
    finally:
        stream.close()


def _open_file(path: Path, name: str):
    try:
        if path.is_dir():
            raise DigitnetError(f"{name}: is a directory, not an image")
        stream = open(path, "rb")
    except FileNotFoundError:
        raise DigitnetError(f"{name}: no such file") from None
    except PermissionError:
        raise DigitnetError(f"{name}: permission denied") from None
    except OSError as exc:
        raise DigitnetError(f"{name}: cannot be read ({_reason(exc)})") from None
    if not stream.read(1):
        stream.close()
        raise DigitnetError(f"{name}: is empty, not an image")
    stream.seek(0)
    return stream


def _check_size(image, name: str) -> None:
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise DigitnetError(
            f"{name}: is {width}×{height} pixels, over the {MAX_PIXELS // 1_000_000}-megapixel limit; "
            "scale it down first"
        )
    if width < 1 or height < 1:
        raise DigitnetError(f"{name}: has no pixels ({width}×{height})")


def _upright(image):
    """Turn a phone photo the way its EXIF orientation says; leave it if that fails."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block is not worth refusing the picture for
        return image


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- grey levels


def grayscale(image):
    """A Pillow image in mode "L" (8-bit) or "F" (0–255 floats) with alpha composited on white.

    16-bit and 32-bit grey images are scaled to 0–255 rather than clipped.  A drawing
    whose strokes are only visible in the alpha channel (light strokes on a
    transparent background) is read from its alpha channel.
    """
    mode = image.mode
    if mode in ("L", "F"):
        return image if mode == "L" else _float_to_gray(image)
    if mode == "1":
        return image.convert("L")
    if mode.startswith("I"):
        return _wide_int_to_gray(image)
    if mode in ("LA", "La", "PA", "RGBA", "RGBa") or (mode == "P" and "transparency" in image.info):
        return _composite_on_white(image)
    if mode == "LAB":
        return image.getchannel(0)
    try:
        return image.convert("RGB").convert("L")
    except (ValueError, OSError) as exc:
        raise DigitnetError(f"colour mode {mode} is not supported ({_reason(exc)})") from None


def grey_counts(gray) -> list:
    """How many pixels of ``gray`` (mode "L" or "F") have each grey level 0–255 (Pillow's own count)."""
    return gray.histogram() if gray.mode == "L" else gray.histogram(extrema=(0.0, float(PIXEL_MAX)))


def border_of(gray):
    """The grey levels of the outermost pixels of ``gray``, all four sides."""
    import numpy as np

    pixels = np.asarray(gray)
    return np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])


def framed(gray, tones, *, width: float = PAPER_FRAME, longest: int = FRAMED_LONGEST):
    """``gray`` (mode "L" or "F") inside a frame of its own paper, ``width`` × its longer side wide
    all round, shrunk first so that side is at most ``longest`` pixels.

    ``tones`` (digitnet.paper.Tones) tells paper from ink.  The frame is made of the picture's
    own paper pixels (the middle half of their grey levels), drawn at random (seeded: the
    same picture gets the same frame), so its grain and level run on without a step where
    the picture ends.  A digit cropped to its ink (a scan cut to the digit, a dataset's
    16×16 crop) then lies on paper like any other.  Returns the framed picture and ``to_picture(box)``, which takes a
    (left, top, right, bottom) box in it back to the given picture's pixels.
    """
    import math

    import numpy as np
    from PIL import Image

    original = gray.size
    small = shrunk(gray, longest)
    scale = small.size[0] / original[0]
    frame = max(2, round(width * max(small.size)))
    pixels = np.asarray(small)
    paper = pixels[(pixels >= tones.threshold) == tones.ink_is_dark]
    if paper.size:  # its middle half only: the paper class also holds the strokes' soft edges, no grain
        low, high = np.percentile(paper, [25, 75])
        paper = paper[(paper >= low) & (paper <= high)]
    if not paper.size:
        paper = np.asarray([tones.paper], dtype=pixels.dtype)
    rows, cols = pixels.shape
    padded = np.random.default_rng(0).choice(paper, size=(rows + 2 * frame, cols + 2 * frame))
    padded[frame : frame + rows, frame : frame + cols] = pixels

    def to_picture(box):
        left, top, right, bottom = ((value - frame) / scale for value in box)
        return (
            max(0, math.floor(left)),
            max(0, math.floor(top)),
            min(original[0], math.ceil(right)),
            min(original[1], math.ceil(bottom)),
        )

    return Image.fromarray(padded), to_picture  # "L" from uint8, "F" from float32, as ``small`` was


def _composite_on_white(image):
    from PIL import Image

    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    gray = Image.alpha_composite(white, rgba).convert("L")
    alpha = rgba.getchannel("A")
    gray_lo, gray_hi = gray.getextrema()
    alpha_lo, alpha_hi = alpha.getextrema()
    if gray_hi - gray_lo < 0.1 * PIXEL_MAX <= alpha_hi - alpha_lo:
        # Light strokes on a transparent sheet vanish on white: the alpha is the drawing.
        return alpha.point(lambda a: 255 - a)
    return gray


def _wide_int_to_gray(image):
    import numpy as np
    from PIL import Image

    pixels = np.asarray(image)
    if pixels.dtype.kind not in "iu":
        pixels = np.asarray(image.convert("I"))
    low, high = (int(pixels.min()), int(pixels.max())) if pixels.size else (0, 0)
    if image.mode.startswith("I;16") or (0 <= low and high <= 65535 and high > 255):
        full_scale = 65535.0
    elif 0 <= low and high <= 255:
        full_scale = 255.0
    else:  # 32-bit data of unknown range: stretch what is there
        pixels = pixels.astype(np.float64) - low
        full_scale = float(max(high - low, 1))
    scaled = pixels.astype(np.float32) * np.float32(PIXEL_MAX / full_scale)
    return Image.fromarray(np.ascontiguousarray(scaled, dtype=np.float32), mode="F")


def _float_to_gray(image):
    import numpy as np
    from PIL import Image

    pixels = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if pixels.size and pixels.max() <= 1.0 and pixels.min() >= 0.0:
        pixels = pixels * np.float32(PIXEL_MAX)  # a [0, 1] float image
    return Image.fromarray(np.clip(pixels, 0, PIXEL_MAX).astype(np.float32), mode="F")


def as_array(gray):
    """A grey Pillow image as float32 in [0, 1]."""
    import numpy as np

    return np.asarray(gray, dtype=np.float32) / np.float32(PIXEL_MAX)


def shrunk(gray, max_side: int):
    """``gray`` with its long side at most ``max_side``, area-averaged (antialiased)."""
    from PIL import Image

    width, height = gray.size
    scale = max_side / max(width, height)
    if scale >= 1:
        return gray
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return gray.resize(size, Image.BOX)
