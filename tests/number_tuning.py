"""Fit the weights digitnet.touching scores a row of spans with, on numbers made for tuning.

    python tests/number_tuning.py MODEL.keras [MODEL.keras ...] [--folder /tmp/number-tuning] [--count 200]

Writes numbers of MNIST *training* digits (tests/paper_numbers.py, touching, close and
spaced, seed 5 from digit 0 to fit; seed 8 from digit 30,000 to check), reads each
picture as `digitnet predict` does up to the choice of spans (every span of every wide
stroke read by each model), and fits ``touching.WEIGHTS`` with an averaged structured
perceptron: for each picture whose row of spans can read the number written, the best
such row (under the current weights) must outscore every other row; when it does not,
the weights move by the difference of the two rows' features.  The MNIST test digits the
README reports on are never used here.  Prints the fitted weights and, for the checking
sets, how often the best row reads the number exactly, with the fitted weights and with
the ones in digitnet/touching.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import paper_numbers  # noqa: E402

FIT = dict(count=200, start=0, seed=5)
CHECK = dict(count=150, start=30000, seed=8)
LAYOUTS = ("touching", "close", "spaced")


def wide_strokes(path: Path, runner):
    """(number written, [(digits read before, seam costs, spans, probabilities, digits read after)]) of a picture.

    Only pictures with exactly one wide stroke are kept (None otherwise): the others
    do not depend on the weights, or not on one row alone.
    """
    from digitnet import touching
    from digitnet.check import predict_probabilities
    from digitnet.page import analyse_page, find_digits
    from digitnet.pictures import grayscale, load_image
    from digitnet.predict import _digit_or_blank

    gray = grayscale(load_image(path, name=str(path)))
    page = analyse_page(gray, str(path))
    inks = find_digits(page)
    height = touching.line_height(inks)
    aspect = touching.LONE_ASPECT if len(inks) == 1 else touching.WIDE_ASPECT
    wide = [n for n, ink in enumerate(inks) if touching._is_wide(ink, height, aspect)]
    if len(wide) != 1:
        return None
    (at,) = wide
    plain = [ink for n, ink in enumerate(inks) if n != at]
    read = predict_probabilities(runner, np.stack([_digit_or_blank(gray, page, ink, str(path)) for ink in plain]))
    digits = "".join(str(int(d)) for d in read.argmax(axis=1)) if plain else ""
    costs, spans = touching._plan(touching._at_page_resolution(inks[at], page.strokes), height)
    images = np.stack([_digit_or_blank(gray, page, span.ink, str(path)) for span in spans])
    probabilities = predict_probabilities(runner, images)
    for span in spans:
        span.ink = None  # not needed for fitting; keeps the cache small
    return digits[:at], costs, spans, probabilities, digits[at:]


def examples(folder: Path, runner) -> list:
    """(the digits the wide stroke must read, seam costs, spans, probabilities) of each usable picture."""
    kept = []
    for path in sorted(folder.iterdir()):
        found = wide_strokes(path, runner)
        if found is None:
            continue
        before, costs, spans, probabilities, after = found
        number = paper_numbers.number_of(path)
        if number.startswith(before) and number.endswith(after) and len(before) + len(after) < len(number):
            kept.append((number[len(before) : len(number) - len(after)], costs, spans, probabilities))
    return kept


def features(example, names) -> np.ndarray:
    """Each span's features (rows) in the order of ``names``."""
    from digitnet import touching

    _, costs, spans, probabilities = example
    return np.array(
        [
            [values[name] for name in names]
            for values in (
                touching.span_features(span, probs, costs[span.first])
                for span, probs in zip(spans, probabilities, strict=True)
            )
        ]
    )


def best_row(example, scores, target=None):
    """Indices of the best-scoring row of spans; with ``target``, the best of those reading it (None: none)."""
    _, costs, spans, probabilities = example
    digits = [str(int(p.argmax())) for p in probabilities]
    best = {(0, 0): (0.0, [])}
    for end in range(1, len(costs)):
        for n, span in enumerate(spans):
            if span.last != end:
                continue
            for (at, read), (score, row) in list(best.items()):
                if at != span.first:
                    continue
                if target is not None and (read >= len(target) or target[read] != digits[n]):
                    continue
                key = (end, read + 1 if target is not None else 0)
                if key not in best or score + scores[n] > best[key][0]:
                    best[key] = (score + scores[n], row + [n])
    found = best.get((len(costs) - 1, len(target) if target is not None else 0))
    return None if found is None else found[1]


def fit(data, start: np.ndarray, epochs: int = 15) -> np.ndarray:
    """Averaged structured perceptron over ``data`` [(example, features)], from ``start``."""
    weights, total, steps = start.astype(float).copy(), np.zeros_like(start, dtype=float), 0
    for _ in range(epochs):
        for example, table in data:
            right = best_row(example, table @ weights, example[0])
            if right is None:
                continue
            chosen = best_row(example, table @ weights)
            if chosen != right:
                weights += table[right].sum(axis=0) - table[chosen].sum(axis=0)
            total += weights
            steps += 1
    return total / max(1, steps)


def exact(data, weights) -> float:
    """How often the best row reads the number written."""
    right = 0
    for example, table in data:
        row = best_row(example, table @ weights)
        digits = [str(int(p.argmax())) for p in example[3]]
        right += row is not None and "".join(digits[n] for n in row) == example[0]
    return right / max(1, len(data))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/number-tuning"))
    parser.add_argument(
        "--count", type=int, default=None, help="pictures per layout (default: 200 to fit, 150 to check)"
    )
    args = parser.parse_args(argv)

    from digitnet import runtime, touching

    names = list(touching.WEIGHTS)
    sets = {"fit": [], "check": []}
    for kind, spec in (("fit", FIT), ("check", CHECK)):
        spec = dict(spec, count=args.count or spec["count"])
        for layout in LAYOUTS:
            folder = args.folder / kind / layout
            if not folder.exists():
                paper_numbers.make_set(folder, layout=layout, source="train", **spec)
            for model in args.models:
                runner = runtime.load(model)
                found = [(example, features(example, names)) for example in examples(folder, runner)]
                sets[kind].append((f"{layout} {model.name}", found))
                print(f"{kind} {layout} {model.name}: {len(found)} pictures with one wide stroke", flush=True)
    start = np.array([touching.WEIGHTS[name] for name in names])
    fitted = fit([item for _, data in sets["fit"] for item in data], start)
    fitted /= abs(fitted[names.index("confidence")])
    print("WEIGHTS = {" + ", ".join(f'"{name}": {value:.3f}' for name, value in zip(names, fitted, strict=True)) + "}")
    for label, data in sets["check"]:
        print(f"check {label}: exact {exact(data, fitted):.1%} fitted, {exact(data, start):.1%} as in touching.py")


if __name__ == "__main__":
    sys.exit(main())
