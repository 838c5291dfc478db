"""Pixels as the model sees them, and people's own pictures turned into such pixels.

``to_model_input`` is the one function that turns uint8 digit images into the
network's input; training, checking, evaluation and prediction all call it, so a
model never sees pixels prepared two different ways.

``load_image`` and ``prepare_image`` turn a photo or drawing of one digit (dark ink
on light paper or the reverse, any size, off-centre, colour or grey) into a 28×28
uint8 image made the way MNIST was made: ink bright on black, paper at 0, the ink's
bounding box fitted into 20×20 keeping its aspect ratio, and the centre of mass at
the centre of the 28×28 field.
"""

from __future__ import annotations

from pathlib import Path

from .errors import DigitnetError

PIXEL_MAX = 255.0

# Refused before decoding: a 40-megapixel photo is bigger than any phone takes, and a
# "decompression bomb" (a small file declaring a gigantic canvas) is stopped here
# rather than by running out of memory.
MAX_PIXELS = 40_000_000
# Formats worth trying; Pillow's others (EPS runs Ghostscript, for one) are not needed
# for pictures of digits and are not opened at all.
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")

FRAME_SIZE = 28  # MNIST's field
FIT_SIZE = 20  # MNIST fits each digit's bounding box into 20×20
FRAME_CENTRE = 14.0  # measured: MNIST's mean centre of mass is (13.99, 14.01) in pixel indices

# Where the page is analysed (polarity, paper level, where the ink is): big enough
# for thin strokes, small enough to be quick on a 40-megapixel photo.
ANALYSIS_SIDE = 512
# The digit itself is re-cut from the full image and worked on at up to this size.
DIGIT_WORK_SIDE = 200
# The ink mask is searched for connected strokes on a grid of at most this size.
COMPONENT_GRID_SIDE = 128
# A blob smaller than this fraction of the largest is a speck of dirt or noise, not a stroke.
SPECK_FRACTION = 0.08
# ... or whose extent is below this fraction of the largest's (a speck beside a thin "1").
SPECK_EXTENT = 0.25
# Smaller pieces count only this close to the main stroke (fraction of its extent).
NEAR_FRACTION = 0.3
# A line at least this long (fraction of the page) and this thin is a rule of lined paper.
RULE_LENGTH = 0.8
RULE_THICKNESS = 0.04
# Weakest ink (paper-to-ink contrast, 0–1) that counts as something written.
MIN_INK_CONTRAST = 0.10
# How many noise standard deviations above the paper level the ink must stand out.
NOISE_SIGMAS = 5.0
# A stroke is where the ink reaches this fraction of the pen's typical strength.
STROKE_FRACTION = 0.35
# Noise floor (0–1) for comparing how far ink stands out: below it, a synthetic page is "perfectly quiet".
QUIETEST_PAPER = 0.003
# The paper's level is measured on about this many blocks along the page's long side.
PAPER_GRID = 32
# Blocks this far (or three robust deviations) from the fitted paper hold ink.
PAPER_TOLERANCE = 0.03
# MNIST's strokes are about this thick relative to the digit's long side (2·area /
# perimeter of the ink, measured on 1000 test digits upscaled ×10: median 0.088, 5th
# and 95th percentiles 0.060 and 0.138).  Thinner strokes are grown to the lower
# bound and thicker ones shrunk to the upper (continuously: a slightly different
# picture gives a slightly different digit): on a development set of pictures of
# MNIST test digits on paper this took accuracy from 95.2% to 97.3% (98.2% on the
# same digits straight from MNIST).
THIN_STROKE_RATIO = 0.08
THICK_STROKE_RATIO = 0.14
# ...measured and changed in whole pixels with the digit's long side at this size.
PEN_SCALE_SIDE = 200


def to_model_input(images):
    """Scale uint8 images (..., 28, 28) in 0–255 to float32 in [0, 1].

    A single image (28, 28) becomes a batch of one (1, 28, 28).
    """
    import numpy as np

    images = np.asarray(images)
    if images.ndim == 2:
        images = images[np.newaxis]
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"expected images of shape (N, 28, 28), got {images.shape}")
    return images.astype(np.float32) / np.float32(PIXEL_MAX)


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
        raise DigitnetError(f"{name}: declares a gigantic canvas (over {MAX_PIXELS // 1_000_000} megapixels); refused") from None
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
            f"{name}: is {width}×{height} pixels, over the {MAX_PIXELS // 1_000_000}-megapixel limit; scale it down first"
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


