"""Whole numbers "written on paper": 2–6 MNIST digits in a row, photographed like paper_digits.

Used by the tests (a few pictures) and, run as a script, to measure how well
`digitnet predict` reads numbers:

    python tests/paper_numbers.py make /tmp/numbers --layout spaced --count 500 --source test --start 5000 --seed 1
    digitnet predict /tmp/numbers --json --model model.keras > /tmp/numbers.json
    python tests/paper_numbers.py score /tmp/numbers.json
    python tests/paper_numbers.py mnist /tmp/numbers --model model.keras --start 5000   (the same numbers as
        MNIST's own 28×28 digits: what a perfect preparation of the pictures could read)

Each picture takes 2–6 consecutive MNIST digits from ``--source`` (``train``, or
``test`` from ``--start``: tune on train or test < 5000, report on test ≥ 5000), scales
each to its own height (±15% around the number's), lets it sit a little above or
below the line, re-inks it with a pen of its own thickness, and writes them left to
right with gaps (``spaced``: 10–50% of the height), almost none (``close``: 2–8%, never
touching) or touching (``touching``: every neighbour's strokes meet; ``mixed`` picks
per gap).  The row is then put on paper as paper_digits does: tilt, tinted noisy
unevenly lit sheet, specks, pens, chalkboards, file modes.  The number is in the
name: ``00012_spaced_n2026.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paper_digits import FORMAT_WEIGHTS, FORMATS, cropped_to_ink, encode, ink_strokes, photo_of

LAYOUTS = ("spaced", "close", "touching", "mixed")


def number_ink(digits28, rng, layout: str, height: int) -> np.ndarray:
    """MNIST digits (bright-ink 28×28 each) written in a row ``height`` px tall: a float ink mask."""
    inks = [cropped_to_ink(ink_strokes(d, rng, max(12, int(height * rng.uniform(0.85, 1.15))))) for d in digits28]
    line = inks[0]
    for ink in inks[1:]:
        kind = layout if layout != "mixed" else str(rng.choice(("spaced", "close", "touching")))
        drop = int(rng.normal(0, 0.05) * height)  # a little above or below the line
        line = _joined(line, ink, kind, drop, height, rng)
    return line


def _joined(left, right, kind: str, drop: int, height: int, rng) -> np.ndarray:
    """``right`` written after ``left``: bottoms aligned (moved by ``drop``), at the gap ``kind`` asks for."""
    top_left = max(0, right.shape[0] - left.shape[0] - drop)
    top_right = max(0, left.shape[0] - right.shape[0] + drop)
    rows = max(top_left + left.shape[0], top_right + right.shape[0])
    if kind == "touching":
        offset = _touching_offset(left, right, top_left, top_right, rows)
    else:
        gap = rng.uniform(0.1, 0.5) if kind == "spaced" else rng.uniform(0.02, 0.08)
        offset = left.shape[1] + max(1, int(gap * height))
        offset = max(offset, _touching_offset(left, right, top_left, top_right, rows) + max(2, int(0.02 * height)))
    canvas = np.zeros((rows, max(left.shape[1], offset + right.shape[1])), dtype=np.float32)
    canvas[top_left : top_left + left.shape[0], : left.shape[1]] = left
    place = canvas[top_right : top_right + right.shape[0], offset : offset + right.shape[1]]
    np.maximum(place, right, out=place)
    return canvas


def _touching_offset(left, right, top_left, top_right, rows) -> int:
    """The largest shift of ``right`` at which its strokes meet ``left``'s (8-connected)."""
    a = np.zeros((rows, left.shape[1]), dtype=bool)
    a[top_left : top_left + left.shape[0]] = left > 0.5
    a = ndimage.binary_dilation(a, structure=np.ones((3, 3), dtype=bool))
    b = np.zeros((rows, right.shape[1]), dtype=bool)
    b[top_right : top_right + right.shape[0]] = right > 0.5
    for offset in range(left.shape[1] - 1, -1, -1):
        shared = min(left.shape[1] - offset, right.shape[1])
        if (a[:, offset : offset + shared] & b[:, :shared]).any():
            return offset
    return 0


def number_on_paper(digits28, rng, layout: str, tilt: float = 0.0):
    """One photo-like RGB picture of the number on a sheet; with ``tilt``, its line written that many
    degrees uphill or downhill (either at random), before the photo's own small tilt."""
    height = int(rng.integers(40, 161))
    ink = number_ink(digits28, rng, layout, height)
    if tilt:
        ink = np.clip(ndimage.rotate(ink, tilt if rng.random() < 0.5 else -tilt, reshape=True, order=1), 0, 1)
    width = int(ink.shape[1] / rng.uniform(0.45, 0.9))
    sheet_height = int(ink.shape[0] / rng.uniform(0.25, 0.7))
    return photo_of(ink, rng, max(width, 60), max(sheet_height, 60))


