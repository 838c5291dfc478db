"""Small MNIST-like data the tests make themselves (no download, no ../shared).

Digits are drawn with Pillow's built-in font at random sizes, offsets, slants and
stroke widths, then blurred and noised a little: varied enough that a network has
to learn, small enough that training on a few hundred takes a second or two.  They
stay legible (a 2-pixel outline at this size fills 6, 8 and 9 into blobs), so a small
mlp reaches 80–90% test accuracy in 3 epochs of batch 32: "training learns" is testable.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from digitnet.data import IDX_NAMES
from digitnet.idx import write_idx

# render_digit's canvas is faintly noisy all over; ink is what stands above this level.
SYNTH_NOISE = 60


def render_digit(digit: int, rng: np.random.Generator, *, canvas: int = 28) -> np.ndarray:
    """One digit as uint8 (canvas, canvas): bright ink on black, roughly MNIST-sized."""
    scale = canvas / 28
    font = ImageFont.load_default(size=int(rng.integers(18, 24) * scale))
    big = Image.new("L", (canvas * 2, canvas * 2), 0)
    draw = ImageDraw.Draw(big)
    centre = (canvas + rng.normal(0, 0.8 * scale), canvas + rng.normal(0, 0.8 * scale))
    draw.text(
        centre,
        str(digit),
        fill=255,
        font=font,
        anchor="mm",
        stroke_width=int(rng.integers(0, 2) * scale),
        stroke_fill=255,
    )
    big = big.rotate(float(rng.normal(0, 8)), resample=Image.BILINEAR, center=centre)
    shear = float(rng.normal(0, 0.12))
    big = big.transform(big.size, Image.AFFINE, (1, shear, -shear * canvas, 0, 1, 0), resample=Image.BILINEAR)
    img = big.crop((canvas // 2, canvas // 2, canvas // 2 + canvas, canvas // 2 + canvas))
    img = img.filter(ImageFilter.GaussianBlur(0.5 * scale))
    pixels = np.asarray(img, dtype=np.float32) + rng.normal(0, 6, (canvas, canvas))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def make_digits(n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` synthetic digits (uint8 (n, 28, 28)) with balanced labels (uint8 (n,))."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 10).astype(np.uint8)
    rng.shuffle(labels)
    images = np.stack([render_digit(int(d), rng) for d in labels])
    return images, labels


def write_idx_folder(folder: Path, train, test, *, gzipped: bool = True) -> Path:
    """Write (images, labels) train and test pairs as the four canonical IDX files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gzipped else ""
    for split, (images, labels) in (("train", train), ("test", test)):
        write_idx(folder / (IDX_NAMES[(split, "images")][0] + suffix), images)
        write_idx(folder / (IDX_NAMES[(split, "labels")][0] + suffix), labels)
    return folder


def write_npz(path: Path, train, test) -> Path:
    np.savez_compressed(path, x_train=train[0], y_train=train[1], x_test=test[0], y_test=test[1])
    return Path(path)