def _as_array(gray):
    """A grey Pillow image as float32 in [0, 1]."""
    import numpy as np

    return np.asarray(gray, dtype=np.float32) / np.float32(PIXEL_MAX)


def _shrunk(gray, max_side: int):
    """``gray`` with its long side at most ``max_side``, area-averaged (antialiased)."""
    from PIL import Image

    width, height = gray.size
    scale = max_side / max(width, height)
    if scale >= 1:
        return gray
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return gray.resize(size, Image.BOX)


# --------------------------------------------------------------------------- the page


class _Page:
    """What the analysis of the whole picture found: polarity, paper, ink levels, ink mask."""

    def __init__(self, ink_is_dark, paper, noise, ink_level, mask, mask_scale, shape):
        self.ink_is_dark = ink_is_dark
        self.paper = paper  # _Paper: the paper's level after inversion, anywhere on the page
        self.noise = noise
        self.ink_level = ink_level
        self.mask = mask  # bool grid: the strokes kept (specks removed)
        self.mask_scale = mask_scale  # analysis pixels per mask cell
        self.shape = shape  # (height, width) of the page as analysed


class _Paper:
    """The paper's level as a smooth surface: a low-degree polynomial in x and y.

    Light across a sheet (a gradient one way, darker corners) is smooth, so a surface
    fitted to the paper extrapolates to the corners and under the ink correctly,
    where local minima or medians lag behind.
    """

    def __init__(self, coefficients, degree: int, shape):
        self.coefficients = coefficients
        self.degree = degree
        self.shape = shape  # (height, width) of the page as analysed
        self.low, self.high = 0.0, 1.0

    def over(self, box, size):
        """The level at the pixel centres of ``size`` (w, h) pixels spanning ``box`` of the page."""
        import numpy as np

        left, top, right, bottom = box
        width, height = size
        xs = left + (np.arange(width, dtype=np.float32) + 0.5) * ((right - left) / width)
        ys = top + (np.arange(height, dtype=np.float32) + 0.5) * ((bottom - top) / height)
        u = 2 * xs / self.shape[1] - 1
        v = 2 * ys / self.shape[0] - 1
        level = np.zeros((height, width), dtype=np.float32)
        for coefficient, (i, j) in zip(self.coefficients, _terms(self.degree)):
            level += np.float32(coefficient) * np.outer(v**j, u**i)
        return np.clip(level, self.low, self.high)


def _terms(degree: int):
    return [(i, j) for i in range(degree + 1) for j in range(degree + 1 - i)]


def _analyse_page(gray, name: str) -> _Page:
    """Find the paper, the ink's polarity and level, and where the digit's strokes are.

    Two passes: anything clearly above the paper's noise is a candidate stroke, and
    the largest strokes (specks dropped) tell how strong this pen's ink is; then the
    strokes are found again at a fraction of that level, which keeps a faint pencil
    digit whole and leaves out smudges far weaker than its ink.
    """
    import numpy as np

    page = _as_array(_shrunk(gray, ANALYSIS_SIDE))
    ink_is_dark, ink, paper = _ink_and_paper(page)
    signal = ink - paper.over((0, 0, ink.shape[1], ink.shape[0]), (ink.shape[1], ink.shape[0]))
    noise = _noise_sigma(signal)
    smooth = _box_mean3(signal)
    clearly_ink = max(MIN_INK_CONTRAST / 2, NOISE_SIGMAS * _noise_sigma(smooth))
    mask, cell = _stroke_mask(smooth > clearly_ink)
    strokes = _cells_to_pixels(mask, cell, smooth.shape) & (smooth > clearly_ink)
    if not strokes.any():
        raise DigitnetError(f"{name}: no ink found — is the page blank?")
    ink_level = float(np.percentile(smooth[strokes], 90))
    if ink_level < MIN_INK_CONTRAST:
        raise DigitnetError(f"{name}: no ink found — is the page blank?")
    mask, cell = _stroke_mask(smooth > max(clearly_ink, STROKE_FRACTION * ink_level))
    if not mask.any():
        raise DigitnetError(f"{name}: no ink found — is the page blank?")
    return _Page(ink_is_dark, paper, noise, ink_level, mask, cell, ink.shape)


def _cells_to_pixels(mask, cell: int, shape):
    """A grid mask (one value per cell×cell block) back at pixel resolution."""
    import numpy as np

    pixels = np.repeat(np.repeat(mask, cell, axis=0), cell, axis=1)
    return pixels[: shape[0], : shape[1]]


