"""Digits "written on paper": MNIST-style strokes turned into photo-like pictures.

Used by the tests (small numbers of pictures, any 28×28 digit as the stroke source)
and, run as a script, to measure how well `digitnet predict` reads such pictures:

    python tests/paper_digits.py make /tmp/paper --count 1000 --start 9000 --seed 2
    digitnet predict /tmp/paper --json --model model.keras > /tmp/paper.json
    python tests/paper_digits.py score /tmp/paper.json
    python tests/paper_digits.py make /tmp/drawn --drawn ...   (digits drawn with pen strokes)

Each picture takes one MNIST test digit (bundled with digitnet), scales it up to a
60–480 px digit, re-inks it with a thinner or thicker pen, tilts it a little, and
puts it off-centre on a 200–600 px sheet: tinted paper, uneven light, noise, camera
blur, a few specks of dirt, sometimes light chalk on a dark board; saved as PNG,
JPEG, RGBA (opaque or transparent), palette, grey, 16-bit grey, GIF or BMP.  The
label is in the name: ``09012_d7.jpg``.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

FORMATS = ("png", "jpeg", "rgba", "rgba-transparent", "palette", "gray", "gray16", "gif", "bmp")
FORMAT_WEIGHTS = (0.2, 0.3, 0.08, 0.07, 0.1, 0.1, 0.05, 0.05, 0.05)


def ink_strokes(digit28, rng, height: int) -> np.ndarray:
    """A 28×28 digit (bright ink) as a crisp float ink mask in [0, 1] about ``height`` px tall."""
    side = max(28, int(round(height * 28 / 20)))  # MNIST's digit spans 20 of its 28 pixels
    up = Image.fromarray(digit28.astype(np.float32) / 255.0, mode="F").resize((side, side), Image.BICUBIC)
    up = np.clip(np.asarray(up, dtype=np.float32), 0, 1)
    level = rng.uniform(0.3, 0.6)  # where the pen's edge falls: lower is a broader pen
    soft = max(0.02, 0.5 / max(1.0, height / 28))
    ink = np.clip((up - level) / soft + 0.5, 0, 1)
    change = rng.uniform(-0.06, 0.05) * height  # a finer or a broader pen than MNIST's
    size = 2 * int(abs(change) / 2) + 1
    if size >= 3:
        pil = Image.fromarray(ink, mode="F")
        if change > 0:
            ink = np.asarray(pil.filter(ImageFilter.MaxFilter(size)), dtype=np.float32)
        else:
            thinner = np.asarray(pil.filter(ImageFilter.MinFilter(size)), dtype=np.float32)
            if thinner.sum() > 0.25 * ink.sum():  # never erase the digit
                ink = thinner
    return ink


def on_paper(digit28, rng, *, canvas=None) -> Image.Image:
    """One photo-like RGB picture of the digit on a sheet (ink, paper and light drawn at random)."""
    width, height = canvas or (int(rng.integers(200, 601)), int(rng.integers(200, 601)))
    digit_height = int(rng.uniform(0.3, 0.8) * min(width, height))
    return photo_of(ink_strokes(digit28, rng, digit_height), rng, width, height)


def drawn_on_paper(digit: int, rng, *, canvas=None, styles=None) -> Image.Image:
    """Like on_paper, but the digit is drawn here with pen strokes, not taken from MNIST."""
    width, height = canvas or (int(rng.integers(200, 601)), int(rng.integers(200, 601)))
    digit_height = int(rng.uniform(0.3, 0.8) * min(width, height))
    return photo_of(drawn_strokes(digit, rng, digit_height, styles=styles), rng, width, height)


def photo_of(ink, rng, width: int, height: int) -> Image.Image:
    """An ink mask (float, 1 = full ink) tilted, placed off-centre on a photographed sheet."""
    ink_img = Image.fromarray(ink, mode="F").rotate(float(rng.normal(0, 5)), resample=Image.BILINEAR, expand=True)
    ink = np.clip(np.asarray(ink_img, dtype=np.float32), 0, 1)
    ink = cropped_to_ink(ink)
    if ink.shape[0] > height or ink.shape[1] > width:
        scale = min(height / ink.shape[0], width / ink.shape[1]) * 0.95
        ink = np.asarray(
            Image.fromarray(ink, mode="F").resize(
                (max(1, int(ink.shape[1] * scale)), max(1, int(ink.shape[0] * scale))), Image.BILINEAR
            )
        )
    sheet = np.zeros((height, width), dtype=np.float32)
    top = int(rng.integers(0, height - ink.shape[0] + 1))
    left = int(rng.integers(0, width - ink.shape[1] + 1))
    sheet[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    sheet = np.maximum(sheet, _specks(rng, height, width))

    chalkboard = rng.random() < 0.1
    if chalkboard:
        paper = np.array([rng.uniform(20, 70), rng.uniform(30, 80), rng.uniform(20, 60)], dtype=np.float32)
        pen = np.array([rng.uniform(200, 255)] * 3, dtype=np.float32)
    else:
        paper = np.float32(rng.uniform(215, 255)) - rng.uniform(0, 30, 3).astype(np.float32)  # tint
        pen = np.array(_pen_colour(rng), dtype=np.float32)
    strength = rng.uniform(0.6, 1.0)  # pencil to ink
    alpha = (sheet * strength)[..., None]
    light = _lighting(rng, height, width)[..., None]
    rgb = (paper * (1 - alpha) + pen * alpha) * light
    rgb += rng.normal(0, rng.uniform(2, 12), rgb.shape)
    picture = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), mode="RGB")
    blur = rng.uniform(0, 1.5)
    return picture.filter(ImageFilter.GaussianBlur(blur)) if blur > 0.3 else picture


# Each digit as pen strokes in a box 0.6 wide and 1 tall (y down): a few ways of
# writing it, each a list of strokes (control points; "~" marks a stroke smoothed
# through its points).
STROKES = {
    0: [
        [
            (
                "~",
                [
                    (0.3, 0.0),
                    (0.05, 0.2),
                    (0.02, 0.55),
                    (0.15, 0.92),
                    (0.35, 1.0),
                    (0.55, 0.8),
                    (0.58, 0.4),
                    (0.5, 0.1),
                    (0.3, 0.0),
                    (0.2, 0.05),
                ],
            )
        ],
        [
            (
                "~",
                [(0.4, 0.05), (0.15, 0.1), (0.05, 0.5), (0.2, 0.95), (0.45, 0.9), (0.58, 0.5), (0.5, 0.1), (0.3, 0.02)],
            )
        ],
    ],
    1: [
        [("-", [(0.35, 0.0), (0.3, 1.0)])],
        [("-", [(0.1, 0.22), (0.38, 0.0), (0.32, 1.0)])],
        [("-", [(0.12, 0.2), (0.35, 0.0), (0.33, 1.0)]), ("-", [(0.1, 1.0), (0.55, 1.0)])],
    ],
    2: [
        [
            ("~", [(0.05, 0.25), (0.15, 0.05), (0.35, 0.0), (0.55, 0.15), (0.5, 0.4), (0.25, 0.7), (0.03, 1.0)]),
            ("-", [(0.03, 1.0), (0.6, 0.98)]),
        ],
        [
            (
                "~",
                [
                    (0.05, 0.2),
                    (0.3, 0.0),
                    (0.55, 0.2),
                    (0.45, 0.5),
                    (0.12, 0.92),
                    (0.08, 0.8),
                    (0.22, 0.8),
                    (0.38, 0.96),
                    (0.6, 0.98),
                ],
            )
        ],
    ],
    3: [
        [
            ("~", [(0.05, 0.12), (0.3, 0.0), (0.55, 0.15), (0.5, 0.35), (0.25, 0.47)]),
            ("~", [(0.25, 0.47), (0.52, 0.6), (0.58, 0.8), (0.4, 0.98), (0.12, 0.96), (0.02, 0.85)]),
        ],
        [
            ("-", [(0.05, 0.02), (0.55, 0.0), (0.25, 0.4)]),
            ("~", [(0.25, 0.4), (0.5, 0.52), (0.58, 0.78), (0.38, 0.98), (0.1, 0.95), (0.02, 0.82)]),
        ],
    ],
    4: [
        [("-", [(0.4, 0.0), (0.02, 0.65), (0.6, 0.65)]), ("-", [(0.45, 0.3), (0.45, 1.0)])],
        [("-", [(0.12, 0.0), (0.05, 0.6), (0.6, 0.58)]), ("-", [(0.48, 0.15), (0.46, 1.0)])],
    ],
    5: [
        [
            ("-", [(0.55, 0.0), (0.12, 0.0), (0.08, 0.45)]),
            ("~", [(0.08, 0.45), (0.3, 0.38), (0.52, 0.5), (0.56, 0.75), (0.38, 0.97), (0.15, 0.97), (0.02, 0.85)]),
        ],
        [
            (
                "~",
                [
                    (0.12, 0.02),
                    (0.08, 0.45),
                    (0.3, 0.38),
                    (0.52, 0.5),
                    (0.56, 0.75),
                    (0.38, 0.97),
                    (0.15, 0.97),
                    (0.02, 0.85),
                ],
            ),
            ("-", [(0.12, 0.02), (0.58, 0.0)]),
        ],
    ],
    6: [
        [
            (
                "~",
                [
                    (0.5, 0.02),
                    (0.25, 0.2),
                    (0.08, 0.55),
                    (0.1, 0.85),
                    (0.3, 1.0),
                    (0.5, 0.88),
                    (0.52, 0.65),
                    (0.3, 0.52),
                    (0.1, 0.65),
                ],
            )
        ],
        [
            (
                "~",
                [
                    (0.45, 0.0),
                    (0.2, 0.3),
                    (0.1, 0.6),
                    (0.15, 0.9),
                    (0.35, 0.98),
                    (0.55, 0.8),
                    (0.45, 0.55),
                    (0.2, 0.6),
                    (0.12, 0.75),
                ],
            )
        ],
    ],
    7: [
        [("-", [(0.0, 0.02), (0.6, 0.0), (0.22, 1.0)])],
        [("-", [(0.0, 0.05), (0.6, 0.0), (0.25, 1.0)]), ("-", [(0.18, 0.52), (0.55, 0.5)])],
        [("~", [(0.02, 0.1), (0.1, 0.0), (0.58, 0.02), (0.4, 0.45), (0.3, 1.0)])],
    ],
    8: [
        [
            (
                "~",
                [
                    (0.3, 0.48),
                    (0.1, 0.3),
                    (0.12, 0.08),
                    (0.3, 0.0),
                    (0.5, 0.08),
                    (0.5, 0.3),
                    (0.3, 0.48),
                    (0.05, 0.7),
                    (0.12, 0.95),
                    (0.32, 1.0),
                    (0.55, 0.9),
                    (0.55, 0.68),
                    (0.3, 0.48),
                ],
            )
        ],
        [
            (
                "~",
                [
                    (0.5, 0.1),
                    (0.3, 0.0),
                    (0.1, 0.12),
                    (0.2, 0.35),
                    (0.5, 0.6),
                    (0.52, 0.9),
                    (0.3, 1.0),
                    (0.08, 0.88),
                    (0.12, 0.62),
                    (0.42, 0.35),
                    (0.5, 0.12),
                ],
            )
        ],
    ],
    9: [
        [
            ("~", [(0.55, 0.25), (0.4, 0.02), (0.15, 0.05), (0.05, 0.3), (0.25, 0.5), (0.5, 0.4), (0.55, 0.25)]),
            ("~", [(0.55, 0.25), (0.52, 0.6), (0.45, 1.0)]),
        ],
        [
            ("~", [(0.55, 0.2), (0.35, 0.0), (0.1, 0.1), (0.1, 0.38), (0.35, 0.45), (0.55, 0.3)]),
            ("-", [(0.55, 0.05), (0.55, 1.0)]),
        ],
    ],
}


# Styles MNIST's writers rarely used (`make --styles`): 1s with a flag (long or short,
# straight or curved, some with a foot) and 7s with a crossbar (some with a serif).
STYLED_STROKES = {
    1: [
        [("-", [(0.05, 0.3), (0.38, 0.0), (0.33, 1.0)])],
        [("-", [(0.2, 0.12), (0.36, 0.0), (0.32, 1.0)])],
        [("~", [(0.08, 0.28), (0.25, 0.12), (0.38, 0.0)]), ("-", [(0.38, 0.0), (0.34, 1.0)])],
        [("-", [(0.05, 0.25), (0.35, 0.0), (0.35, 1.0)]), ("-", [(0.12, 1.0), (0.58, 1.0)])],
        [("-", [(0.15, 0.2), (0.4, 0.0), (0.3, 1.0)]), ("-", [(0.05, 0.98), (0.5, 1.0)])],
    ],
    7: [
        [("-", [(0.0, 0.02), (0.6, 0.0), (0.22, 1.0)]), ("-", [(0.12, 0.5), (0.55, 0.48)])],
        [("-", [(0.0, 0.15), (0.02, 0.0), (0.6, 0.02), (0.3, 1.0)]), ("-", [(0.2, 0.55), (0.58, 0.52)])],
        [("~", [(0.02, 0.05), (0.58, 0.0), (0.45, 0.35), (0.3, 1.0)]), ("-", [(0.22, 0.45), (0.6, 0.45)])],
        [("-", [(0.05, 0.05), (0.58, 0.02), (0.3, 1.0)]), ("-", [(0.25, 0.6), (0.5, 0.58)])],
    ],
}


def drawn_strokes(digit: int, rng, height: int, *, styles=None) -> np.ndarray:
    """The digit drawn with a round pen along jittered, slanted ``styles`` (STROKES): float ink mask."""
    from PIL import ImageDraw

    scale = height * 4  # drawn 4× larger, then shrunk: smooth edges
    pen = max(1, int(rng.uniform(0.03, 0.14) * scale))
    slant = rng.normal(0.12, 0.12)
    squash = rng.uniform(0.75, 1.25)
    margin = pen + int(0.2 * scale)
    size = (int(0.9 * scale * squash) + 2 * margin, scale + 2 * margin)
    canvas = Image.new("L", size, 0)
    draw = ImageDraw.Draw(canvas)
    variants = (styles or STROKES)[digit]
    for kind, points in variants[int(rng.integers(0, len(variants)))]:
        jittered = [(x + rng.normal(0, 0.035), y + rng.normal(0, 0.035)) for x, y in points]
        path = _smooth(jittered) if kind == "~" else jittered
        pixels = [(margin + (x * squash + slant * (1 - y)) * scale, margin + y * scale) for x, y in path]
        draw.line(pixels, fill=255, width=pen, joint="curve")
        for x, y in (pixels[0], pixels[-1]):
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=255)
    small = canvas.resize((max(1, size[0] // 4), max(1, size[1] // 4)), Image.BOX)
    return cropped_to_ink(np.asarray(small, dtype=np.float32) / 255.0)


def _smooth(points, steps: int = 12):
    """A Catmull-Rom curve through ``points``."""
    padded = [points[0]] + list(points) + [points[-1]]
    curve = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = (np.array(p) for p in padded[i - 1 : i + 3])
        for t in np.linspace(0, 1, steps, endpoint=False):
            curve.append(
                tuple(
                    0.5
                    * (
                        (2 * p1)
                        + (-p0 + p2) * t
                        + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                        + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3
                    )
                )
            )
    curve.append(tuple(points[-1]))
    return curve


def cropped_to_ink(ink, above: float = 0.05):
    """``ink`` (bright on dark) cut to the box of its pixels brighter than ``above``."""
    rows = np.nonzero((ink > above).any(axis=1))[0]
    cols = np.nonzero((ink > above).any(axis=0))[0]
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _pen_colour(rng):
    kind = rng.integers(0, 4)
    if kind == 0:
        return (rng.uniform(0, 40),) * 3  # black
    if kind == 1:
        return (rng.uniform(10, 40), rng.uniform(20, 60), rng.uniform(90, 160))  # blue ballpoint
    if kind == 2:
        return (rng.uniform(60, 110),) * 3  # pencil grey
    return (rng.uniform(100, 170), rng.uniform(0, 40), rng.uniform(0, 40))  # red


def _lighting(rng, height, width):
    """Multiplicative light over the sheet: a gradient one way, darker corners."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * x / width + np.sin(angle) * y / height
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    radial = ((x / width - 0.5) ** 2 + (y / height - 0.5) ** 2) * 2
    return 1.0 - rng.uniform(0, 0.35) * ramp - rng.uniform(0, 0.25) * radial


