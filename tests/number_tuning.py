"""Fit the weights digitnet.touching scores a row of spans with, on pictures made for tuning.

    python tests/number_tuning.py MODEL.keras [--folder /tmp/number-tuning]

Makes (once, in ``--folder``) numbers of MNIST *training* digits (tests/paper_numbers.py:
touching, close and spaced; 200 each to fit, seed 5 from digit 45,000; 150 each to check,
seed 8 from digit 30,000) and one-digit pictures of MNIST test digits 0–599 (paper and
pen-drawn: a digit alone must stay whole), reads each as `digitnet predict` does up to
the choice of spans (every span of every wide stroke read by the model), and fits
``touching.WEIGHTS`` with an averaged structured perceptron: the best row of spans that
reads the number written must outscore the row chosen; when it does not, the weights
move by the difference of the two rows' features.  The MNIST test digits the README
reports on (5000 and on for numbers, 7000 and on for one digit) are never used here.
Prints the fitted weights and, on the checking sets, how often each picture is read
exactly with them and with the weights in digitnet/touching.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import paper_numbers  # noqa: E402

import paper_digits  # noqa: E402

# Fitted on digits 45,000 and on: the spans digitnet.whole's network learnt from were cut from
# numbers of training digits 0–1,999 and 10,000–11,999 (its check: 30,000–30,599).
NUMBERS = {"fit": dict(count=200, start=45000, seed=5), "check": dict(count=150, start=30000, seed=8)}
ONE_DIGIT = {
    "fit": [dict(count=400, start=0, seed=4), dict(count=200, start=500, seed=13, drawn=True)],
    "check": [dict(count=200, start=400, seed=14), dict(count=100, start=700, seed=15, drawn=True)],
}
LAYOUTS = ("touching", "close", "spaced")
EPOCHS = 15


def written(path: Path) -> str:
    """The number a made picture holds, from its name."""
    stem = path.stem
    return paper_numbers.number_of(path) if "_n" in stem else str(paper_digits.label_of(path))


def strokes_read(path: Path, runner, names) -> list:
    """The picture's strokes as predict finds them: ("plain", digit read) or ("wide", last seam, spans, features,
    digits, whether a cut must win by the lone-stroke margin)."""
    from digitnet import touching
    from digitnet.check import predict_probabilities
    from digitnet.line import find_digits
    from digitnet.page import analyse_page
    from digitnet.pictures import grayscale, load_image
    from digitnet.pieces import joined_pieces
    from digitnet.predict import _digit_or_blank
    from digitnet.whole import whole_log_odds

    gray = grayscale(load_image(path, name=str(path)))
    page = analyse_page(gray, str(path))

    def images_of(inks):
        return np.stack([_digit_or_blank(gray, page, ink, str(path)) for ink in inks])

    def read(inks):
        return predict_probabilities(runner, images_of(inks))

    def judge(inks, shapes):
        return whole_log_odds(images_of(inks), shapes)

    inks = joined_pieces(find_digits(page), read, judge)
    height = touching.line_height(inks)
    inks, looked_at, _ = touching.strokes_to_look_at(inks, height, strokes=page.strokes, judge=judge)
    found = []
    for ink, look in zip(inks, looked_at, strict=True):
        if not look:
            image = _digit_or_blank(gray, page, ink, str(path))
            found.append(("plain", str(int(predict_probabilities(runner, image).argmax()))))
            continue
        costs, spans = touching._plan(touching._at_page_resolution(ink, page.strokes), height)
        images = images_of([span.ink for span in spans])
        probabilities = predict_probabilities(runner, images)
        odds = touching.whole_odds(judge, spans, [costs] * len(spans))
        table = np.array(
            [
                [values[name] for name in names]
                for values in (
                    touching.span_features(span, probs, costs[span.first], span_odds)
                    for span, probs, span_odds in zip(spans, probabilities, odds, strict=True)
                )
            ]
        )
        bounds = [(span.first, span.last) for span in spans]
        digits = [str(int(p.argmax())) for p in probabilities]
        found.append(("wide", len(costs) - 1, bounds, table, digits, touching.needs_margin(ink, inks, height)))
    return found


def rows(stroke, scores, target=None) -> dict:
    """Best rows of spans of a wide stroke: {digits matched: (score, span indices)} (with ``target``,
    only rows reading a beginning of it; without, the best row under the key 0)."""
    _, last, bounds, _, digits, _ = stroke
    best = {(0, 0): (0.0, [])}
    for end in range(1, last + 1):
        for n, (first, span_last) in enumerate(bounds):
            if span_last != end:
                continue
            for (at, matched), (score, row) in list(best.items()):
                if at != first or (target is not None and (matched >= len(target) or target[matched] != digits[n])):
                    continue
                key = (end, matched + 1 if target is not None else 0)
                if key not in best or score + scores[n] > best[key][0]:
                    best[key] = (score + scores[n], row + [n])
    return {matched: found for (at, matched), found in best.items() if at == last}


def best_reading(picture, weights, margin: float, truth=None):
    """[(stroke index, span indices)] of the best reading (with ``truth``: the best that reads it, or None)."""
    strokes = picture
    states = {0: (0.0, [])}
    for n, stroke in enumerate(strokes):
        following = {}
        for at, (score, reading) in states.items():
            if stroke[0] == "plain":
                if truth is None or (at < len(truth) and truth[at] == stroke[1]):
                    following.setdefault(at + 1, (score, reading))
                continue
            scores = stroke[3] @ weights
            options = rows(stroke, scores, truth[at:] if truth is not None else None)
            if truth is None and stroke[5]:
                options = {0: _with_margin(stroke, scores, options[0], margin)} if options else {}
            for matched, (gain, row) in options.items():
                key = at + (matched if truth is not None else len(row))
                if key not in following or score + gain > following[key][0]:
                    following[key] = (score + gain, reading + [(n, row)])
        states = following
        if not states:
            return None
    if truth is not None:
        return states.get(len(truth), (None, None))[1]
    return max(states.values(), key=lambda state: state[0])[1]


def _with_margin(stroke, scores, found, margin):
    """The lone stroke's best row, or the stroke whole when the row beats it by no more than ``margin``."""
    _, last, bounds, _, _, _ = stroke
    whole = bounds.index((0, last))
    score, row = found
    return (scores[whole], [whole]) if len(row) > 1 and score <= scores[whole] + margin else found