def _ink_and_paper(page):
    """Decide the polarity: (ink is dark?, ink made bright, the paper's fitted level).

    Both readings are tried — dark ink on light paper, light ink on dark — each with
    the paper fitted under that reading.  Under the right one the paper is the
    majority of the page, level and quiet, and the ink stands far above it (in units
    of the paper's noise); under the wrong one the "ink" is the paper's own brightest
    pixels, or the fitted "paper" is a mixture of paper and ink and far from quiet.
    This holds for a vignetted photo (darker corners are not "paper darker than the
    ink") and for a marker digit covering much of the page (the border is partly ink).
    """
    import numpy as np

    best = None
    for ink_is_dark in (True, False):
        ink = 1.0 - page if ink_is_dark else page
        paper = _fit_paper(ink)
        signal = _box_mean3(ink - paper.over((0, 0, ink.shape[1], ink.shape[0]), (ink.shape[1], ink.shape[0])))
        typical = float(np.median(signal))
        spread = max(_noise_sigma(signal), QUIETEST_PAPER)
        standing_out = (float(np.percentile(signal, 99.9)) - typical) / spread
        if best is None or standing_out > best[0]:
            best = (standing_out, ink_is_dark, ink, paper)
    return best[1:]


def _fit_paper(ink) -> _Paper:
    """Fit the paper's level (ink bright) over the page, leaving the ink out.

    Medians over small blocks, then a polynomial surface fitted to them; blocks far
    from the surface (the ink) are dropped and the fit repeated.  A page too small
    to see the light change across it gets one level: its border's median.
    """
    import numpy as np

    height, width = ink.shape
    block = max(4, round(max(height, width) / PAPER_GRID))
    rows, cols = height // block, width // block
    if min(rows, cols) < 8:
        band = max(1, round(0.04 * min(height, width)))
        border = np.concatenate([ink[:band].ravel(), ink[-band:].ravel(), ink[:, :band].ravel(), ink[:, -band:].ravel()])
        paper = _Paper([float(np.median(border))], 0, ink.shape)
        return paper
    cut = ink[: rows * block, : cols * block]
    medians = np.median(cut.reshape(rows, block, cols, block).transpose(0, 2, 1, 3).reshape(rows, cols, -1), axis=2).ravel()
    ys, xs = np.mgrid[0:rows, 0:cols]
    u = (2 * (xs.ravel() + 0.5) * block / width - 1).astype(np.float64)
    v = (2 * (ys.ravel() + 0.5) * block / height - 1).astype(np.float64)
    top_degree = 3 if min(rows, cols) >= 12 else 2
    # Start from the darker half of the blocks (surely paper, even when a thick digit
    # covers much of the page), then let the surface bend more as it finds more paper.
    keep = medians <= np.median(medians)
    degree, coefficients = 0, np.array([float(np.median(medians[keep]))])
    for step in range(top_degree + 1):
        terms = _terms(step)
        if keep.sum() < 3 * len(terms):
            break
        design = np.stack([u**i * v**j for i, j in terms], axis=1)
        for _ in range(3):
            coefficients = np.linalg.lstsq(design[keep], medians[keep], rcond=None)[0]
            residual = medians - design @ coefficients
            spread = 1.4826 * float(np.median(np.abs(residual[keep])))
            # Far above: ink.  Far below: ink of the other polarity, when this reading is the wrong one.
            keep = np.abs(residual) < max(3 * spread, PAPER_TOLERANCE)
        degree = step
    paper = _Paper(coefficients, degree, ink.shape)
    paper.low, paper.high = float(medians[keep].min()), float(medians[keep].max())
    return paper


def _neighbourhood(grid, reduce):
    """``reduce`` over each cell's 3×3 neighbourhood (edges repeated)."""
    import numpy as np

    padded = np.pad(grid, 1, mode="edge")
    h, w = grid.shape
    stack = np.stack([padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)])
    return reduce(stack, axis=0)


def _noise_sigma(signal) -> float:
    """Robust standard deviation of the paper (the majority of pixels): 1.4826 × MAD."""
    import numpy as np

    centre = np.median(signal)
    return float(1.4826 * np.median(np.abs(signal - centre)))


def _box_mean3(values):
    import numpy as np

    return _neighbourhood(values, np.mean) if values.shape[0] >= 3 and values.shape[1] >= 3 else values


