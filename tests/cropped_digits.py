"""Digits cropped to their ink, as data sets and scans cut them: the pictures behind the README's
"cropped to the digit" figures.

    python tests/cropped_digits.py make /tmp/cropped --count 200 --start 5100
    digitnet predict /tmp/cropped --json --model model.keras > /tmp/cropped.json
    python tests/cropped_digits.py score /tmp/cropped.json

Each MNIST test digit is cut to the box of its ink (every pixel above 0) and written seven ways:

- ``tightdark``:  dark ink on white, the crop itself (PNG);
- ``tightlight``: light ink on black, as MNIST stores it (PNG);
- ``tightbig``:   dark on white, scaled up 4× (bilinear) and saved as JPEG, like a scan cut to the digit;
- ``margin1``:    dark on white with one pixel of paper all round;
- ``usps``:       light on black, squeezed into 16×16 (bilinear), as USPS-like sets store digits;
- ``binary16``:   black on white, 16×16 and thresholded to two levels, as Semeion-like sets do;
- ``bluepen``:    blue ink on white, the crop itself, in colour (RGB PNG).

The label is in the name: ``tightdark_05100_d6.png``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from paper_digits import cropped_to_ink

KINDS = ("tightdark", "tightlight", "tightbig", "margin1", "usps", "binary16", "bluepen")


def cropped_versions(image: np.ndarray) -> dict:
    """The seven pictures of one 28×28 MNIST digit (bright ink on black), by kind."""
    ink = cropped_to_ink(image, above=0)
    bilinear = Image.Resampling.BILINEAR
    small = np.asarray(Image.fromarray(ink).resize((16, 16), bilinear))
    return {
        "tightdark": Image.fromarray(255 - ink),
        "tightlight": Image.fromarray(ink),
        "tightbig": Image.fromarray(255 - ink).resize((ink.shape[1] * 4, ink.shape[0] * 4), bilinear),
        "margin1": Image.fromarray(np.pad(255 - ink, 1, constant_values=255)),
        "usps": Image.fromarray(small),
        "binary16": Image.fromarray(np.where(small > 100, 0, 255).astype(np.uint8)),
        "bluepen": Image.fromarray(blue_pen(ink)),
    }


def blue_pen(ink: np.ndarray) -> np.ndarray:
    """Bright ink on black as blue ink on white paper (RGB uint8)."""
    return np.stack([255 - ink * 0.85, 255 - ink * 0.6, 255 - ink * 0.2], axis=-1).astype(np.uint8)


def make_set(folder: Path, *, count: int, start: int) -> int:
    from digitnet.data import load_dataset

    test = load_dataset(splits=("test",)).test
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(start, start + count):
        for kind, picture in cropped_versions(test.images[index]).items():
            suffix = "jpg" if kind == "tightbig" else "png"
            picture.save(folder / f"{kind}_{index:05d}_d{int(test.labels[index])}.{suffix}", quality=90)
    return count * len(KINDS)


def score(json_path: Path) -> dict:
    """Per kind: pictures read as exactly their digit, of those read (the others failed)."""
    right, read = defaultdict(int), defaultdict(int)
    for row in json.loads(Path(json_path).read_text()):
        name = Path(row["path"]).name
        kind, label = name.split("_")[0], re.search(r"_d(\d)\.", name).group(1)
        read[kind] += 1
        right[kind] += row["number"] == label
    return {kind: (right[kind], read[kind]) for kind in KINDS if read[kind]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("make", help="write cropped pictures of MNIST test digits")
    make.add_argument("folder", type=Path)
    make.add_argument("--count", type=int, default=200)
    make.add_argument("--start", type=int, default=5100, help="first MNIST test index")
    scorer = commands.add_parser("score", help="per kind, digits read right by `digitnet predict --json`")
    scorer.add_argument("json_path", type=Path)
    args = parser.parse_args(argv)
    if args.command == "make":
        print(f"wrote {make_set(args.folder, count=args.count, start=args.start)} pictures to {args.folder}")
    else:
        for kind, (right, read) in score(args.json_path).items():
            print(f"{kind}: {right} right of {read} read")


if __name__ == "__main__":
    sys.exit(main())
