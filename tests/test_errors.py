"""Every bad input, through every command: one `Error:` line on stderr, exit 2 (usage) or 1, no traceback.

The scripts model.py and DigitChecker.py are the `train` and `check` commands under
another name (the same click objects), so each case runs through the command with
the script's name; a few run as real subprocesses to prove the wiring.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from digitnet.cli import check, cli, train
from digitnet.data import IDX_NAMES
from digitnet.errors import DigitnetError
from digitnet.exits import Terminated
from digitnet.idx import write_idx

from faults import fill_disk_after, leftovers

ROOT = Path(__file__).resolve().parent.parent
N_TEST = 100  # the conftest's synthetic test split


# --------------------------------------------------------------------------- helpers


def run(command, args, *, prog_name=None, input=None):
    return CliRunner().invoke(command, [str(a) for a in args], prog_name=prog_name, input=input)


def error_line(result, code: int) -> str:
    """The single `Error:` line of a failed run (click's usage errors add `Usage:`/`Try` lines first)."""
    assert result.exit_code == code, f"exit {result.exit_code}, expected {code}: {result.output!r} {result.exception!r}"
    assert isinstance(result.exception, SystemExit), f"uncaught {result.exception!r}"
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if lines and lines[0].startswith("Usage:"):
        assert code == 2 and lines[1].startswith("Try ")
        lines = lines[2:]
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    return lines[0]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """An untrained linear digit model with metadata: cheap, and enough to be 'the previous model'."""
    from digitnet.backend import import_keras
    from digitnet.modelio import save_model
    from digitnet.models import build_model

    import_keras().utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("model") / "model.keras"
    save_model(build_model("linear"), path, {"architecture": "linear", "run": "previous"})
    return path


def predictions(path, images):
    from digitnet.check import predict_probabilities
    from digitnet.modelio import load_model

    return predict_probabilities(load_model(path), images)


@pytest.fixture
def previous_model(tmp_path, model_file, digit_arrays):
    """A good model.keras (+ .json) in a fresh folder, and what it predicts: it must survive every failure."""
    target = tmp_path / "model.keras"
    shutil.copy(model_file, target)
    shutil.copy(str(model_file) + ".json", str(target) + ".json")
    return target, predictions(target, digit_arrays[1][0][:10]), Path(str(target) + ".json").read_bytes()


def assert_intact(previous, digit_arrays):
    path, before, meta = previous
    np.testing.assert_allclose(predictions(path, digit_arrays[1][0][:10]), before)
    assert Path(str(path) + ".json").read_bytes() == meta
    assert leftovers(path.parent) == []


@pytest.fixture
def no_training(monkeypatch):
    """Training must not start: the problem is found before any epoch."""

    def refuse(*args, **kwargs):
        raise AssertionError("training started although the run was bound to fail")

    monkeypatch.setattr("digitnet.train.train_model", refuse)


# --------------------------------------------------------------------------- index


@pytest.mark.parametrize("prog_name", ["DigitChecker.py", "digitnet check"])
@pytest.mark.parametrize(
    "index, message",
    [
        ("-1", "index -1 is out of range; the test set has 100 images (0 to 99)"),
        (str(N_TEST), "index 100 is out of range"),
        (str(10**30), f"index {str(10**30)[:24]}… is out of range"),
        ("abc", "index 'abc' is not a whole number; give one from 0 to 99"),
        ("4.5", "index '4.5' is not a whole number"),
        ("", "index '' is not a whole number"),
        ("1e3", "index '1e3' is not a whole number"),
    ],
)
def test_bad_index_option(idx_dir, tmp_path, prog_name, index, message):
    # The index is checked before the model is loaded: a missing model is not even reached.
    result = run(check, ["--index", index, "--data", idx_dir, "--model", tmp_path / "none.keras"], prog_name=prog_name)
    assert message in error_line(result, 2)


def test_index_with_spaces_is_fine(idx_dir, model_file, tmp_path):
    result = run(check, ["--index", " 7 ", "--data", idx_dir, "--model", model_file, "--plot", tmp_path / "d.png"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("index 7: predicted ")
    assert (tmp_path / "d.png").stat().st_size > 0


def test_prompt_explains_and_asks_again(idx_dir, model_file):
    answers = ["abc", "4.5", "-1", "100", str(10**30), "", "never read"]
    result = run(
        check,
        ["--data", idx_dir, "--model", model_file, "--no-plot"],
        input="\n".join([answers[0], answers[1], answers[2], answers[3], answers[4], " 7 ", "q"]) + "\n",
    )
    assert result.exit_code == 0, result.output
    errors = result.stderr.splitlines()
    assert len(errors) == 5 and all(e.startswith("Error: index ") and e.endswith("; try again") for e in errors)
    assert "is not a whole number" in errors[0] and "is out of range" in errors[3]
    assert "index 7: predicted" in result.stdout
    assert result.stdout.count("index (0–99; empty line or q to quit): ") == 7


def test_prompt_ends_on_empty_line_and_end_of_input(idx_dir, model_file):
    for text in ("3\n\n9\n", "3"):
        result = run(check, ["--data", idx_dir, "--model", model_file, "--no-plot"], input=text)
        assert result.exit_code == 0 and result.stderr == ""
        assert result.stdout.count("index 3: predicted") == 1 and "index 9" not in result.stdout


# --------------------------------------------------------------------------- model files: every command that reads one


def _bad_models(folder: Path, good: Path) -> dict:
    """name -> (path, words the error must contain)."""
    from digitnet.backend import import_keras

    keras = import_keras()
    folder.mkdir(exist_ok=True)
    (folder / "empty.keras").write_bytes(b"")
    (folder / "random.keras").write_bytes(np.random.default_rng(0).bytes(3000))
    raw = good.read_bytes()
    (folder / "truncated.keras").write_bytes(raw[: len(raw) // 2])
    (folder / "savedmodel").mkdir(exist_ok=True)
    (folder / "savedmodel" / "saved_model.pb").write_bytes(b"\x08\x01")
    inputs = keras.Input((28, 28))
    flat = keras.layers.Flatten()(inputs)
    keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Lambda(lambda t: -t, output_shape=(784,))(flat))).save(
        folder / "lambda.keras"
    )
    keras.Model(inputs, keras.layers.Dense(7)(flat)).save(folder / "seven.keras")
    keras.Model(inputs, keras.layers.Dense(10)(flat)).save(folder / "old.h5")
    wide = keras.Input((32, 32))
    keras.Model(wide, keras.layers.Dense(10)(keras.layers.Flatten()(wide))).save(folder / "wide.keras")
    return {
        "missing": (folder / "missing.keras", "no such model file; train one with `python model.py`"),
        "folder": (folder, "is a folder, not a .keras model file"),
        "empty": (folder / "empty.keras", "is empty (0 bytes)"),
        "random": (folder / "random.keras", "is not a Keras model"),
        "truncated": (folder / "truncated.keras", "is truncated or damaged"),
        "h5": (folder / "old.h5", "is a legacy HDF5 (.h5) model"),
        "savedmodel": (folder / "savedmodel", "is a TensorFlow SavedModel folder"),
        "lambda": (folder / "lambda.keras", "refused: it contains a Lambda layer"),
        "seven outputs": (folder / "seven.keras", "not ten digit classes"),
        "32x32 input": (folder / "wide.keras", "not 28×28 images"),
    }


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory, model_file):
    return _bad_models(tmp_path_factory.mktemp("bad-models"), model_file)


@pytest.fixture(scope="module")
def digit_png(tmp_path_factory, digit_arrays):
    from PIL import Image

    path = tmp_path_factory.mktemp("png") / "seven.png"
    Image.fromarray(255 - digit_arrays[1][0][0]).resize((112, 112)).save(path)
    return path


def model_commands(idx_dir, digit_png, tmp_path):
    """Arguments that make each model-reading command reach the model load."""
    commands = {
        "check": ["check", "--index", "3", "--data", idx_dir, "--no-plot"],
        "check prompt": ["check", "--data", idx_dir, "--no-plot"],
        "evaluate": ["evaluate", "--data", idx_dir, "--no-plot"],
        "predict": ["predict", digit_png],
        "draw": ["draw", "--port", "0", "--no-open"],
    }
    return {name: args for name, args in commands.items() if args[0] in cli.commands}


@pytest.mark.parametrize(
    "case",
    ["missing", "folder", "empty", "random", "truncated", "h5", "savedmodel", "lambda", "seven outputs", "32x32 input"],
)
def test_bad_model_file_for_every_command(bad_models, idx_dir, digit_png, tmp_path, case):
    path, words = bad_models[case]
    commands = model_commands(idx_dir, digit_png, tmp_path)
    assert {"check", "evaluate"} <= set(commands)
    for name, args in commands.items():
        result = run(cli, args + ["--model", path], input="3\n")
        line = error_line(result, 1)
        assert words in line and str(path) in line, (name, line)
    result = run(check, ["--index", "3", "--data", idx_dir, "--no-plot", "--model", path], prog_name="DigitChecker.py")
    assert words in error_line(result, 1)


def test_debug_shows_the_traceback_instead(idx_dir, tmp_path):
    result = run(check, ["--index", "3", "--data", idx_dir, "--model", tmp_path / "none.keras", "--debug"])
    assert result.exit_code == 1 and isinstance(result.exception, DigitnetError)


# --------------------------------------------------------------------------- data


def _damaged_sets(base: Path, folder: Path, digit_arrays) -> dict:
    def copy(name):
        target = folder / name
        shutil.copytree(base, target)
        return target

    def idx(target, split, kind):
        return target / (IDX_NAMES[(split, kind)][0] + ".gz")

    cases = {"missing folder": (folder / "nowhere", "no such file or folder")}
    target = copy("missing-file")
    idx(target, "test", "labels").unlink()
    cases["missing file"] = (target, "no test labels file")
    target = copy("truncated-gz")
    raw = idx(target, "test", "images").read_bytes()
    idx(target, "test", "images").write_bytes(raw[: len(raw) // 2])
    cases["truncated gz"] = (target, "truncated")
    target = copy("bad-magic")
    idx(target, "test", "images").write_bytes(gzip.compress(b"\x00\x00\x09\x03" + bytes(100)))
    cases["wrong magic"] = (target, "IDX element type 0x09 is not supported")
    target = copy("wrong-dims")
    write_idx(idx(target, "test", "images"), np.zeros((100, 32, 32)))
    cases["wrong dims"] = (target, "images have shape (100, 32, 32), expected (N, 28, 28)")
    target = copy("liar")
    idx(target, "test", "images").unlink()
    (target / IDX_NAMES[("test", "images")][0]).write_bytes(
        bytes([0, 0, 8, 3]) + (10**6).to_bytes(4, "big") + bytes([0, 0, 0, 28, 0, 0, 0, 28]) + bytes(784)
    )
    cases["header claims more"] = (
        target,
        "truncated: the header declares 784,000,000 bytes of data but the file holds 784",
    )
    target = copy("bomb")
    idx(target, "test", "images").write_bytes(
        gzip.compress(bytes([0, 0, 8, 3]) + (10**6).to_bytes(4, "big") + bytes([0, 0, 0, 28, 0, 0, 0, 28]) + bytes(784))
    )
    cases["gz header claims more"] = (target, "claims 784,000,000 bytes from")
    target = copy("count-mismatch")
    write_idx(idx(target, "test", "labels"), np.zeros(99))
    cases["count mismatch"] = (target, "100 images but 99 labels")
    target = copy("label-11")
    write_idx(idx(target, "test", "labels"), np.full(100, 11))
    cases["label 11"] = (target, "label 11 is outside 0–9")
    images, labels = digit_arrays[1]
    npz = folder / "floats.npz"
    np.savez(npz, x_train=images.astype(np.float32), y_train=labels, x_test=images.astype(np.float32), y_test=labels)
    cases["npz float pixels"] = (npz, "has dtype float32, expected integers 0–255")
    npz = folder / "objects.npz"
    np.savez(npz, x_train=images, y_train=labels, x_test=images, y_test=np.array([{"a": 1}] * 100, dtype=object))
    cases["npz objects"] = (npz, "holds Python objects")
    npz = folder / "shape.npz"
    np.savez(npz, x_train=images, y_train=labels, x_test=images.reshape(100, 784), y_test=labels)
    cases["npz shape"] = (npz, "images have shape (100, 784)")
    return cases


@pytest.fixture(scope="module")
def damaged_sets(tmp_path_factory, idx_dir, digit_arrays):
    return _damaged_sets(idx_dir, tmp_path_factory.mktemp("damaged"), digit_arrays)


DATA_CASES = [
    "missing folder",
    "missing file",
    "truncated gz",
    "wrong magic",
    "wrong dims",
    "header claims more",
    "gz header claims more",
    "count mismatch",
    "label 11",
    "npz float pixels",
    "npz objects",
    "npz shape",
]


@pytest.mark.parametrize("case", DATA_CASES)
def test_bad_data_for_every_command(damaged_sets, model_file, previous_model, digit_arrays, no_training, case):
    path, words = damaged_sets[case]
    runs = {
        "model.py": run(train, ["--data", path, "--epochs", "1", "--output", previous_model[0]], prog_name="model.py"),
        "DigitChecker.py": run(
            check, ["--index", "1", "--data", path, "--model", model_file, "--no-plot"], prog_name="DigitChecker.py"
        ),
    }
    if "evaluate" in cli.commands:
        runs["evaluate"] = run(cli, ["evaluate", "--data", path, "--model", model_file, "--no-plot"])
    for name, result in runs.items():
        assert words in error_line(result, 1), name
    assert_intact(previous_model, digit_arrays)


def test_bundled_data_damaged(tmp_path, monkeypatch, model_file):
    from digitnet import data

    copy = tmp_path / "mnist"
    shutil.copytree(data._bundled_root(), copy)
    (copy / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not really")
    monkeypatch.setattr(data, "_bundled_root", lambda: copy)
    result = run(check, ["--index", "1", "--model", model_file, "--no-plot"], prog_name="DigitChecker.py")
    assert "t10k-images-idx3-ubyte.gz is damaged" in error_line(result, 1) and "reinstall digitnet" in result.stderr


# --------------------------------------------------------------------------- output


def test_output_problems_are_found_before_training(tmp_path, idx_dir, read_only_folder, monkeypatch, no_training):
    (tmp_path / "taken.keras").mkdir()
    (tmp_path / "m.keras.json").mkdir()
    cases = [
        (tmp_path / "no-such-folder" / "model.keras", "folder does not exist; create it or choose another --output"),
        (read_only_folder / "model.keras", "cannot write here"),
        (tmp_path / "taken.keras", "taken.keras: is a folder; give --output a file name instead"),
        (tmp_path / "m.keras", "m.keras.json: is a folder"),
    ]
    for output, words in cases:
        result = run(train, ["--data", idx_dir, "--epochs", "1", "--output", output], prog_name="model.py")
        assert words in error_line(result, 1), output
    monkeypatch.setattr("digitnet.files._free_bytes", lambda folder: 3_000_000)
    result = run(cli, ["train", "--data", idx_dir, "--output", tmp_path / "ok.keras"])
    assert "only 3.0 MB free on this disk" in error_line(result, 1)
    assert leftovers(tmp_path) == [] and leftovers(read_only_folder) == []


def test_output_not_keras_is_a_usage_error(tmp_path, no_training):
    result = run(train, ["--output", tmp_path / "model.h5"], prog_name="model.py")
    assert "must end in .keras" in error_line(result, 2)


def _fake_training(model_file):
    """Stand-in for train_model: a real small model, no epochs, so save problems are quick to test."""
    from digitnet.modelio import load_model
    from digitnet.train import TrainingResult

    def fake(dataset, *, arch, epochs, **kwargs):
        return TrainingResult(
            model=load_model(model_file),
            arch=arch,
            epochs=epochs,
            batch_size=32,
            learning_rate=0.001,
            seed=1,
            validation_split=0.1,
            history={"loss": [1.0], "accuracy": [0.5]},
            test_loss=1.0,
            test_accuracy=0.5,
            train_seconds=0.1,
        )

    return fake


def test_full_disk_while_saving_after_training(previous_model, idx_dir, model_file, digit_arrays, monkeypatch):
    monkeypatch.setattr("digitnet.train.train_model", _fake_training(model_file))
    fill_disk_after(monkeypatch, previous_model[0].parent, budget=4000)
    result = run(train, ["--data", idx_dir, "--arch", "linear", "--output", previous_model[0]], prog_name="model.py")
    line = error_line(result, 1)
    assert "No space left on device" in line and "free some disk space" in line and "previous file is unchanged" in line
    monkeypatch.undo()
    assert_intact(previous_model, digit_arrays)


def test_plot_problems_are_found_before_the_model_load(idx_dir, tmp_path):
    missing_model = tmp_path / "never-reached.keras"
    result = run(
        check, ["--index", "1", "--data", idx_dir, "--model", missing_model, "--plot", tmp_path / "nope" / "d.png"]
    )
    assert "folder does not exist" in error_line(result, 1)
    result = run(check, ["--index", "1", "--data", idx_dir, "--model", missing_model, "--plot", tmp_path / "d.docx"])
    assert "cannot save a figure as .docx" in error_line(result, 2)


# --------------------------------------------------------------------------- option values


@pytest.mark.parametrize(
    "args",
    [
        ["--epochs", "0"],
        ["--epochs", "-3"],
        ["--epochs", "ten"],
        ["--batch-size", "0"],
        ["--batch-size", "-32"],
        ["--validation-split", "1"],
        ["--validation-split", "1.5"],
        ["--validation-split", "-0.1"],
        ["--validation-split", "nan"],
        ["--learning-rate", "0"],
        ["--learning-rate", "nan"],
        ["--learning-rate", "-1"],
        ["--seed", "-1"],
        ["--seed", str(2**32)],
        ["--arch", "resnet"],
    ],
)
def test_bad_option_values_are_usage_errors(args, no_training):
    for command, prog in ((train, "model.py"), (cli, "digitnet")):
        full = args if command is train else ["train", *args]
        line = error_line(run(command, full, prog_name=prog), 2)
        assert "Invalid value for" in line


def test_validation_split_leaving_nothing_to_train_on(idx_dir, tmp_path, no_training):
    result = run(train, ["--data", idx_dir, "--validation-split", "0.999", "--output", tmp_path / "m.keras"])
    assert "leaves none of the 400 training images" in error_line(result, 2)


# --------------------------------------------------------------------------- the decorator itself


def test_unexpected_exception_is_one_line(monkeypatch, model_file):
    def explode(*args, **kwargs):
        raise RuntimeError("first line\nsecond line\n" + "x" * 1000)

    monkeypatch.setattr("digitnet.data.load_dataset", explode)
    line = error_line(run(check, ["--index", "1", "--model", model_file]), 1)
    assert line.startswith("Error: unexpected RuntimeError: first line") and "--debug" in line and len(line) < 300


def test_multi_line_digitnet_error_is_flattened(monkeypatch, model_file):
    def explode(*args, **kwargs):
        raise DigitnetError("what is wrong\n  and what to do")

    monkeypatch.setattr("digitnet.data.load_dataset", explode)
    assert error_line(run(check, ["--index", "1", "--model", model_file]), 1) == "Error: what is wrong and what to do"


def test_interrupt_and_terminate_inside_a_command(monkeypatch):
    for exc, code, word in ((KeyboardInterrupt(), 130, "interrupted"), (Terminated(), 143, "terminated")):

        def stop(*args, exc=exc, **kwargs):
            raise exc

        monkeypatch.setattr("digitnet.data.load_dataset", stop)
        result = run(check, ["--index", "1"])
        assert result.exit_code == code
        assert result.stderr == f"digitnet: {word}; no file was left half-written\n"


# --------------------------------------------------------------------------- the two scripts, for real


def script(name, *args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, str(ROOT / name), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_scripts_report_errors_in_one_line(tmp_path, idx_dir):
    # None of these needs TensorFlow, so they are quick: the checks come first.
    cases = [
        ("model.py", ["--epochs", "0"], 2, "Invalid value for '--epochs'"),
        ("model.py", ["--data", tmp_path / "nowhere", "--epochs", "1"], 1, "no such file or folder"),
        ("model.py", ["--output", tmp_path / "nope" / "m.keras"], 1, "folder does not exist"),
        ("DigitChecker.py", ["--index", "abc", "--data", idx_dir], 2, "index 'abc' is not a whole number"),
        ("DigitChecker.py", ["--index", "5", "--data", idx_dir], 1, "model.keras: no such model file"),
    ]
    for name, args, code, words in cases:
        done = script(name, *args, cwd=tmp_path)
        assert done.returncode == code, (name, args, done.stderr)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert words in lines[-1] and lines[-1].startswith("Error: "), lines
        assert len(lines) == (3 if code == 2 and lines[0].startswith("Usage:") else 1), lines
        assert done.stdout == ""


# --------------------------------------------------------------------------- pictures (predict, check --image)


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares a huge canvas: decoding it would need gigabytes."""
    import io
    import struct
    import zlib

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (1, 1), 255).save(buffer, format="PNG")
    raw = bytearray(buffer.getvalue())
    ihdr = raw.index(b"IHDR")
    raw[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    raw[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(raw[ihdr : ihdr + 17])))
    return bytes(raw)


@pytest.fixture(scope="module")
def bad_pictures(tmp_path_factory):
    from PIL import Image

    folder = tmp_path_factory.mktemp("pictures")
    (folder / "text.png").write_text("not a picture")
    (folder / "empty.png").write_bytes(b"")
    Image.new("L", (120, 120), 255).save(folder / "blank.png")
    (folder / "bomb.png").write_bytes(_png_claiming(30_000, 30_000))
    return {
        "not an image": (folder / "text.png", "is not an image"),
        "empty": (folder / "empty.png", "is empty"),
        "blank page": (folder / "blank.png", "no ink found"),
        "decompression bomb": (folder / "bomb.png", "refused"),
        "missing": (folder / "missing.png", "no such file"),
    }


@pytest.fixture(scope="module")
def odd_pictures(tmp_path_factory):
    from PIL import Image

    folder = tmp_path_factory.mktemp("odd")
    ink = np.full((60, 60), 255, np.uint8)
    ink[12:48, 27:33] = 0
    Image.fromarray(ink.astype(np.uint16) * 257).save(folder / "sixteen-bit.png")
    frames = [Image.fromarray(ink), Image.fromarray(255 - ink)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return [folder / "sixteen-bit.png", folder / "animated.gif"]


def _picture_commands(picture, model_file):
    commands = {}
    if "predict" in cli.commands:
        commands["predict"] = ["predict", picture, "--model", model_file]
    if any("--image" in p.opts for p in check.params):
        commands["check --image"] = ["check", "--image", picture, "--model", model_file, "--no-plot"]
    if not commands:
        pytest.skip("no command reads pictures yet")
    return commands


@pytest.mark.parametrize("case", ["not an image", "empty", "blank page", "decompression bomb", "missing"])
def test_bad_pictures(bad_pictures, model_file, case):
    picture, words = bad_pictures[case]
    for name, args in _picture_commands(picture, model_file).items():
        result = run(cli, args)
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (name, result.output)
        lines = result.stderr.splitlines()
        assert "Traceback" not in result.output and all(line.startswith("Error: ") for line in lines), (name, lines)
        # `predict` may add a summary line ("1 of 1 inputs could not be predicted") after the reason.
        assert lines[0].startswith(f"Error: {picture}: ") and words in lines[0], (name, lines)


def test_animated_and_16_bit_pictures_are_predicted(odd_pictures, model_file):
    for picture in odd_pictures:
        for name, args in _picture_commands(picture, model_file).items():
            result = run(cli, args)
            assert result.exit_code == 0 and result.stderr == "", (name, picture, result.output)
            assert re.search(r"\b\d \(\d+\.\d%\)", result.stdout), (name, result.stdout)
