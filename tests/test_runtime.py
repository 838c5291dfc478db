"""One way to ask a model: the LiteRT twin answers like Keras, and a wrong twin is never used."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from digitnet import runtime
from digitnet.check import predict_probabilities
from digitnet.data import load_dataset
from digitnet.errors import DigitnetError
from digitnet.modelio import (
    load_model,
    metadata_path,
    read_metadata,
    save_model,
    twin_path,
)

REPO = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-5  # the bound on |LiteRT − Keras| per probability


@pytest.fixture(scope="module")
def models(tmp_path_factory, idx_dir):
    """{arch: path} of the three designs, trained briefly and saved with their twins."""
    from digitnet.train import train_model

    dataset = load_dataset(idx_dir)
    folder = tmp_path_factory.mktemp("designs")
    paths = {}
    for arch in ("mlp", "linear", "cnn"):
        result = train_model(dataset, arch=arch, epochs=1, batch_size=32, seed=1, verbose=0)
        paths[arch] = save_model(result.model, folder / f"{arch}.keras", result.metadata(dataset))
    return paths


@pytest.fixture(scope="module")
def test_images(idx_dir):
    return load_dataset(idx_dir, splits=("test",)).test.images


def copy_model(path: Path, folder: Path, *, twin: bool = True) -> Path:
    """The model, its metadata and (optionally) its twin, copied into ``folder``."""
    target = folder / path.name
    shutil.copy(path, target)
    shutil.copy(metadata_path(path), metadata_path(target))
    if twin:
        shutil.copy(twin_path(path), twin_path(target))
    return target


def load_noting(path):
    hints = []
    return runtime.load(path, on_fallback=hints.append), hints


# --------------------------------------------------------------------------- the same answers


@pytest.mark.parametrize("arch", ["mlp", "linear", "cnn"])
def test_twin_answers_like_keras(models, test_images, arch):
    path = models[arch]
    runner, hints = load_noting(path)
    assert isinstance(runner, runtime.LiteRTRunner) and hints == []
    fast = predict_probabilities(runner, test_images)
    slow = predict_probabilities(load_model(path), test_images)
    assert fast.shape == slow.shape == (len(test_images), 10)
    assert np.abs(fast - slow).max() <= TOLERANCE
    assert (fast.argmax(axis=1) == slow.argmax(axis=1)).all()
    np.testing.assert_allclose(fast.sum(axis=1), 1.0, rtol=1e-9)


def test_linear_twin_gives_the_softmax_of_the_scores(models, test_images):
    """Not sigmoids divided by their sum: the probabilities the linear design was trained to give."""
    model = load_model(models["linear"])
    dense = model.layers[-1]
    kernel, bias = dense.get_weights()
    scores = test_images.reshape(len(test_images), -1).astype(np.float64) / 255.0 @ kernel + bias
    softmax = np.exp(scores - scores.max(axis=1, keepdims=True))
    softmax /= softmax.sum(axis=1, keepdims=True)
    runner, _ = load_noting(models["linear"])
    assert np.abs(predict_probabilities(runner, test_images) - softmax).max() <= TOLERANCE


def test_metadata_records_the_twin_and_its_export_time(models):
    for path in models.values():
        meta = read_metadata(path)
        record = meta["litert"]
        assert record["file"] == twin_path(path).name
        assert record["keras_sha256"] == meta["model_sha256"] == _sha256(path)
        assert record["sha256"] == _sha256(twin_path(path))
        assert 0 < record["export_seconds"] and "train_seconds" in meta


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- never a wrong twin


def _missing(model: Path, other: Path) -> None:
    twin_path(model).unlink()


def _stale(model: Path, other: Path) -> None:
    """The .keras file replaced by another model (metadata and twin left behind)."""
    shutil.copy(other, model)


def _truncated(model: Path, other: Path) -> None:
    data = twin_path(model).read_bytes()
    twin_path(model).write_bytes(data[: len(data) // 2])


def _not_litert(model: Path, other: Path) -> None:
    twin_path(model).write_text("these are notes, not a network\n")


def _foreign(model: Path, other: Path) -> None:
    """Another model's (valid) twin planted beside this one."""
    shutil.copy(twin_path(other), twin_path(model))


def _no_record(model: Path, other: Path) -> None:
    metadata_path(model).unlink()


def _wrong_shape(model: Path, other: Path) -> None:
    """A LiteRT file of another shape, recorded as if it were the twin: the shape check still refuses it."""
    from digitnet.backend import import_keras
    from digitnet.export import write_litert

    keras = import_keras()
    odd = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="softmax")])
    write_litert(odd, twin_path(model))
    meta = read_metadata(model)
    meta["litert"]["sha256"] = _sha256(twin_path(model))
    metadata_path(model).write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "plant, reason",
    [
        (_missing, "is missing"),
        (_stale, "made from a different"),
        (_truncated, "not the file recorded"),
        (_not_litert, "not the file recorded"),
        (_foreign, "not the file recorded"),
        (_no_record, "records no LiteRT twin"),
        (_wrong_shape, "not 28×28"),
    ],
    ids=lambda v: getattr(v, "__name__", "")[1:],
)
def test_a_wrong_twin_falls_back_to_keras_with_one_hint(models, test_images, tmp_path, plant, reason):
    model = copy_model(models["mlp"], tmp_path)
    plant(model, models["linear"])
    runner, hints = load_noting(model)
    assert isinstance(runner, runtime.KerasRunner)
    assert len(hints) == 1 and "\n" not in hints[0]
    assert reason in hints[0] and f"digitnet export {model}" in hints[0]
    np.testing.assert_allclose(
        predict_probabilities(runner, test_images), predict_probabilities(load_model(model), test_images)
    )


