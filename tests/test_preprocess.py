"""Turning people's pictures into MNIST-style 28×28 digits (digitnet.pictures, page, digit).

Every picture here is made by the test: digits drawn large with tests/synth.py (or
plain strokes), then inverted, moved off-centre, tinted, noised, saved in each mode.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from digitnet.digit import FIT_SIZE, image_to_digit, prepare_image
from digitnet.errors import DigitnetError
from digitnet.pictures import MAX_PIXELS, load_image
from digitnet.preprocess import to_model_input

from synth import render_digit

BLANK = "no ink found — is the page blank?"


# --------------------------------------------------------------------------- helpers


def big_digit(digit: int, seed: int = 0, canvas: int = 280) -> np.ndarray:
    """A synthetic digit drawn on a ``canvas``-pixel square: bright ink on black, uint8."""
    return render_digit(digit, np.random.default_rng(seed), canvas=canvas)


def on_paper(ink: np.ndarray) -> np.ndarray:
    """Bright-on-black ink as dark ink on white paper."""
    return 255 - ink


def placed(ink: np.ndarray, size, at, *, background: int = 0) -> np.ndarray:
    """``ink`` pasted into a ``size`` (h, w) canvas with its top-left corner ``at`` (y, x)."""
    canvas = np.full(size, background, dtype=np.uint8)
    y, x = at
    canvas[y : y + ink.shape[0], x : x + ink.shape[1]] = ink
    return canvas


def centre_of_mass(image) -> tuple[float, float]:
    image = np.asarray(image, dtype=np.float64)
    rows, cols = np.indices(image.shape)
    mass = image.sum()
    return float((rows * image).sum() / mass), float((cols * image).sum() / mass)


def ink_box(image, level: int = 0) -> tuple[int, int]:
    """(height, width) of the pixels above ``level``."""
    rows = np.nonzero((np.asarray(image) > level).any(axis=1))[0]
    cols = np.nonzero((np.asarray(image) > level).any(axis=0))[0]
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def mean_difference(a, b) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).mean())


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


@pytest.fixture(scope="module")
def reference():
    """A "3" on white paper and its preparation: the baseline the variations are compared with."""
    paper = on_paper(big_digit(3, seed=7))
    return paper, prepare_image(Image.fromarray(paper))


# --------------------------------------------------------------------------- the one pixel function


def test_to_model_input_scales_uint8_to_unit_floats():
    images = np.array([[[0, 255] * 14] * 28], dtype=np.uint8)
    x = to_model_input(images)
    assert x.dtype == np.float32 and x.shape == (1, 28, 28)
    assert x.min() == 0.0 and x.max() == 1.0
    assert to_model_input(images[0]).shape == (1, 28, 28)
    with pytest.raises(ValueError):
        to_model_input(np.zeros((2, 20, 20), dtype=np.uint8))


def test_prepared_digit_feeds_to_model_input_like_training_data(reference):
    _, prepared = reference
    assert prepared.dtype == np.uint8 and prepared.shape == (28, 28)
    x = to_model_input(prepared)
    assert x.shape == (1, 28, 28) and 0.0 <= x.min() and x.max() == 1.0


# --------------------------------------------------------------------------- MNIST geometry


@pytest.mark.parametrize("digit", range(10))
def test_centre_of_mass_lands_at_the_centre(digit):
    ink = big_digit(digit, seed=digit, canvas=200)
    page = placed(on_paper(ink), (500, 700), (280, 20), background=255)  # bottom-left corner
    prepared = prepare_image(Image.fromarray(page))
    row, col = centre_of_mass(prepared)
    assert abs(row - 14) <= 1 and abs(col - 14) <= 1, (row, col)


@pytest.mark.parametrize("digit", [0, 2, 5, 8])
def test_long_side_of_the_ink_is_twenty_pixels(digit):
    prepared = prepare_image(Image.fromarray(on_paper(big_digit(digit, seed=3))))
    assert max(ink_box(prepared)) == FIT_SIZE


def test_tall_thin_stroke_stays_tall_and_thin():
    page = np.full((600, 400), 255, dtype=np.uint8)
    page[100:460, 180:216] = 0  # 360 × 36: ten times taller than wide
    prepared = prepare_image(Image.fromarray(page))
    height, width = ink_box(prepared)
    assert height == FIT_SIZE
    assert 1 <= width <= 4
    # …and a wide short bar stays wide.
    prepared = prepare_image(Image.fromarray(np.ascontiguousarray(page.T)))
    height, width = ink_box(prepared)
    assert width == FIT_SIZE and height <= 4


def test_aspect_ratio_of_a_rectangle_is_kept():
    page = Image.new("L", (500, 500), 255)
    ImageDraw.Draw(page).rectangle((150, 100, 299, 399), outline=0, width=24)  # 300 tall, 150 wide
    height, width = ink_box(prepare_image(page), level=64)
    assert height == FIT_SIZE and 9 <= width <= 11


def test_same_digit_at_any_size_gives_nearly_the_same_image():
    small = prepare_image(Image.fromarray(on_paper(big_digit(4, seed=11, canvas=56))))
    large = prepare_image(Image.fromarray(on_paper(big_digit(4, seed=11, canvas=560))))
    assert np.corrcoef(small.ravel(), large.ravel())[0, 1] > 0.85


def test_mnist_sized_bright_on_black_input_is_kept_as_it_is_drawn():
    ink = big_digit(6, seed=5, canvas=28)
    prepared = prepare_image(Image.fromarray(ink))
    assert np.corrcoef(prepared.ravel(), prepare_image(Image.fromarray(on_paper(ink))).ravel())[0, 1] > 0.9
    assert prepared[0].max() == 0 and prepared[:, 0].max() == 0  # the border stays black


# --------------------------------------------------------------------------- polarity and paper


def test_dark_on_light_and_light_on_dark_give_the_same_digit(reference):
    paper, prepared = reference
    inverted = prepare_image(Image.fromarray(255 - paper))
    assert mean_difference(prepared, inverted) < 2.0


def test_ink_becomes_bright_and_paper_black(reference):
    _, prepared = reference
    assert prepared.max() == 255
    assert (prepared == 0).mean() > 0.6  # the paper is gone, not grey
    assert prepared[:2].max() == 0 and prepared[-2:].max() == 0


def test_tinted_noisy_unevenly_lit_paper_is_suppressed(reference):
    paper, prepared = reference
    rng = np.random.default_rng(0)
    height, width = 480, 640
    ys, xs = np.mgrid[0:height, 0:width]
    light = 1.0 - 0.35 * xs / width - 0.2 * ((ys / height - 0.5) ** 2 + (xs / width - 0.5) ** 2)
    ink = placed(255 - paper, (height, width), (150, 300)).astype(np.float64) / 255
    cream = np.array([245.0, 235.0, 200.0])
    blue_ink = np.array([20.0, 30.0, 120.0])
    rgb = (cream * (1 - ink[..., None]) + blue_ink * ink[..., None]) * light[..., None]
    rgb += rng.normal(0, 10, rgb.shape)
    for y, x in [(30, 40), (400, 100), (60, 600), (450, 620)]:
        rgb[y : y + 4, x : x + 4] = 90  # specks of dirt away from the digit
    photo = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), mode="RGB")
    result = prepare_image(photo)
    assert mean_difference(result, prepared) < 8
    assert np.corrcoef(result.ravel(), prepared.ravel())[0, 1] > 0.93
    assert (result[:3] == 0).all() and (result[-3:] == 0).all()  # no speck or grey paper left


def test_faint_pencil_under_a_vignette_is_read_as_dark_ink(reference):
    # Darker corners than the page's centre must not pass for "light ink on dark paper".
    paper, prepared = reference
    height, width = 360, 590
    ys, xs = np.mgrid[0:height, 0:width]
    light = 0.8 - 0.5 * ((ys / height - 0.5) ** 2 + (xs / width - 0.5) ** 2)
    ink = placed(255 - paper, (height, width), (40, 200)).astype(np.float64) / 255
    page = light * (1 - 0.35 * ink) + np.random.default_rng(2).normal(0, 0.01, light.shape)
    result = prepare_image(Image.fromarray(np.clip(page * 255, 0, 255).astype(np.uint8)))
    assert np.corrcoef(result.ravel(), prepared.ravel())[0, 1] > 0.93


def test_marker_digit_covering_much_of_the_page_is_still_dark_ink():
    # Thick strokes over a third of the page: the border and the darker half are partly ink.
    page = Image.new("L", (340, 340), 235)
    ImageDraw.Draw(page).ellipse((40, 30, 300, 320), outline=60, width=90)
    page = np.asarray(page, dtype=np.float64) + np.random.default_rng(3).normal(0, 4, (340, 340))
    dark_on_light = np.clip(page, 0, 255).astype(np.uint8)
    result = prepare_image(Image.fromarray(dark_on_light))
    assert mean_difference(result, prepare_image(Image.fromarray(255 - dark_on_light))) < 2
    assert result[14, 14] == 0 and result[14, 5] > 128  # a ring: the hole is paper, the ring is ink


def test_digit_flush_against_the_edges_of_an_odd_sized_photo(reference):
    paper, prepared = reference
    for size, at in (((2999, 4001), (2999 - 280, 4001 - 280)), ((1001, 777), (0, 0))):
        result = prepare_image(Image.fromarray(placed(paper, size, at, background=255)))
        assert mean_difference(result, prepared) < 3


def test_specks_far_from_the_digit_do_not_move_or_shrink_it(reference):
    paper, prepared = reference
    page = placed(paper, (700, 700), (200, 200), background=255)
    for y, x in [(10, 10), (20, 650), (680, 30), (600, 640), (100, 400)]:
        page[y : y + 6, x : x + 6] = 0
    assert mean_difference(prepare_image(Image.fromarray(page)), prepared) < 3


@pytest.mark.parametrize("paper_kind", ["lined", "squared"])
def test_ruled_and_squared_paper_lines_are_not_the_digit(reference, paper_kind):
    paper, prepared = reference
    page = placed(paper, (600, 500), (250, 120), background=255).astype(np.float64)
    rules = np.zeros(page.shape, dtype=bool)
    rules[10::32] = True
    if paper_kind == "squared":
        rules[:, 10::32] = True
    page[rules] = np.minimum(page[rules], 150)  # grey-blue lines, lighter than the ink
    result = prepare_image(Image.fromarray(page.astype(np.uint8)))
    assert np.corrcoef(result.ravel(), prepared.ravel())[0, 1] > 0.9


def test_one_long_stroke_filling_the_picture_is_kept():
    page = np.full((300, 200), 255, dtype=np.uint8)
    page[:, 90:104] = 0  # a "1" from top to bottom: one line, not ruled paper
    height, width = ink_box(prepare_image(Image.fromarray(page)), level=64)
    assert height == FIT_SIZE and width <= 3


def test_thin_stroke_of_a_fine_pen_is_thickened_towards_mnist():
    page = Image.new("L", (500, 500), 255)
    ImageDraw.Draw(page).ellipse((150, 80, 330, 420), outline=0, width=2)  # a 0 drawn with a fine pen
    prepared = prepare_image(page)
    assert (prepared > 128).sum() >= 40  # not a faint, broken outline
    assert prepared[14, 14] == 0  # …and the hole stays open


def test_blank_pages_are_refused():
    rng = np.random.default_rng(1)
    white = np.full((300, 400), 255, dtype=np.uint8)
    noisy = np.clip(rng.normal(235, 6, (300, 400)), 0, 255).astype(np.uint8)
    ys, xs = np.mgrid[0:300, 0:400]
    shadowed = (250 - 90 * xs / 400 - 40 * ys / 300).astype(np.uint8)
    for page in (white, noisy, shadowed, np.zeros((50, 50), dtype=np.uint8), np.full((1, 1), 128, dtype=np.uint8)):
        with pytest.raises(DigitnetError, match=BLANK):
            prepare_image(Image.fromarray(page), name="page.png")


# --------------------------------------------------------------------------- sizes and canvases


def test_digit_in_a_corner_of_a_huge_canvas(reference):
    paper, prepared = reference
    page = placed(paper, (3000, 4000), (2600, 3650), background=255)
    assert mean_difference(prepare_image(Image.fromarray(page)), prepared) < 3


def test_small_digit_on_a_large_photo_is_cut_out_at_full_resolution():
    ink = big_digit(2, seed=4, canvas=120)
    page = placed(on_paper(ink), (2400, 3200), (1100, 1500), background=255)
    direct = prepare_image(Image.fromarray(on_paper(ink)))
    assert mean_difference(prepare_image(Image.fromarray(page)), direct) < 6


# --------------------------------------------------------------------------- file modes and formats


def _modes(paper: np.ndarray) -> dict:
    gray = Image.fromarray(paper)
    rgb = gray.convert("RGB")
    transparent = np.zeros(paper.shape + (4,), dtype=np.uint8)
    transparent[..., 3] = 255 - paper  # black strokes, the paper fully transparent
    light_strokes = np.full(paper.shape + (4,), 255, dtype=np.uint8)
    light_strokes[..., 3] = 255 - paper  # white strokes on a transparent sheet
    palette_with_transparency = gray.convert("P")
    palette_with_transparency.info["transparency"] = 255
    return {
        "L": gray,
        "RGB": rgb,
        "RGBA": rgb.convert("RGBA"),
        "RGBA transparent paper": Image.fromarray(transparent, mode="RGBA"),
        "RGBA light strokes": Image.fromarray(light_strokes, mode="RGBA"),
        "LA": gray.convert("LA"),
        "P": rgb.quantize(64),
        "P with transparency": palette_with_transparency,
        "I;16": Image.fromarray(paper.astype(np.uint16) * 257),
        "I": Image.fromarray(paper.astype(np.int32) * 257, mode="I"),
        "F": Image.fromarray(paper.astype(np.float32) / 255, mode="F"),
        "1": gray.point(lambda v: 255 if v > 128 else 0).convert("1"),
        "CMYK": rgb.convert("CMYK"),
    }


@pytest.mark.parametrize(
    "mode",
    [
        "L",
        "RGB",
        "RGBA",
        "RGBA transparent paper",
        "RGBA light strokes",
        "LA",
        "P",
        "P with transparency",
        "I;16",
        "I",
        "F",
        "1",
        "CMYK",
    ],
)
def test_every_image_mode_gives_the_same_digit(reference, mode):
    paper, prepared = reference
    result = prepare_image(_modes(paper)[mode])
    if mode == "1":  # thresholded to black and white: the same shape with harder edges
        assert np.corrcoef(result.ravel(), prepared.ravel())[0, 1] > 0.9
    else:
        assert mean_difference(result, prepared) < 2


def test_sixteen_bit_grey_is_scaled_not_clipped(reference):
    paper, prepared = reference
    # Ink at 2000 and paper at 60000 of 65535: converting to 8 bits by clipping would lose it all.
    wide = (2000 + (paper.astype(np.float64) / 255) * 58000).astype(np.uint16)
    data = encoded(Image.fromarray(wide), "PNG")
    image = load_image(data)
    assert image.mode.startswith("I")
    assert mean_difference(prepare_image(image), prepared) < 2


@pytest.mark.parametrize(
    "fmt, options, tolerance",
    [
        ("PNG", {}, 1),
        ("JPEG", {"quality": 75}, 4),
        ("BMP", {}, 1),
        ("GIF", {}, 2),
        ("TIFF", {}, 1),
        ("WEBP", {"quality": 80}, 4),
    ],
)
def test_file_formats(reference, tmp_path, fmt, options, tolerance):
    paper, prepared = reference
    path = tmp_path / f"three.{fmt.lower()}"
    Image.fromarray(paper).convert("RGB").save(path, fmt, **options)
    assert mean_difference(image_to_digit(path), prepared) < tolerance


def test_animated_gif_uses_its_first_frame(tmp_path):
    frames = [Image.fromarray(on_paper(big_digit(d, seed=d, canvas=140))).convert("P") for d in (1, 7, 4)]
    path = tmp_path / "animated.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    first = prepare_image(frames[0])
    assert mean_difference(image_to_digit(path), first) < 1


def test_exif_orientation_of_phone_photos_is_applied(tmp_path):
    page = np.full((200, 400), 255, dtype=np.uint8)  # stored landscape…
    page[90:110, 50:350] = 0
    exif = Image.Exif()
    exif[0x0112] = 6  # …to be shown rotated 90°: portrait, the bar vertical
    path = tmp_path / "photo.jpg"
    Image.fromarray(page).save(path, "JPEG", exif=exif.tobytes())
    image = load_image(path)
    assert image.size == (200, 400)
    height, width = ink_box(prepare_image(image), level=64)
    assert height == FIT_SIZE and width <= 4


# --------------------------------------------------------------------------- files that are not usable pictures


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and IHDR declaring ``width``×``height``, no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def _one_line_error(source, match: str, name: str | None = None):
    with pytest.raises(DigitnetError, match=match) as caught:
        image_to_digit(source) if name is None else image_to_digit(source, name=name)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("shopping list: eggs, milk\n")
    message = _one_line_error(path, "is not an image")
    assert message.startswith(str(path))


def test_empty_file_and_empty_bytes(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    _one_line_error(path, f"{path}: is empty")
    _one_line_error(b"", "image data: is empty")


def test_missing_file_and_directory(tmp_path):
    _one_line_error(tmp_path / "nowhere.png", "no such file")
    _one_line_error(tmp_path, "is a directory, not an image")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP"])
def test_truncated_files(reference, tmp_path, fmt):
    paper, _ = reference
    data = encoded(Image.fromarray(paper).convert("RGB" if fmt == "JPEG" else "L"), fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    message = _one_line_error(path, "damaged or truncated|is not an image")
    assert message.startswith(str(path))


@pytest.mark.parametrize("side", [7000, 20_000, 100_000])  # over our limit; over Pillow's; over twice Pillow's
def test_decompression_bombs_are_refused_before_decoding(tmp_path, side):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(side, side))
    message = _one_line_error(path, "megapixel")
    assert str(path) in message
    assert side * side > MAX_PIXELS


def test_pillow_errors_never_escape():
    garbage = [b"\x89PNG\r\n\x1a\n" + bytes(40), b"GIF89a" + bytes(20), b"BM" + bytes(60), b"\xff\xd8\xff" + bytes(30)]
    for data in garbage:
        with pytest.raises(DigitnetError):
            image_to_digit(data)


# --------------------------------------------------------------------------- any picture at all


MODES = ["L", "RGB", "RGBA", "LA", "P", "1", "I;16", "I", "F"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    width=st.one_of(st.integers(1, 64), st.integers(1, 1500)),
    height=st.one_of(st.integers(1, 64), st.integers(1, 1500)),
    mode=st.sampled_from(MODES),
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(["noise", "flat", "digit", "stripes"]),
)
def test_any_picture_gives_a_digit_or_the_clear_error(width, height, mode, seed, kind):
    rng = np.random.default_rng(seed)
    if kind == "noise":
        pixels = rng.integers(0, 256, (height, width), dtype=np.uint8)
    elif kind == "flat":
        pixels = np.full((height, width), rng.integers(0, 256), dtype=np.uint8)
    elif kind == "stripes":
        pixels = ((np.arange(width) // max(1, rng.integers(1, 20))) % 2 * 255).astype(np.uint8)[None].repeat(height, 0)
    else:
        side = max(28, min(width, height))
        digit = on_paper(big_digit(int(rng.integers(0, 10)), seed=seed % 1000, canvas=side))
        pixels = np.asarray(Image.fromarray(digit).resize((width, height)))
    image = (
        Image.fromarray(pixels).convert("RGB").convert(mode) if mode not in ("I;16", "I", "F") else _wide(pixels, mode)
    )
    try:
        result = prepare_image(image)
    except DigitnetError as exc:
        assert "\n" not in str(exc)
        return
    assert result.shape == (28, 28) and result.dtype == np.uint8
    x = to_model_input(result)
    assert 0.0 <= x.min() and x.max() <= 1.0


def _wide(pixels, mode):
    if mode == "I;16":
        return Image.fromarray(pixels.astype(np.uint16) * 257)
    if mode == "I":
        return Image.fromarray(pixels.astype(np.int32) * 1000, mode="I")
    return Image.fromarray(pixels.astype(np.float32), mode="F")