def _stroke_mask(binary):
    """Keep the digit's strokes; drop specks of dirt and marks away from the digit.

    Works on a grid of at most COMPONENT_GRID_SIDE cells (a cell is inked when any
    pixel in it is), which also joins strokes broken by a pixel or two.
    """
    import numpy as np

    binary = _without_ruled_lines(binary)
    height, width = binary.shape
    cell = max(1, -(-max(height, width) // COMPONENT_GRID_SIDE))
    rows, cols = -(-height // cell), -(-width // cell)
    padded = np.zeros((rows * cell, cols * cell), dtype=bool)
    padded[:height, :width] = binary
    grid = padded.reshape(rows, cell, cols, cell).any(axis=(1, 3))
    labels, blobs = _label(grid)
    if not blobs:
        return grid, cell
    # Ruled or squared paper: parallel lines across the whole page are not part of any
    # digit (one such line alone may well be a "1" filling the picture).
    rules = set()
    for direction in ("across", "down"):
        lines = [blob for blob in blobs if blob.is_rule(rows, cols, direction)]
        if len(lines) >= 2:
            rules.update(map(id, lines))
    candidates = [blob for blob in blobs if id(blob) not in rules] or blobs
    main = max(candidates, key=_Blob.area)
    keep = [number for number, blob in enumerate(blobs, start=1) if blob in candidates and _is_stroke(blob, main)]
    return np.isin(labels, keep), cell


def _without_ruled_lines(binary):
    """``binary`` without the rows and columns inked nearly end to end (ruled or squared paper).

    Only when there are several such lines: one alone may be the stroke of a "1" or a
    "7" that fills the picture.  Lines photographed at an angle are caught later, as
    long thin blobs (_Blob.is_rule).
    """
    full_rows = binary.mean(axis=1) >= RULE_LENGTH
    full_cols = binary.mean(axis=0) >= RULE_LENGTH
    if _line_count(full_rows) < 2 and _line_count(full_cols) < 2:
        return binary
    cleaned = binary.copy()
    if _line_count(full_rows) >= 2:
        cleaned[full_rows, :] = False
    if _line_count(full_cols) >= 2:
        cleaned[:, full_cols] = False
    return cleaned


def _line_count(flags) -> int:
    """How many separate runs of True: adjacent rows of one thick line count once."""
    import numpy as np

    flags = np.asarray(flags, dtype=np.int8)
    return int((np.diff(np.concatenate([[0], flags])) == 1).sum())


class _Blob:
    """One connected group of inked cells: its size and bounding box (inclusive)."""

    def __init__(self, y, x):
        self.size, self.top, self.bottom, self.left, self.right = 0, y, y, x, x

    def add(self, y, x):
        self.size += 1
        self.top, self.bottom = min(self.top, y), max(self.bottom, y)
        self.left, self.right = min(self.left, x), max(self.right, x)

    def area(self):
        return self.size

    def extent(self):
        return max(self.bottom - self.top, self.right - self.left) + 1

    def is_rule(self, rows: int, cols: int, direction: str) -> bool:
        """A thin line running ``direction`` ("across" or "down") over nearly the whole page."""
        height, width = self.bottom - self.top + 1, self.right - self.left + 1
        if direction == "across":
            return width >= RULE_LENGTH * cols and height <= max(2, RULE_THICKNESS * rows)
        return height >= RULE_LENGTH * rows and width <= max(2, RULE_THICKNESS * cols)

    def near(self, other, margin):
        return (
            self.bottom >= other.top - margin
            and self.top <= other.bottom + margin
            and self.right >= other.left - margin
            and self.left <= other.right + margin
        )


def _is_stroke(blob: _Blob, main: _Blob) -> bool:
    """The main stroke, any blob nearly as big, or a sizeable piece close to the main stroke.

    A thin "1" has little area, so a speck is recognised by its small extent as well.
    """
    if blob is main or blob.size >= 0.5 * main.size:
        return True
    sizeable = blob.size >= SPECK_FRACTION * main.size and blob.extent() >= SPECK_EXTENT * main.extent()
    return sizeable and blob.near(main, NEAR_FRACTION * main.extent())


def _label(grid):
    """8-connected components of a small boolean grid: (labels array, list of _Blob)."""
    import numpy as np

    rows, cols = grid.shape
    inked = grid.tolist()
    labels = [[0] * cols for _ in range(rows)]
    blobs = []
    for start_y, start_x in zip(*np.nonzero(grid)):
        start_y, start_x = int(start_y), int(start_x)
        if labels[start_y][start_x]:
            continue
        blob = _Blob(start_y, start_x)
        blobs.append(blob)
        number = len(blobs)
        labels[start_y][start_x] = number
        stack = [(start_y, start_x)]
        while stack:
            y, x = stack.pop()
            blob.add(y, x)
            for ny in (y - 1, y, y + 1):
                if 0 <= ny < rows:
                    row, label_row = inked[ny], labels[ny]
                    for nx in (x - 1, x, x + 1):
                        if 0 <= nx < cols and row[nx] and not label_row[nx]:
                            label_row[nx] = number
                            stack.append((ny, nx))
    return np.array(labels, dtype=np.int32).reshape(rows, cols), blobs


# --------------------------------------------------------------------------- the digit


def _digit_box(page: _Page, gray_size):
    """The kept strokes' bounding box in full-image pixels (with a cell of margin)."""
    import numpy as np

    rows = np.nonzero(page.mask.any(axis=1))[0]
    cols = np.nonzero(page.mask.any(axis=0))[0]
    cell = page.mask_scale
    height, width = page.shape
    top, bottom = max(0, (rows[0] - 1) * cell), min(height, (rows[-1] + 2) * cell)
    left, right = max(0, (cols[0] - 1) * cell), min(width, (cols[-1] + 2) * cell)
    scale_x, scale_y = gray_size[0] / width, gray_size[1] / height
    return (
        int(np.floor(left * scale_x)),
        int(np.floor(top * scale_y)),
        int(np.ceil(right * scale_x)),
        int(np.ceil(bottom * scale_y)),
    )


def _digit_ink(gray, page: _Page):
    """The digit's ink in [0, 1] (paper 0), cut from the full-resolution picture."""
    import numpy as np

    full_box = _digit_box(page, gray.size)
    crop = _shrunk(gray.crop(full_box), DIGIT_WORK_SIDE)
    size = crop.size
    ink = _as_array(crop)
    if page.ink_is_dark:
        ink = 1.0 - ink
    # The cut-out's box in page coordinates, from the whole pixels actually cut.
    scale_x, scale_y = page.shape[1] / gray.size[0], page.shape[0] / gray.size[1]
    box = (full_box[0] * scale_x, full_box[1] * scale_y, full_box[2] * scale_x, full_box[3] * scale_y)
    signal = ink - page.paper.over(box, size)
    floor = min(max(3.0 * page.noise, 0.15 * page.ink_level), 0.5 * page.ink_level)
    strength = np.clip((signal - floor) / (page.ink_level - floor), 0.0, 1.0)
    return strength * _mask_in_box(page, box, size)


def _mask_in_box(page: _Page, box, size):
    """The kept-strokes mask, grown by one cell, as soft weights over the cut-out."""
    import numpy as np
    from PIL import Image

    grown = _neighbourhood(page.mask.astype(np.float32), np.max)
    cell = page.mask_scale
    rows, cols = grown.shape
    left, top, right, bottom = box
    # Clamped: the box comes back from whole full-size pixels and may overshoot by a hair.
    box = (min(left / cell, cols), min(top / cell, rows), min(right / cell, cols), min(bottom / cell, rows))
    weights = Image.fromarray(grown.astype(np.float32), mode="F").resize(size, Image.BILINEAR, box=box)
    return np.clip(np.asarray(weights, dtype=np.float32), 0.0, 1.0)


def _tight(ink, level: float = 0.1):
    """``ink`` cut to the box of the pixels above ``level`` (None when there are none)."""
    import numpy as np

    rows = np.nonzero((ink > level).any(axis=1))[0]
    cols = np.nonzero((ink > level).any(axis=0))[0]
    if rows.size == 0:
        return None
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def stroke_ratio(ink) -> float:
    """Stroke thickness relative to the ink's long side: 2 × area / perimeter / long side."""
    import numpy as np

    solid = ink > 0.5
    area = int(solid.sum())
    if area == 0:
        return 0.0
    padded = np.pad(solid, 1)
    perimeter = int((padded[1:] != padded[:-1]).sum() + (padded[:, 1:] != padded[:, :-1]).sum())
    return 2.0 * area / perimeter / max(ink.shape)


def _at_pen_scale(ink):
    """``ink`` resampled so its long side is PEN_SCALE_SIDE pixels.

    The stroke thickness is measured and changed in whole pixels, so it is done at
    one scale whatever the picture's size.
    """
    return _with_long_side(ink, PEN_SCALE_SIDE)


def _with_long_side(ink, side: int):
    """Scale float ``ink`` so its long side is ``side`` pixels, keeping the aspect ratio (antialiased)."""
    import numpy as np
    from PIL import Image

    height, width = ink.shape
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    method = Image.BOX if scale < 1 else Image.BILINEAR
    resized = Image.fromarray(ink.astype(np.float32), mode="F").resize(size, method)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _pen_normalised(ink):
    """Strokes thinner or thicker than MNIST's usual ones brought into its range.

    A fine pen on a big digit, or a marker on a small one, would otherwise give a
    20-pixel digit fainter or bolder than nearly any the network was trained on.
    Thin strokes are grown (max filter), thick ones shrunk (min filter), by whole
    pixels of the work-size cut-out.
    """
    import numpy as np
    from PIL import Image, ImageFilter

    ratio = stroke_ratio(ink)
    if ratio <= 0 or THIN_STROKE_RATIO <= ratio <= THICK_STROKE_RATIO:
        return ink
    target = min(max(ratio, THIN_STROKE_RATIO), THICK_STROKE_RATIO)
    change = abs(target - ratio) * max(ink.shape)
    size = 2 * int(round(change / 2)) + 1
    if size < 3:
        return ink
    padded = Image.fromarray(np.pad(ink, size // 2 + 1).astype(np.float32), mode="F")
    pen = ImageFilter.MaxFilter(size) if ratio < THIN_STROKE_RATIO else ImageFilter.MinFilter(size)
    changed = np.asarray(padded.filter(pen), dtype=np.float32)
    # Never let shrinking wipe out a stroke: keep the original if most of the ink would go.
    if ratio > THICK_STROKE_RATIO and changed.sum() < 0.3 * ink.sum():
        return ink
    return changed


def _fitted(ink):
    """Scale ``ink`` so its long side is FIT_SIZE pixels, keeping the aspect ratio (antialiased)."""
    return _with_long_side(ink, FIT_SIZE)


def centred_in_frame(digit):
    """Paste a ≤20×20 float digit into 28×28 so its centre of mass sits at the centre.

    The shift is a whole number of pixels (as MNIST's was), limited so no ink leaves
    the field.
    """
    import numpy as np

    height, width = digit.shape
    mass = float(digit.sum())
    if mass <= 0:
        raise ValueError("digit has no ink")
    centre_y = float((digit.sum(axis=1) * np.arange(height)).sum() / mass)
    centre_x = float((digit.sum(axis=0) * np.arange(width)).sum() / mass)
    top = int(np.clip(round(FRAME_CENTRE - centre_y), 0, FRAME_SIZE - height))
    left = int(np.clip(round(FRAME_CENTRE - centre_x), 0, FRAME_SIZE - width))
    frame = np.zeros((FRAME_SIZE, FRAME_SIZE), dtype=np.float32)
    frame[top : top + height, left : left + width] = digit
    return frame


def prepare_image(image, *, name: str = "image"):
    """A picture of one digit → uint8 (28, 28), ink bright on black, made as MNIST was.

    Grey levels (alpha on white), polarity (ink made bright), paper removed (level
    measured across the page, so tint and uneven light go to 0), specks dropped, the
    ink's bounding box fitted into 20×20 keeping its aspect ratio, strokes much
    thinner or thicker than MNIST's brought into its range, centre of mass moved to
    the centre of 28×28.
    Raises DigitnetError "...: no ink found — is the page blank?" when there is no digit.
    """
    import numpy as np

    gray = grayscale(image)
    page = _analyse_page(gray, name)
    ink = _tight(_digit_ink(gray, page))
    if ink is None:
        raise DigitnetError(f"{name}: no ink found — is the page blank?")
    at_scale = _at_pen_scale(ink)
    normalised = _tight(_pen_normalised(at_scale), level=0.05)
    digit = _fitted(at_scale if normalised is None else normalised)
    peak = float(digit.max())
    if peak <= 0:
        raise DigitnetError(f"{name}: no ink found — is the page blank?")
    # MNIST's strokes reach full white; a faint or thin pen should too.
    digit = np.clip(digit / min(1.0, peak), 0.0, 1.0)
    return np.round(centred_in_frame(digit) * PIXEL_MAX).astype(np.uint8)


def image_to_digit(source, *, name: str | None = None):
    """load_image + prepare_image: a path or bytes → uint8 (28, 28), or DigitnetError naming it."""
    name = name or describe_source(source)
    image = load_image(source, name=name)
    try:
        return prepare_image(image, name=name)
    except DigitnetError:
        raise
    except MemoryError:
        raise DigitnetError(f"{name}: too large to process in the memory available") from None
