"""`digitnet export`: the twin for an old model, int8 and SavedModel, and bad input."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from digitnet import runtime
from digitnet.check import predict_probabilities
from digitnet.cli import cli
from digitnet.data import load_dataset
from digitnet.modelio import (
    load_model,
    metadata_path,
    read_metadata,
    save_model,
    twin_path,
)

LINE = re.compile(
    r"wrote (\S+) \((LiteRT|SavedModel), (float32|int8), (\d+\.\d\d) MB\) in [\d.]+ s; "
    r"test accuracy (\d+\.\d\d)% on 100 images through (.+)$"
)


def export(*args):
    return CliRunner().invoke(cli, ["export", *map(str, args)])


@pytest.fixture()
def old_model(trained_model_path, tmp_path):
    """A model saved the way it was before twins: .keras and metadata, no .tflite, no record."""
    path = tmp_path / "old.keras"
    shutil.copy(trained_model_path, path)
    meta = read_metadata(trained_model_path)
    meta.pop("litert")
    metadata_path(path).write_text(json.dumps(meta))
    return path


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_export_writes_the_twin_of_an_old_model(old_model, idx_dir):
    hints = []
    assert isinstance(runtime.load(old_model, on_fallback=hints.append), runtime.KerasRunner) and hints

    result = export(old_model, "--data", idx_dir)

    assert result.exit_code == 0, result.output
    match = LINE.match(result.stdout.strip())
    assert match and match.group(1) == str(twin_path(old_model)) and match.group(6) == "LiteRT"
    assert float(match.group(4)) == pytest.approx(twin_path(old_model).stat().st_size / 1e6, abs=0.01)
    meta = read_metadata(old_model)
    assert meta["litert"]["keras_sha256"] == meta["model_sha256"]  # the rest of the metadata is kept
    assert "train_seconds" in meta
    runner = runtime.load(old_model, on_fallback=hints.append)
    assert isinstance(runner, runtime.LiteRTRunner) and len(hints) == 1
    test = load_dataset(idx_dir, splits=("test",)).test
    accuracy = (predict_probabilities(runner, test.images).argmax(axis=1) == test.labels).mean()
    assert float(match.group(5)) == pytest.approx(100 * accuracy, abs=0.005)
    assert files_in(old_model.parent) == ["old.keras", "old.keras.json", "old.tflite"]


def test_export_a_model_without_metadata_starts_it(old_model, idx_dir):
    metadata_path(old_model).unlink()
    assert export(old_model, "--data", idx_dir).exit_code == 0
    assert isinstance(runtime.load(old_model), runtime.LiteRTRunner)


def test_int8_is_a_quarter_of_the_size_and_answers_nearly_alike(trained_model_path, idx_dir, tmp_path):
    output = tmp_path / "small.tflite"
    result = export(trained_model_path, "--quantize", "int8", "--output", output, "--data", idx_dir)
    assert result.exit_code == 0, result.output
    assert LINE.match(result.stdout.strip()).group(3) == "int8"
    assert output.stat().st_size <= 0.3 * twin_path(trained_model_path).stat().st_size
    int8 = runtime.load(output)
    assert int8._input["dtype"] == np.int8  # integer input and output, not just weights
    test = load_dataset(idx_dir, splits=("test",)).test
    agree = predict_probabilities(int8, test.images).argmax(1) == predict_probabilities(
        load_model(trained_model_path), test.images
    ).argmax(1)
    assert agree.mean() >= 0.95


def test_saved_model_is_a_folder_tensorflow_serves(trained_model_path, idx_dir, tmp_path):
    output = tmp_path / "served"
    result = export(trained_model_path, "--format", "saved_model", "--output", output, "--data", idx_dir)
    assert result.exit_code == 0, result.output
    assert LINE.match(result.stdout.strip()).group(6).startswith("TensorFlow")
    assert (output / "saved_model.pb").is_file()
    assert files_in(tmp_path) == ["served"]  # no staging folder left behind


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--format", "onnx"], 2, "Invalid value for '--format'"),
        (["--format", "saved_model", "--quantize", "int8"], 2, "--quantize applies to --format litert only"),
        (["--output", "{tmp}/twin.txt"], 2, "must end in .tflite"),
        (["--output", "{tmp}/nofolder/m.tflite"], 1, "folder does not exist"),
    ],
)
def test_bad_options_are_one_line(trained_model_path, tmp_path, args, code, message):
    before = files_in(tmp_path)
    result = export(trained_model_path, *[a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == code
    assert message in result.output and "Traceback" not in result.output
    assert files_in(tmp_path) == before


def test_not_a_model_is_one_line_and_writes_nothing(tmp_path):
    notes = tmp_path / "notes.keras"
    notes.write_text("not a model")
    result = export(notes)
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0 and "is not a Keras model" in result.output
    assert files_in(tmp_path) == ["notes.keras"]


def test_a_failed_twin_leaves_the_previous_files(trained_model_path, tmp_path, monkeypatch):
    model = tmp_path / "m.keras"
    for source, target in (
        (trained_model_path, model),
        (metadata_path(trained_model_path), metadata_path(model)),
        (twin_path(trained_model_path), twin_path(model)),
    ):
        shutil.copy(source, target)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def broken(model, path, **kwargs):
        Path(path).write_bytes(b"half")
        raise RuntimeError("converter crashed")

    monkeypatch.setattr("digitnet.export.write_litert", broken)
    result = export(model)
    assert (
        result.exit_code == 1
        and "Keras could not export the LiteRT twin (converter crashed); nothing was written" in result.output
    )
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_model_is_never_lost_to_its_twin(tmp_path, monkeypatch, idx_dir):
    """If the exporter fails after training, the model is saved without a twin and answers through Keras."""
    from digitnet.models import build_model

    def broken(model, path, **kwargs):
        raise RuntimeError("converter crashed")

    monkeypatch.setattr("digitnet.export.write_litert", broken)
    path = save_model(build_model("linear"), tmp_path / "m.keras", {"run": 1})
    assert read_metadata(path)["litert"] == {"error": "Keras could not export the LiteRT twin (converter crashed)"}
    assert files_in(tmp_path) == ["m.keras", "m.keras.json"]
    hints = []
    assert isinstance(runtime.load(path, on_fallback=hints.append), runtime.KerasRunner)
    assert "could not be made when it was saved" in hints[0]


def test_training_without_a_twin_when_asked(tmp_path):
    from digitnet.models import build_model

    path = save_model(build_model("linear"), tmp_path / "plain.keras", {"run": 1}, twin=False)
    assert not twin_path(path).exists() and "litert" not in read_metadata(path)