def _specks(rng, height, width):
    dots = np.zeros((height, width), dtype=np.float32)
    for _ in range(int(rng.integers(0, 6))):
        r = int(rng.integers(1, 3))
        cy, cx = int(rng.integers(r, height - r)), int(rng.integers(r, width - r))
        dots[cy - r : cy + r + 1, cx - r : cx + r + 1] = rng.uniform(0.3, 0.9)
    return dots


def encode(picture: Image.Image, fmt: str, rng) -> tuple[bytes, str]:
    """Picture → (file bytes, suffix) in one of FORMATS."""
    out = io.BytesIO()
    if fmt == "png":
        picture.save(out, "PNG")
    elif fmt == "jpeg":
        picture.save(out, "JPEG", quality=int(rng.integers(50, 96)))
    elif fmt == "rgba":
        picture.convert("RGBA").save(out, "PNG")
    elif fmt == "rgba-transparent":
        # A drawing app's export: the paper transparent, the strokes opaque.
        gray = np.asarray(picture.convert("L"), dtype=np.float32)
        paper = np.median(gray)
        alpha = np.clip(np.abs(gray - paper) * 3, 0, 255).astype(np.uint8)
        rgba = np.dstack([np.asarray(picture), alpha])
        Image.fromarray(rgba, mode="RGBA").save(out, "PNG")
    elif fmt == "palette":
        picture.quantize(colors=int(rng.integers(16, 129))).save(out, "PNG")
    elif fmt == "gray":
        picture.convert("L").save(out, "PNG")
    elif fmt == "gray16":
        wide = (np.asarray(picture.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
        Image.fromarray(wide).save(out, "PNG")
    elif fmt == "gif":
        picture.convert("P", palette=Image.ADAPTIVE).save(out, "GIF")
    elif fmt == "bmp":
        picture.save(out, "BMP")
    else:
        raise ValueError(fmt)
    suffix = {"jpeg": ".jpg", "gif": ".gif", "bmp": ".bmp"}.get(fmt, ".png")
    return out.getvalue(), suffix


def make_set(
    folder: Path, *, count: int, start: int, seed: int, drawn: bool = False, styled: bool = False
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in make_pictures(count=count, start=start, seed=seed, drawn=drawn, styled=styled):
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def make_pictures(*, count: int, start: int, seed: int, drawn: bool = False, styled: bool = False):
    """Yield (file name, encoded bytes) for ``count`` pictures; ``styled``: flag 1s and crossed 7s, drawn."""
    from digitnet.data import load_dataset

    test = load_dataset(splits=("test",)).test
    rng = np.random.default_rng(seed)
    for index in range(start, start + count):
        label = int(test.labels[index])
        if styled:
            label = (1, 7)[index % 2]
            picture = drawn_on_paper(label, rng, styles=STYLED_STROKES)
        elif drawn:
            picture = drawn_on_paper(label, rng)  # MNIST's labels, our own strokes
        else:
            picture = on_paper(test.images[index], rng)
        fmt = str(rng.choice(FORMATS, p=FORMAT_WEIGHTS))
        data, suffix = encode(picture, fmt, rng)
        yield f"{index:05d}_d{label}{suffix}", data


def label_of(path) -> int:
    return int(Path(path).stem.split("_d")[-1])


def score(json_path: Path) -> dict:
    results = json.loads(Path(json_path).read_text())
    right = [r for r in results if r["digit"] == label_of(r["path"])]
    wrong = [r for r in results if r["digit"] != label_of(r["path"])]
    return {
        "predicted": len(results),
        "correct": len(right),
        "accuracy": len(right) / max(1, len(results)),
        "wrong": [r["path"] for r in wrong],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("make", help="write pictures of MNIST test digits on paper")
    make.add_argument("folder", type=Path)
    make.add_argument("--count", type=int, default=1000)
    make.add_argument("--start", type=int, default=9000, help="first MNIST test index")
    make.add_argument("--seed", type=int, default=2)
    make.add_argument("--drawn", action="store_true", help="draw the digits with pen strokes instead of taking MNIST's")
    make.add_argument(
        "--styles", action="store_true", help="draw only 1s with a flag and 7s with a crossbar (alternately)"
    )
    scorer = commands.add_parser("score", help="accuracy of a `digitnet predict --json` output on such a set")
    scorer.add_argument("json_path", type=Path)
    args = parser.parse_args(argv)
    if args.command == "make":
        paths = make_set(
            args.folder, count=args.count, start=args.start, seed=args.seed, drawn=args.drawn, styled=args.styles
        )
        print(f"wrote {len(paths)} pictures to {args.folder}")
    else:
        result = score(args.json_path)
        print(f"{result['correct']} of {result['predicted']} correct: {result['accuracy']:.2%}")
        for path in result["wrong"]:
            print("wrong:", path)


if __name__ == "__main__":
    sys.exit(main())
