"""How well saved models read handwriting that is not MNIST's: the numbers behind the README's tables.

    python tests/handwriting_eval.py MODEL.keras [MODEL.keras ...] [--json out.json]
    python tests/handwriting_eval.py MODEL.keras --tune      (the sets kept for tuning instead)
    python tests/handwriting_eval.py --styles-figure notebooks/writing-styles.png
    python tests/handwriting_eval.py --step-times cnn     (training step with and without augmentation, interleaved)

For each model: MNIST test accuracy re-measured from the saved file (`digitnet evaluate
--json` in its own process), training time (``train_seconds`` from the metadata), and
the accuracy of `digitnet predict`'s reading (same preparation, prepare_image) of:

- paper:    3 × 1,000 photo-like pictures of MNIST test digits on paper (tests/paper_digits.py,
            test digits 7000–9999, seed 2: the sets the README has always reported);
- drawn:    500 digits drawn with pen strokes (``--drawn --count 500 --start 0 --seed 3``);
- styled:   400 drawn 1s with a flag and 7s with a crossbar (``--styles --count 400 --seed 7``);
- outside:  scikit-learn's bundled copy of the UCI "optdigits" handwritten digits
            (``sklearn.datasets.load_digits``: 1,797 digits by writers other than MNIST's, 8×8
            blocks of 0–16), each upsampled to 32×32 and put on a white sheet; the second
            half is reported, the first half is kept for tuning.

``--tune`` measures other sets instead, the ones augmentation was tuned on: drawn
(seed 13, start 500), styled (seed 11, start 1000) and the first half of optdigits;
the paper pictures are made from MNIST test digits, so they are never used for tuning.
Needs ``pip install scikit-learn`` for the outside set (skipped, saying so, without it).
``--cache DIR`` keeps the prepared pictures, so a second run on other models skips making them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import paper_digits  # noqa: E402

REPORT_SETS = {
    "paper": [dict(count=1000, start=start, seed=2) for start in (7000, 8000, 9000)],
    "drawn": [dict(count=500, start=0, seed=3, drawn=True)],
    "styled": [dict(count=400, start=0, seed=7, styled=True)],
}
TUNING_SETS = {
    "drawn": [dict(count=500, start=500, seed=13, drawn=True)],
    "styled": [dict(count=400, start=1000, seed=11, styled=True)],
}


def prepared_pictures(specs) -> tuple[np.ndarray, np.ndarray]:
    """Make the pictures of ``specs`` (paper_digits.make_pictures arguments) and prepare each as predict does."""
    from digitnet.digit import image_to_digit

    digits, labels = [], []
    for spec in specs:
        for name, data in paper_digits.make_pictures(**spec):
            digits.append(image_to_digit(data, name=name))
            labels.append(paper_digits.label_of(name))
    return np.stack(digits), np.array(labels)


def outside_digits(half: str) -> tuple[np.ndarray, np.ndarray] | None:
    """optdigits (scikit-learn's load_digits), prepared as predict prepares a picture; ``half`` "tune" or "report"."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        print("outside set skipped: pip install scikit-learn", file=sys.stderr)
        return None
    from PIL import Image

    from digitnet.digit import prepare_image

    bunch = load_digits()
    middle = len(bunch.target) // 2
    chosen = slice(0, middle) if half == "tune" else slice(middle, None)
    digits = [
        prepare_image(_on_sheet(block, Image), name=f"optdigits {i}") for i, block in enumerate(bunch.images[chosen])
    ]
    return np.stack(digits), bunch.target[chosen].astype(np.int64)


def _on_sheet(block, Image):
    """An 8×8 block of ink counts (0–16) → a 64×64 ink-on-white picture with a margin."""
    ink = Image.fromarray((block / 16.0).astype(np.float32), mode="F").resize((32, 32), Image.BICUBIC)
    sheet = np.zeros((64, 64), dtype=np.float32)
    sheet[16:48, 16:48] = np.clip(np.asarray(ink), 0, 1)
    return Image.fromarray(np.round(255 * (1 - sheet)).astype(np.uint8), mode="L")


def accuracy(model, digits, labels) -> float:
    from digitnet.preprocess import to_model_input

    scores = model.predict(to_model_input(digits), batch_size=1024, verbose=0)
    return float(np.mean(scores.argmax(axis=1) == labels))


def mnist_test_accuracy(model_path: Path) -> float:
    """Re-measured from the saved file by `digitnet evaluate`, in its own process."""
    out = subprocess.run(
        [sys.executable, "-m", "digitnet", "evaluate", "--model", str(model_path), "--no-plot", "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(json.loads(out.stdout)["accuracy"])


def cached(cache: Path | None, name: str, make):
    """``make()`` → (digits, labels), kept in ``cache``/NAME.npz to skip preparing the pictures again."""
    path = cache / f"{name}.npz" if cache else None
    if path and path.exists():
        with np.load(path) as saved:
            return saved["digits"], saved["labels"]
    result = make()
    if path and result is not None:
        cache.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npz")
        np.savez(partial, digits=result[0], labels=result[1])
        partial.replace(path)  # complete or absent, for a run reading the same cache
    return result


def evaluate_models(model_paths, *, tune: bool = False, cache: Path | None = None) -> list[dict]:
    from digitnet.modelio import load_model, read_metadata

    kind = "tune" if tune else "report"
    specs = TUNING_SETS if tune else REPORT_SETS
    sets = {
        name: cached(cache, f"{kind}-{name}", lambda spec=spec: prepared_pictures(spec)) for name, spec in specs.items()
    }
    outside = cached(cache, f"{kind}-outside", lambda: outside_digits(kind))
    if outside is not None:
        sets["outside"] = outside
    rows = []
    for path in model_paths:
        path = Path(path)
        model = load_model(path)
        meta = read_metadata(path)
        row = {
            "model": str(path),
            "architecture": meta.get("architecture"),
            "augment": bool(meta.get("augment", False)),
            "train_seconds": meta.get("train_seconds"),
        }
        if not tune:
            row["mnist_test"] = mnist_test_accuracy(path)
        row.update({name: accuracy(model, *data) for name, data in sets.items()})
        row["counts"] = {name: int(len(data[1])) for name, data in sets.items()}
        rows.append(row)
        print(_line(row), flush=True)
    return rows


def _line(row) -> str:
    numbers = "  ".join(f"{k} {row[k]:.2%}" for k in ("mnist_test", "paper", "drawn", "styled", "outside") if k in row)
    return f"{row['model']}: {numbers}  train {row['train_seconds']} s"


def styles_figure(path: Path, count: int = 16):
    """MNIST training 1s and 7s above the flagged / crossed copies `--augment` trains on."""
    from digitnet.augment import with_writing_styles
    from digitnet.data import load_dataset
    from digitnet.plots import before_after_figure, save_figure

    train = load_dataset(splits=("train",)).train
    images, labels = train.images[:2000], train.labels[:2000]
    styled = with_writing_styles(images, labels, seed=1)
    changed = np.flatnonzero((styled != images).any(axis=(1, 2)))
    ones, sevens = changed[labels[changed] == 1], changed[labels[changed] == 7]
    chosen = np.concatenate([ones[: count // 2], sevens[: count // 2]])
    title = "MNIST's own 1s and 7s (top) and the styled copies --augment adds (below), learned as 1 and 7"
    save_figure(
        before_after_figure(images[chosen], styled[chosen], captions=[str(labels[i]) for i in chosen], title=title),
        path,
    )
    print(f"figure: {path}")


def step_times(arch: str, *, rounds: int = 15, steps: int = 10) -> dict:
    """Median time of a training step of ``arch`` (its recipe's batch) with and without augment_batch.

    The two are run alternately, ``steps`` steps per call, so both see the same load on
    a shared machine: a fairer ratio than two whole trainings run one after the other.
    """
    import time

    import tensorflow as tf

    from digitnet.augment import augment_batch
    from digitnet.data import load_dataset
    from digitnet.models import RECIPES, build_model, compile_model
    from digitnet.preprocess import to_model_input

    batch = RECIPES[arch].batch_size
    train = load_dataset(splits=("train",)).train
    images, labels = (
        tf.constant(to_model_input(train.images[:batch])),
        tf.constant(train.labels[:batch].astype(np.int32)),
    )
    model = build_model(arch)
    compile_model(model, learning_rate=RECIPES[arch].learning_rate)
    variables = model.trainable_variables
    model.optimizer.build(variables)

    def loop(augmented: bool):
        @tf.function
        def run():
            loss = tf.constant(0.0)
            for step in tf.range(steps):
                x = (
                    augment_batch(images, tf.stack([tf.constant(1, tf.int64), tf.cast(step, tf.int64)]))
                    if augmented
                    else images
                )
                with tf.GradientTape() as tape:
                    loss = model.compute_loss(x, labels, model(x, training=True), training=True)
                model.optimizer.apply(tape.gradient(loss, variables), variables)
            return loss

        return run

    runs = {False: loop(False), True: loop(True)}
    times = {False: [], True: []}
    for run in runs.values():
        run().numpy()  # trace first
    for _ in range(rounds):
        for augmented, run in runs.items():
            start = time.perf_counter()
            run().numpy()
            times[augmented].append((time.perf_counter() - start) / steps)
    plain, augmented = float(np.median(times[False])), float(np.median(times[True]))
    result = {
        "arch": arch,
        "batch": batch,
        "plain_ms": 1000 * plain,
        "augmented_ms": 1000 * augmented,
        "ratio": augmented / plain,
    }
    print(
        f"{arch} step (batch {batch}): plain {result['plain_ms']:.1f} ms, "
        f"augmented {result['augmented_ms']:.1f} ms: {result['ratio']:.2f}x"
    )
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", type=Path)
    parser.add_argument("--styles-figure", type=Path, help="write a figure of flag 1s and crossed 7s made for training")
    parser.add_argument("--tune", action="store_true", help="measure the tuning sets instead of the reported ones")
    parser.add_argument("--json", dest="json_path", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--cache", type=Path, help="folder to keep the prepared pictures in between runs")
    parser.add_argument(
        "--step-times",
        metavar="ARCH",
        action="append",
        default=[],
        help="time a training step of ARCH with and without augmentation",
    )
    args = parser.parse_args(argv)
    if args.styles_figure:
        styles_figure(args.styles_figure)
    for arch in args.step_times:
        step_times(arch)
    if not args.models:
        return
    rows = evaluate_models(args.models, tune=args.tune, cache=args.cache)
    if args.json_path:
        args.json_path.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    sys.exit(main())