def make_set(
    folder: Path, *, layout: str, count: int, source: str, start: int, seed: int, tilt: float = 0.0
) -> list[Path]:
    from digitnet.data import load_dataset

    split = getattr(load_dataset(splits=(source,)), source)
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths, index = [], start
    for n in range(count):
        length = int(rng.integers(2, 7))
        if index + length > len(split.labels):
            index = start
        picked = range(index, index + length)
        index += length
        number = "".join(str(int(split.labels[i])) for i in picked)
        picture = number_on_paper([split.images[i] for i in picked], rng, layout, tilt)
        fmt = str(rng.choice(FORMATS, p=FORMAT_WEIGHTS))
        data, suffix = encode(picture, fmt, rng)
        path = folder / f"{n:05d}_{layout}_n{number}{suffix}"
        path.write_bytes(data)
        paths.append(path)
    return paths


def number_of(path) -> str:
    return Path(path).stem.split("_n")[-1]


def score(json_path: Path) -> dict:
    """Whole numbers read exactly, digit counts right, and digits right where the count is."""
    results = json.loads(Path(json_path).read_text())
    exact = [r for r in results if r["number"] == number_of(r["path"])]
    counted = [r for r in results if len(r["number"]) == len(number_of(r["path"]))]
    digits_right = sum(a == b for r in counted for a, b in zip(r["number"], number_of(r["path"]), strict=True))
    return {
        "pictures": len(results),
        "exact": len(exact) / max(1, len(results)),
        "count_right": len(counted) / max(1, len(results)),
        "digits_right_where_counted": digits_right / max(1, sum(len(r["number"]) for r in counted)),
        "wrong": [(r["path"], r["number"]) for r in results if r not in exact],
    }


def read_from_mnist(folder: Path, *, model_path: Path, source: str, start: int) -> float:
    """The whole numbers of a set made by make_set, read from MNIST's own 28×28 digits (no paper,
    no photo) by the model: how many a perfect preparation of the pictures could get right."""
    from digitnet.check import predict_probabilities
    from digitnet.data import load_dataset
    from digitnet.modelio import load_model

    split = getattr(load_dataset(splits=(source,)), source)
    read = predict_probabilities(load_model(model_path), split.images).argmax(axis=1)
    names = sorted(path.name for path in folder.iterdir() if "_n" in path.name)
    index, right = start, 0
    for name in names:
        number = number_of(name)
        if index + len(number) > len(split.labels):  # make_set starts over here too
            index = start
        picked = slice(index, index + len(number))
        if "".join(str(int(label)) for label in split.labels[picked]) != number:
            raise SystemExit(f"{name}: not made from {source} digits {picked.start}… (other --source/--start?)")
        right += bool((read[picked] == split.labels[picked]).all())
        index += len(number)
    return right / max(1, len(names))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("make", help="write pictures of numbers made of MNIST digits")
    make.add_argument("folder", type=Path)
    make.add_argument("--layout", choices=LAYOUTS, default="spaced")
    make.add_argument("--count", type=int, default=500)
    make.add_argument("--source", choices=("train", "test"), default="test")
    make.add_argument("--start", type=int, default=5000, help="first MNIST index used")
    make.add_argument("--seed", type=int, default=1)
    make.add_argument("--tilt", type=float, default=0.0, help="degrees the line of each number runs uphill or downhill")
    scorer = commands.add_parser(
        "score", help="whole-number accuracy of a `digitnet predict --json` output on such a set"
    )
    scorer.add_argument("json_path", type=Path)
    scorer.add_argument("--show-wrong", action="store_true")
    mnist = commands.add_parser("mnist", help="the set's numbers read from MNIST's own 28×28 digits by a model")
    mnist.add_argument("folder", type=Path)
    mnist.add_argument("--model", type=Path, required=True)
    mnist.add_argument("--source", choices=("train", "test"), default="test")
    mnist.add_argument("--start", type=int, default=5000, help="the first MNIST index the set was made from")
    args = parser.parse_args(argv)
    if args.command == "mnist":
        exact = read_from_mnist(args.folder, model_path=args.model, source=args.source, start=args.start)
        print(f"{args.folder}: numbers right when read from MNIST's own digits {exact:.2%}")
        return 0
    if args.command == "make":
        paths = make_set(
            args.folder,
            layout=args.layout,
            count=args.count,
            source=args.source,
            start=args.start,
            seed=args.seed,
            tilt=args.tilt,
        )
        print(f"wrote {len(paths)} pictures to {args.folder}")
    else:
        result = score(args.json_path)
        print(
            f"{result['pictures']} pictures: number exact {result['exact']:.2%}, "
            f"digit count right {result['count_right']:.2%}, "
            f"digits right where the count is {result['digits_right_where_counted']:.2%}"
        )
        if args.show_wrong:
            for path, number in result["wrong"]:
                print("wrong:", path, "read", number)


if __name__ == "__main__":
    sys.exit(main())
