"""Make the data digitnet.whole's network learns from, train it, and write its weights.

    python tests/whole_digit_tuning.py make /tmp/whole/a.npz --count 600 --start 0 --seed 1
    python tests/whole_digit_tuning.py train /tmp/whole/a.npz /tmp/whole/b.npz --check /tmp/whole/c.npz

``make`` writes numbers of MNIST *training* digits on paper as tests/paper_numbers.py does
(touching, overlapping a little, close, and lone digits), knowing which pixel belongs to
which digit.  Every stroke the page analysis finds is cut along the seams
digitnet.touching tries, and every span between two seams is prepared as the 28×28
image the network would read.  A span is labelled a whole digit when nearly all its
strokes belong to one digit and it holds nearly all of that digit's strokes; a part of a
digit, a digit with a piece of its neighbour and a pair are not.  ``train`` fits the
small network of digitnet.whole on such files and writes its weights into the package.
MNIST's test digits are never used here.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import paper_numbers  # noqa: E402

from paper_digits import FORMAT_WEIGHTS, FORMATS, cropped_to_ink, encode, ink_strokes, photo_of  # noqa: E402

# A span is a whole digit when this much of its strokes is one digit's and it holds this much
# of that digit's; it is clearly not one below the second pair (between: left out).
WHOLE = (0.92, 0.9)
NOT_WHOLE = (0.8, 0.75)
# Or ("--labels foreign") by the neighbour's ink it holds, × the ink of the number's average digit,
# rather than × its own: a 1 holds little ink, and the end of its neighbour's stroke at their
# contact makes it far less pure than a 0 with the same end, though it is as much one digit.
FOREIGN_WHOLE = (0.1, 0.9)  # at most this much foreign ink, at least this much of the digit
FOREIGN_NOT_WHOLE = (0.25, 0.75)
LAYOUT_WEIGHTS = {"touching": 0.45, "overlapping": 0.2, "close": 0.15, "one": 0.2}


def layered_number(digits28, rng, height: int, layout: str) -> np.ndarray:
    """Each digit's ink on a canvas of the whole row (digits, rows, columns), written as ``layout`` asks."""
    inks = [cropped_to_ink(ink_strokes(d, rng, max(12, int(height * rng.uniform(0.85, 1.15))))) for d in digits28]
    layers = [inks[0]]
    for ink in inks[1:]:
        line = np.max(layers, axis=0)
        drop = int(rng.normal(0, 0.05) * height)
        top_left = max(0, ink.shape[0] - line.shape[0] - drop)
        top_right = max(0, line.shape[0] - ink.shape[0] + drop)
        rows = max(top_left + line.shape[0], top_right + ink.shape[0])
        offset = paper_numbers._touching_offset(line, ink, top_left, top_right, rows)
        if layout == "overlapping":
            offset = max(0, offset - int(rng.uniform(0.0, 0.12) * height))
        elif layout == "close":
            offset = max(line.shape[1] + max(1, int(rng.uniform(0.02, 0.08) * height)), offset + 2)
        columns = max(line.shape[1], offset + ink.shape[1])
        placed = []
        for layer in layers:
            canvas = np.zeros((rows, columns), dtype=np.float32)
            canvas[top_left : top_left + layer.shape[0], : layer.shape[1]] = layer
            placed.append(canvas)
        canvas = np.zeros((rows, columns), dtype=np.float32)
        canvas[top_right : top_right + ink.shape[0], offset : offset + ink.shape[1]] = ink
        layers = placed + [canvas]
    return np.stack(layers)


def owners_of(layers) -> np.ndarray:
    """Which digit (1, 2, …) each pixel's ink belongs to, 0 where there is none."""
    strongest = layers.max(axis=0)
    return np.where(strongest > 0.5, layers.argmax(axis=0) + 1, 0).astype(np.uint8)