def test_tflite_given_directly(models, test_images):
    runner = runtime.load(twin_path(models["cnn"]))
    assert isinstance(runner, runtime.LiteRTRunner)
    expected = predict_probabilities(load_model(models["cnn"]), test_images)
    assert np.abs(predict_probabilities(runner, test_images) - expected).max() <= TOLERANCE


@pytest.mark.parametrize(
    "content, message",
    [(b"", "is not a LiteRT"), (b"hello world, not a model", "is not a LiteRT"), (None, "damaged or truncated")],
)
def test_a_bad_tflite_given_directly_is_one_line(models, tmp_path, content, message):
    path = tmp_path / "bad.tflite"
    good = twin_path(models["mlp"]).read_bytes()
    path.write_bytes(content if content is not None else good[:4096])
    with pytest.raises(DigitnetError, match=message):
        runtime.load(path)
    with pytest.raises(DigitnetError, match="no such LiteRT model file"):
        runtime.load(tmp_path / "missing.tflite")


# --------------------------------------------------------------------------- whole commands


def run(*args, cwd: Path, importtime: bool = False) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), MPLBACKEND="Agg")
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run(
        [sys.executable, *flags, *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def imports_tensorflow(stderr: str) -> bool:
    return bool(re.search(r"\|\s+(tensorflow|keras)(\.|$)", stderr, re.MULTILINE))


def test_check_with_a_twin_imports_no_tensorflow_and_prints_what_keras_would(models, idx_dir, tmp_path):
    fast_dir, slow_dir = tmp_path / "fast", tmp_path / "slow"
    fast_dir.mkdir()
    slow_dir.mkdir()
    fast_model = copy_model(models["linear"], fast_dir)
    slow_model = copy_model(models["linear"], slow_dir, twin=False)
    args = [REPO / "DigitChecker.py", "--index", "7", "--data", idx_dir]

    fast = run(*args, "--model", fast_model, cwd=fast_dir, importtime=True)
    slow = run(*args, "--model", slow_model, cwd=slow_dir)

    assert fast.returncode == slow.returncode == 0, fast.stderr[-500:] + slow.stderr[-500:]
    assert not imports_tensorflow(fast.stderr)
    assert "import time:" in fast.stderr and "ai_edge_litert" in fast.stderr
    assert fast.stdout == slow.stdout
    hint = slow.stderr.strip().splitlines()
    assert len(hint) == 1 and "answered through TensorFlow" in hint[0] and "digitnet export" in hint[0]
    fast_png = np.asarray(Image.open(fast_dir / "digit_7.png"))
    slow_png = np.asarray(Image.open(slow_dir / "digit_7.png"))
    assert fast_png.shape == slow_png.shape
    assert np.abs(fast_png.astype(int) - slow_png.astype(int)).max() <= 1  # at most antialiasing in a bar's edge


def test_evaluate_json_is_the_same_on_both_paths(models, idx_dir, tmp_path):
    from click.testing import CliRunner

    from digitnet.cli import cli

    no_twin = copy_model(models["mlp"], tmp_path, twin=False)
    answers = []
    for model in (models["mlp"], no_twin):
        result = CliRunner().invoke(
            cli, ["evaluate", "--model", str(model), "--data", str(idx_dir), "--json", "--no-plot"]
        )
        assert result.exit_code == 0, result.output
        answer = json.loads(result.stdout)
        for key in ("model", "seconds"):
            answer.pop(key)
        answers.append(answer)
    assert answers[0] == answers[1]


def test_without_litert_installed_keras_answers_and_the_hint_says_what_to_install(models, test_images, monkeypatch):
    """Where ai-edge-litert has no wheel, digitnet works through TensorFlow as before."""
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    runner, hints = load_noting(models["mlp"])
    assert isinstance(runner, runtime.KerasRunner)
    assert len(hints) == 1 and "pip install ai-edge-litert" in hints[0] and "digitnet export" not in hints[0]
    with pytest.raises(DigitnetError, match="needs the ai-edge-litert package"):
        runtime.load(twin_path(models["mlp"]))


def test_predict_json_is_the_same_on_both_paths(models, idx_dir, tmp_path):
    from click.testing import CliRunner

    from digitnet.cli import cli
    from digitnet.data import load_dataset

    digits = load_dataset(idx_dir).test.images[:12]
    for i, digit in enumerate(digits):  # dark ink on white paper, each in its own picture
        Image.fromarray(255 - np.kron(digit, np.ones((4, 4), dtype=np.uint8))).save(tmp_path / f"d{i:02d}.png")
    (tmp_path / "slow").mkdir()
    no_twin = copy_model(models["mlp"], tmp_path / "slow", twin=False)
    outputs = []
    for model in (models["mlp"], no_twin):
        result = CliRunner().invoke(cli, ["predict", str(tmp_path), "--model", str(model), "--json"])
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout)
    fast, slow = (json.loads(output) for output in outputs)
    assert len(fast) == len(digits)

    def without_probabilities(row):
        digits = [{k: v for k, v in d.items() if k not in ("confidence", "probabilities")} for d in row["digits"]]
        return {**{k: v for k, v in row.items() if k not in ("confidence", "probabilities")}, "digits": digits}

    # The same digits, numbers, boxes and flags; the probabilities, rounded to 5 places, within the
    # runtimes' own difference (≤ 1e-5) — a value on a rounding boundary may differ in its last place.
    assert [without_probabilities(r) for r in fast] == [without_probabilities(r) for r in slow]
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_allclose(a["probabilities"], b["probabilities"], rtol=0, atol=1e-5 + 1e-9)