def read(picture, reading) -> str:
    chosen = dict(reading)
    return "".join(
        stroke[1] if stroke[0] == "plain" else "".join(stroke[4][n] for n in chosen[k])
        for k, stroke in enumerate(picture)
    )


def features_of(picture, reading):
    return sum((picture[k][3][row].sum(axis=0) for k, row in reading), 0.0)


def fit(examples, start, *, epochs: int = EPOCHS, seed: int = 0):
    """Averaged structured perceptron over [(truth, picture)], from the weights ``start``."""
    rng = np.random.default_rng(seed)
    weights, total, steps = np.array(start, dtype=float), np.zeros(len(start)), 0
    for _ in range(epochs):
        for n in rng.permutation(len(examples)):
            truth, picture = examples[n]
            right = best_reading(picture, weights, 0.0, truth)
            if right is None:
                continue
            chosen = best_reading(picture, weights, 0.0)
            if read(picture, chosen) != truth:
                weights += features_of(picture, right) - features_of(picture, chosen)
            total += weights
            steps += 1
    return total / max(1, steps)


def exact(examples, weights, margin: float) -> float:
    return float(
        np.mean([read(picture, best_reading(picture, weights, margin)) == truth for truth, picture in examples])
    )


def made_sets(folder: Path, kind: str) -> dict:
    """{name: folder} of the pictures of ``kind`` ("fit" or "check"), made when not there yet."""
    sets = {}
    for layout in LAYOUTS:
        sets[layout] = folder / kind / layout
        if not sets[layout].exists():
            paper_numbers.make_set(sets[layout], layout=layout, source="train", **NUMBERS[kind])
    for spec in ONE_DIGIT[kind]:
        name = "one digit, drawn" if spec.get("drawn") else "one digit, paper"
        sets[name] = folder / kind / name.replace(", ", "-").replace(" ", "-")
        if not sets[name].exists():
            paper_digits.make_set(sets[name], **spec)
    return sets


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/number-tuning"))
    parser.add_argument(
        "--lone-aspect", type=float, default=None, help="look at lone strokes from this aspect (default: touching.py's)"
    )
    args = parser.parse_args(argv)

    from digitnet import runtime, touching

    if args.lone_aspect is not None:
        touching.LONE_ASPECT = args.lone_aspect

    names = list(touching.WEIGHTS)
    runner = runtime.load(args.model)
    examples = {}
    for kind in ("fit", "check"):
        for name, folder in made_sets(args.folder, kind).items():
            paths = sorted(folder.iterdir())
            examples[kind, name] = [(written(path), strokes_read(path, runner, names)) for path in paths]
            print(f"read {kind} {name}: {len(paths)} pictures", flush=True)
    start = np.array([touching.WEIGHTS[name] for name in names])
    fitted = fit([example for (kind, _), found in examples.items() if kind == "fit" for example in found], start)
    fitted /= abs(fitted[names.index("confidence")])
    print("WEIGHTS = {" + ", ".join(f'"{n}": {v:.2f}' for n, v in zip(names, fitted, strict=True)) + "}")
    for (kind, name), found in examples.items():
        if kind == "check":
            print(
                f"check {name}: exact {exact(found, fitted, touching.LONE_MARGIN):.1%} fitted, "
                f"{exact(found, start, touching.LONE_MARGIN):.1%} with touching.py's weights"
            )


if __name__ == "__main__":
    sys.exit(main())