def photographed(layers, rng):
    """(picture, owners in the picture's pixels), or None when the row had to be shrunk to fit."""
    from PIL import Image

    ink = layers.max(axis=0)
    height = ink.shape[0]
    width = int(ink.shape[1] / rng.uniform(0.45, 0.9))
    sheet_height = int(max(height, 1) / rng.uniform(0.25, 0.7))
    width, sheet_height = max(width, 60), max(sheet_height, 60)
    replay = copy.deepcopy(rng)
    picture = photo_of(ink, rng, width, sheet_height)
    # photo_of's own steps, replayed on the owners: the same tilt, crop and place.
    angle = float(replay.normal(0, 5))
    tilted = np.asarray(
        Image.fromarray(ink, mode="F").rotate(angle, resample=Image.BILINEAR, expand=True), dtype=np.float32
    )
    owners = np.asarray(Image.fromarray(owners_of(layers)).rotate(angle, resample=Image.NEAREST, expand=True))
    rows = np.nonzero(np.clip(tilted, 0, 1).max(axis=1) > 0.05)[0]
    cols = np.nonzero(np.clip(tilted, 0, 1).max(axis=0) > 0.05)[0]
    owners = owners[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    if owners.shape[0] > sheet_height or owners.shape[1] > width:
        return None
    top = int(replay.integers(0, sheet_height - owners.shape[0] + 1))
    left = int(replay.integers(0, width - owners.shape[1] + 1))
    sheet = np.zeros((sheet_height, width), dtype=np.uint8)
    sheet[top : top + owners.shape[0], left : left + owners.shape[1]] = owners
    return picture, sheet


def spans_of(picture_bytes: bytes, owners, count: int):
    """Every span of every stroke found: (image, shape, label, digit it mostly holds, stroke id,
    (purity, coverage, foreign ink)) each, labelled by the share rule (``label_of``)."""
    from PIL import Image

    from digitnet import touching
    from digitnet.errors import DigitnetError
    from digitnet.line import find_digits
    from digitnet.page import analyse_page
    from digitnet.pictures import grayscale, load_image
    from digitnet.predict import _digit_or_blank

    gray = grayscale(load_image(picture_bytes, name="made"))
    try:
        page = analyse_page(gray, "made")
        inks = find_digits(page)
    except DigitnetError:
        return []
    small = np.asarray(Image.fromarray(owners).resize((page.shape[1], page.shape[0]), Image.NEAREST))
    totals = np.bincount(small[page.strokes], minlength=count + 1)
    height = touching.line_height(inks)
    found = []
    for stroke, ink in enumerate(inks):
        costs, spans = touching._plan(touching._at_page_resolution(ink, page.strokes), height)
        for span in spans:
            pixels = span.ink.mask if span.ink.strokes is None else span.ink.strokes
            counts = np.bincount(small[pixels], minlength=count + 1)[1:]
            if counts.sum() == 0:
                continue
            digit = int(counts.argmax())
            purity = counts[digit] / counts.sum()
            coverage = counts[digit] / max(1, totals[digit + 1])
            # The neighbour's ink it holds, × the ink of the number's average digit.
            foreign = (counts.sum() - counts[digit]) / max(1.0, totals[1:].mean())
            image = _digit_or_blank(gray, page, span.ink, "made")
            if not image.any():
                continue
            shape = (span.width, span.height, costs[span.first], costs[span.last])
            found.append((image, shape, int(label_of(purity, coverage)), digit, stroke, (purity, coverage, foreign)))
    return found


def label_of(purity, coverage, foreign=None):
    """1 for a whole digit, 0 for clearly not one, -1 in between (left out when training); by the
    span's own share of foreign ink (``purity``) or, given ``foreign``, by FOREIGN_WHOLE."""
    coverage = np.asarray(coverage)
    if foreign is None:
        purity = np.asarray(purity)
        whole = (purity >= WHOLE[0]) & (coverage >= WHOLE[1])
        not_whole = (purity < NOT_WHOLE[0]) | (coverage < NOT_WHOLE[1])
    else:
        foreign = np.asarray(foreign)
        whole = (foreign <= FOREIGN_WHOLE[0]) & (coverage >= FOREIGN_WHOLE[1])
        not_whole = (foreign > FOREIGN_NOT_WHOLE[0]) | (coverage < FOREIGN_NOT_WHOLE[1])
    return np.where(whole, 1, np.where(not_whole, 0, -1))


def make(path: Path, *, count: int, start: int, seed: int, only: str | None = None) -> None:
    from digitnet.data import load_dataset

    train = load_dataset(splits=("train",)).train
    rng = np.random.default_rng(seed)
    layouts, weights = ([only], [1.0]) if only else (list(LAYOUT_WEIGHTS), list(LAYOUT_WEIGHTS.values()))
    names = ("images", "shapes", "labels", "pictures", "strokes", "digits", "classes", "layouts", "shares")
    rows = {name: [] for name in names}
    index = start
    for n in range(count):
        layout = str(rng.choice(layouts, p=weights))
        length = 1 if layout == "one" else int(rng.integers(2, 7))
        picked = list(range(index, index + length))
        index += length
        layers = layered_number([train.images[i] for i in picked], rng, int(rng.integers(40, 161)), layout)
        made = photographed(layers, rng)
        if made is None:
            continue
        picture, owners = made
        data, _ = encode(picture, str(rng.choice(FORMATS, p=FORMAT_WEIGHTS)), rng)
        for image, shape, label, digit, stroke, shares in spans_of(data, owners, length):
            rows["shares"].append(shares)
            rows["images"].append(image)
            rows["shapes"].append(shape)
            rows["labels"].append(label)
            rows["pictures"].append(n)
            rows["strokes"].append(stroke)
            rows["digits"].append(digit)
            rows["classes"].append(int(train.labels[picked[digit]]))
            rows["layouts"].append(f"{layout}{length}")
        if n % 50 == 0:
            print(f"{n}/{count}: {len(rows['labels'])} spans, {rows['labels'].count(1)} whole", flush=True)
    np.savez_compressed(path, **{name: np.asarray(values) for name, values in rows.items()})
    print(f"wrote {path}: {len(rows['labels'])} spans, {rows['labels'].count(1)} whole digits")


def whole_digit_network(seed: int, *, filters=(8, 16), units: int = 32, digit_weight: float = 0.0):
    """The Keras twin of digitnet.whole's network (the same layers, trained here, run there in numpy).

    With ``digit_weight`` the network also learns which digit each span mostly holds (a second
    output, weighed so much in the loss, left out of the shipped weights): telling a whole
    digit from a part of one is easier for features that know the digits' shapes.
    """
    import keras

    keras.utils.set_random_seed(seed)
    image = keras.Input((28, 28, 1), name="image")
    shape = keras.Input((4,), name="shape")
    x = keras.layers.Conv2D(filters[0], 3, activation="relu", name="conv1")(image)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(filters[1], 3, activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Concatenate()([keras.layers.Flatten()(x), shape])
    x = keras.layers.Dense(units, activation="relu", name="dense")(x)
    logit = keras.layers.Dense(1, name="out")(x)
    whole_loss = keras.losses.BinaryCrossentropy(from_logits=True)
    accuracy = keras.metrics.BinaryAccuracy(threshold=0.0)
    if not digit_weight:
        model = keras.Model([image, shape], logit)
        model.compile(optimizer=keras.optimizers.Adam(2e-3), loss=whole_loss, metrics=[accuracy])
        return model
    digit = keras.layers.Dense(10, name="digit")(x)
    model = keras.Model([image, shape], {"out": logit, "digit": digit})
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss={"out": whole_loss, "digit": keras.losses.SparseCategoricalCrossentropy(from_logits=True)},
        loss_weights={"out": 1.0, "digit": digit_weight},
        metrics={"out": [accuracy]},
    )
    return model


def loaded(paths, rule: str = "share"):
    """(images, shapes, labels, digits each span mostly holds — None when a file was made without them),
    the spans labelled neither whole nor clearly not left out.  ``rule="foreign"`` labels them
    again by the neighbour's ink they hold (``label_of``)."""
    parts = [np.load(path) for path in paths]
    if rule == "foreign" and not all("shares" in part.files for part in parts):
        raise SystemExit("--labels foreign needs span files that record each span's shares of ink: make them again")
    images = np.concatenate([part["images"] for part in parts])
    shapes = np.concatenate([part["shapes"] for part in parts]).astype(np.float32)
    if rule == "foreign":
        purity, coverage, foreign = np.concatenate([part["shares"] for part in parts]).T
        said = label_of(purity, coverage, foreign)
    else:
        said = np.concatenate([part["labels"] for part in parts])
    have_classes = all("classes" in part.files for part in parts)
    classes = np.concatenate([part["classes"] for part in parts]) if have_classes else None
    kept = said >= 0
    return images[kept], shapes[kept], said[kept].astype(np.float32), None if classes is None else classes[kept]


def network_inputs(images, shapes) -> dict:
    """The Keras twin's inputs: the 28×28 images scaled to 0–1 as digitnet.whole scales them, and the shapes."""
    return {"image": images[..., None].astype(np.float32) / 255.0, "shape": shapes}


def train(
    paths, *, check, output: Path, epochs: int, seed: int, filters=(8, 16), units=32, digit_weight=0.0, rule="share"
):
    from digitnet import whole

    images, shapes, labels, classes = loaded(paths, rule)
    if digit_weight and classes is None:
        raise SystemExit("--digit-weight needs span files that record each span's digit: make them again")
    print(f"training on {len(labels)} spans, {int(labels.sum())} whole digits", flush=True)
    model = whole_digit_network(seed, filters=filters, units=units, digit_weight=digit_weight)
    targets = {"out": labels, "digit": classes} if digit_weight else labels
    model.fit(network_inputs(images, shapes), targets, batch_size=256, epochs=epochs, verbose=2, shuffle=True)
    weights = {}
    for name in ("conv1", "conv2", "dense", "out"):
        kernel, bias = model.get_layer(name).get_weights()
        weights[f"{name}_kernel"], weights[f"{name}_bias"] = kernel, bias
    if check:
        images, shapes, labels, _ = loaded(check, rule)
        odds = whole.whole_log_odds(images, shapes, weights)
        keras_odds = model.predict(network_inputs(images, shapes), verbose=0)
        keras_odds = keras_odds["out"] if digit_weight else keras_odds
        print(f"numpy vs Keras: largest difference {np.abs(odds - keras_odds[:, 0]).max():.2e}")
        said = odds > 0
        print(
            f"check: {len(labels)} spans, accuracy {np.mean(said == (labels > 0.5)):.2%}, "
            f"whole digits found {np.mean(said[labels > 0.5]):.2%}, "
            f"others called whole {np.mean(said[labels < 0.5]):.2%}"
        )
    output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(output, **weights)
    print(f"wrote {output}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    maker = commands.add_parser("make", help="spans of numbers of training digits, labelled whole or not")
    maker.add_argument("path", type=Path)
    maker.add_argument("--count", type=int, default=600)
    maker.add_argument("--start", type=int, default=0, help="first MNIST training digit used")
    maker.add_argument("--seed", type=int, default=1)
    maker.add_argument("--only", choices=list(LAYOUT_WEIGHTS), help="write every number this way")
    trainer = commands.add_parser("train", help="fit digitnet.whole's network on made spans and write its weights")
    trainer.add_argument("paths", type=Path, nargs="+")
    trainer.add_argument("--check", type=Path, nargs="*", default=[])
    shipped = Path(__file__).resolve().parents[1] / "digitnet" / "networks" / "whole_digit.npz"
    trainer.add_argument("--output", type=Path, default=shipped)
    trainer.add_argument("--epochs", type=int, default=8)
    trainer.add_argument("--seed", type=int, default=1)
    trainer.add_argument("--filters", type=int, nargs=2, default=(8, 16), help="of the two convolutions")
    trainer.add_argument("--units", type=int, default=32, help="of the dense layer")
    trainer.add_argument("--digit-weight", type=float, default=0.0, help="weight of learning the digit too")
    trainer.add_argument(
        "--labels", choices=("share", "foreign"), default="share", help="what makes a span one whole digit (label_of)"
    )
    args = parser.parse_args(argv)
    if args.command == "make":
        make(args.path, count=args.count, start=args.start, seed=args.seed, only=args.only)
    else:
        train(
            args.paths,
            check=args.check,
            output=args.output,
            epochs=args.epochs,
            seed=args.seed,
            filters=tuple(args.filters),
            units=args.units,
            digit_weight=args.digit_weight,
            rule=args.labels,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
