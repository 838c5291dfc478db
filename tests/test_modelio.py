"""Model files: saved whole with metadata, loaded only in safe mode, every bad file refused in one line."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from digitnet import modelio
from digitnet.check import predict_probabilities
from digitnet.errors import DigitnetError, UsageError
from digitnet.modelio import check_model_output, find_code, load_model, metadata_path, read_metadata, save_model

from faults import fill_disk_after, leftovers

PACKAGE = Path(__file__).resolve().parent.parent / "digitnet"


@pytest.fixture(scope="module")
def keras():
    from digitnet.backend import import_keras

    return import_keras()


def small_model(keras, *, input_shape=(28, 28), units=10, lambda_layer=False, outputs=1):
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    if lambda_layer:
        x = keras.layers.Lambda(lambda t: t * 2.0, output_shape=(int(np.prod(input_shape)),))(x)
    heads = [keras.layers.Dense(units, activation="softmax")(x) for _ in range(outputs)]
    return keras.Model(inputs, heads if outputs > 1 else heads[0])


@pytest.fixture(scope="module")
def good_model_file(tmp_path_factory, keras):
    path = tmp_path_factory.mktemp("good") / "model.keras"
    keras.utils.set_random_seed(0)
    save_model(small_model(keras), path, {"architecture": "test"})
    return path


@pytest.fixture(scope="module")
def digits():
    return np.random.default_rng(1).integers(0, 256, (8, 28, 28), dtype=np.uint8)


def rewritten(src: Path, dst: Path, member: str, change) -> Path:
    """A copy of the .keras archive ``src`` with one member's bytes changed by ``change``."""
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w") as new:
        for name in old.namelist():
            content = old.read(name)
            new.writestr(name, change(content) if name == member else content)
    return dst


def edit_config(edit):
    def change(raw):
        config = json.loads(raw)
        edit(config)
        return json.dumps(config).encode()

    return change


def error_for(path) -> str:
    with pytest.raises(DigitnetError) as info:
        load_model(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    return message


# --------------------------------------------------------------------------- round trip


def test_save_and_load_round_trip_with_metadata(good_model_file, digits, keras):
    model = load_model(good_model_file)
    again = load_model(good_model_file)
    np.testing.assert_allclose(predict_probabilities(model, digits), predict_probabilities(again, digits))
    meta = read_metadata(good_model_file)
    assert meta["architecture"] == "test"
    assert meta["model_sha256"] == hashlib.sha256(good_model_file.read_bytes()).hexdigest()
    assert leftovers(good_model_file.parent) == []


def test_resaving_keeps_permissions_and_replaces_both_files(tmp_path, keras):
    path = tmp_path / "m.keras"
    save_model(small_model(keras), path, {"run": 1})
    path.chmod(0o640)
    save_model(small_model(keras), path, {"run": 2})
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert read_metadata(path)["run"] == 2
    assert read_metadata(path)["model_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_read_metadata_tolerates_missing_or_broken_json(tmp_path):
    assert read_metadata(tmp_path / "none.keras") == {}
    metadata_path(tmp_path / "x.keras").write_text("{not json")
    assert read_metadata(tmp_path / "x.keras") == {}
    metadata_path(tmp_path / "y.keras").write_text("[1, 2]")
    assert read_metadata(tmp_path / "y.keras") == {}


# --------------------------------------------------------------------------- files that are not models


def test_missing_folder_empty_random_truncated(tmp_path, good_model_file):
    assert "no such model file; train one with `python model.py`" in error_for(tmp_path / "missing.keras")
    assert "is a folder, not a .keras model file" in error_for(tmp_path)
    (tmp_path / "empty.keras").write_bytes(b"")
    assert "is empty (0 bytes)" in error_for(tmp_path / "empty.keras")
    (tmp_path / "random.keras").write_bytes(np.random.default_rng(0).bytes(5000))
    assert "is not a Keras model (a .keras file is a zip archive)" in error_for(tmp_path / "random.keras")
    raw = good_model_file.read_bytes()
    for cut in (len(raw) // 3, len(raw) - 30):
        (tmp_path / "cut.keras").write_bytes(raw[:cut])
        assert "truncated or damaged" in error_for(tmp_path / "cut.keras")


def test_special_file_is_refused_without_reading_it(tmp_path):
    os.mkfifo(tmp_path / "pipe.keras")
    assert "is not a regular file" in error_for(tmp_path / "pipe.keras")


def test_damaged_member_fails_crc(tmp_path, good_model_file):
    raw = bytearray(good_model_file.read_bytes())
    with zipfile.ZipFile(good_model_file) as z:
        info = z.getinfo("model.weights.h5")
    offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + info.compress_size // 2
    raw[offset] ^= 0xFF
    (tmp_path / "flipped.keras").write_bytes(bytes(raw))
    assert "damaged" in error_for(tmp_path / "flipped.keras")


def test_zip_that_is_not_a_model_and_wrong_suffix(tmp_path, good_model_file):
    with zipfile.ZipFile(tmp_path / "photos.keras", "w") as z:
        z.writestr("a.txt", "hello")
    assert "is a zip archive but not a Keras model (no config.json)" in error_for(tmp_path / "photos.keras")
    renamed = tmp_path / "model.zip"
    renamed.write_bytes(good_model_file.read_bytes())
    assert "Keras reads models only from files named *.keras; rename it" in error_for(renamed)


def test_legacy_h5_model(tmp_path, keras):
    path = tmp_path / "old.h5"
    small_model(keras).save(path)
    assert "is a legacy HDF5 (.h5) model" in error_for(path)
    renamed = tmp_path / "old.keras"
    path.rename(renamed)
    assert "re-save it with model.save('model.keras')" in error_for(renamed)


def test_savedmodel_folder(tmp_path, keras):
    folder = tmp_path / "exported"
    small_model(keras).export(folder, verbose=False)
    assert (folder / "saved_model.pb").exists()
    assert "is a TensorFlow SavedModel folder" in error_for(folder)


def test_archive_claiming_gigabytes_is_refused_unread(tmp_path, good_model_file, monkeypatch):
    monkeypatch.setattr(modelio, "MAX_MODEL_BYTES", 1000)
    assert "far more than a digit classifier" in error_for(good_model_file)


# --------------------------------------------------------------------------- configs Keras cannot or must not read


def test_unknown_layer_class_from_another_keras(tmp_path, good_model_file):
    def newer(config):
        config["config"]["layers"][1]["class_name"] = "HyperFlatten"

    path = rewritten(good_model_file, tmp_path / "newer.keras", "config.json", edit_config(newer))
    path = rewritten(path, tmp_path / "newer2.keras", "metadata.json", lambda raw: b'{"keras_version": "9.9.9"}')
    message = error_for(path)
    assert "uses a layer or function this Keras" in message and "saved by Keras 9.9.9" in message
    assert "HyperFlatten" in message


@pytest.mark.parametrize("garbage", [b"\x00\xff garbage", b"[1, 2, 3]", b'{"a": 1}', b"[" * 100_000])
def test_unreadable_config(tmp_path, good_model_file, garbage):
    path = rewritten(good_model_file, tmp_path / "garbage.keras", "config.json", lambda raw: garbage)
    assert "its config.json is not a Keras model config" in error_for(path)


def test_weights_that_do_not_fit_the_layers(tmp_path, good_model_file, keras):
    other = tmp_path / "other.keras"
    small_model(keras, units=10, input_shape=(14, 56)).save(other)
    small = tmp_path / "bigger.keras"
    inputs = keras.Input((28, 28))
    keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Dense(20)(keras.layers.Flatten()(inputs)))).save(small)
    with zipfile.ZipFile(small) as z:
        weights = z.read("model.weights.h5")
    path = rewritten(good_model_file, tmp_path / "mismatch.keras", "model.weights.h5", lambda raw: weights)
    assert "cannot be loaded by Keras" in error_for(path)
    path = rewritten(good_model_file, tmp_path / "junkweights.keras", "model.weights.h5", lambda raw: b"junk" * 100)
    assert "cannot be loaded by Keras" in error_for(path)


# --------------------------------------------------------------------------- code in model files: refused


def test_lambda_layer_is_refused_by_safe_mode_with_the_reason(tmp_path, keras):
    path = tmp_path / "lambda.keras"
    small_model(keras, lambda_layer=True).save(path)
    message = error_for(path)
    assert "refused: it contains a Lambda layer" in message
    assert "code that would run when the model is loaded" in message and "safe mode" in message


def test_lambda_hidden_from_our_scan_is_still_refused_by_keras_safe_mode(tmp_path, keras, monkeypatch):
    path = tmp_path / "lambda.keras"
    small_model(keras, lambda_layer=True).save(path)
    monkeypatch.setattr(modelio, "find_code", lambda config: None)
    message = error_for(path)
    assert "refused: it contains a Lambda layer or other code" in message and "safe mode" in message


@pytest.mark.parametrize(
    "edit, reason",
    [
        (lambda layer: layer.update(module="os", class_name="system"), "a reference to module 'os'"),
        (lambda layer: layer.update(module="__main__"), "a reference to module '__main__'"),
        (lambda layer: layer.update(registered_name="Evil>Flatten"), "the custom object 'Evil>Flatten'"),
        (
            lambda layer: layer["config"].update(
                activation={"module": "subprocess", "class_name": "function", "config": "run"}
            ),
            "a reference to module 'subprocess'",
        ),
        (lambda layer: layer.update(class_name="TFSMLayer"), "a TFSMLayer layer"),
    ],
)
def test_references_to_code_outside_keras_are_refused(tmp_path, good_model_file, edit, reason):
    def inject(config):
        edit(config["config"]["layers"][1])

    path = rewritten(good_model_file, tmp_path / "injected.keras", "config.json", edit_config(inject))
    message = error_for(path)
    assert f"refused: it contains {reason}" in message


def test_find_code_accepts_every_digitnet_architecture(tmp_path):
    from digitnet.models import ARCHITECTURES, build_model

    for arch in ARCHITECTURES:
        path = tmp_path / f"{arch}.keras"
        build_model(arch).save(path)
        with zipfile.ZipFile(path) as z:
            assert find_code(json.loads(z.read("config.json"))) is None
        load_model(path)


def test_no_way_to_turn_safe_mode_off():
    from digitnet.cli import cli

    for name, command in cli.commands.items():
        for param in command.params:
            assert not re.search(r"safe|unsafe|trust|allow", " ".join(param.opts + [param.name or ""]), re.I), (
                name,
                param.opts,
            )
    for source in PACKAGE.rglob("*.py"):
        text = source.read_text()
        assert "safe_mode=False" not in text, source
        assert "enable_unsafe_deserialization" not in text, source


# --------------------------------------------------------------------------- models that are not digit classifiers


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_shape": (32, 32)}, "takes inputs of shape (32, 32), not 28×28 images"),
        ({"units": 5}, "outputs shape (5,), not ten digit classes"),
        ({"outputs": 2}, "has 1 inputs and 2 outputs"),
    ],
)
def test_models_of_the_wrong_shape(tmp_path, keras, kwargs, message):
    path = tmp_path / "wrong.keras"
    small_model(keras, **kwargs).save(path)
    assert message in error_for(path)


def test_input_of_784_values_in_any_shape_is_accepted(tmp_path, keras, digits):
    path = tmp_path / "flat.keras"
    small_model(keras, input_shape=(784,)).save(path)
    assert predict_probabilities(load_model(path), digits).shape == (8, 10)


@pytest.mark.filterwarnings("ignore:You are saving a model that has not yet been built")
def test_unbuilt_sequential_model(tmp_path, keras):
    path = tmp_path / "seq.keras"
    keras.Sequential([keras.layers.Dense(10)]).save(path)
    assert "has 0 inputs and 0 outputs; digitnet needs a model with one of each" in error_for(path)


# --------------------------------------------------------------------------- saving safely


def test_check_model_output(tmp_path, monkeypatch):
    with pytest.raises(UsageError, match="must end in .keras, e.g. --output model.keras"):
        check_model_output(tmp_path / "model.h5")
    (tmp_path / "model.keras.json").mkdir()
    with pytest.raises(DigitnetError, match="model.keras.json: is a folder"):
        check_model_output(tmp_path / "model.keras")
    (tmp_path / "m.history.png").mkdir()
    with pytest.raises(DigitnetError, match="m.history.png: is a folder"):
        check_model_output(tmp_path / "m.keras")
    monkeypatch.setattr("digitnet.files._free_bytes", lambda folder: 5 << 20)
    with pytest.raises(DigitnetError, match="only 5.2 MB free"):
        check_model_output(tmp_path / "ok.keras")


def test_full_disk_while_saving_keeps_the_previous_model(tmp_path, keras, digits, monkeypatch):
    path = tmp_path / "model.keras"
    save_model(small_model(keras), path, {"run": "old"})
    before = predict_probabilities(load_model(path), digits)
    fill_disk_after(monkeypatch, tmp_path, budget=1000)
    with pytest.raises(DigitnetError) as info:
        save_model(small_model(keras), path, {"run": "new"})
    assert str(info.value).startswith(f"{path}: could not be written (No space left on device); free some disk space")
    monkeypatch.undo()
    np.testing.assert_allclose(predict_probabilities(load_model(path), digits), before)
    assert read_metadata(path)["run"] == "old"
    assert leftovers(tmp_path) == []


def test_keras_wrapping_a_disk_error_is_still_reported_as_one(tmp_path, keras, monkeypatch):
    model = small_model(keras)

    def failing_save(filepath, *args, **kwargs):
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as exc:
            raise ValueError("could not write the weights") from exc

    monkeypatch.setattr(model, "save", failing_save)
    with pytest.raises(DigitnetError, match="No space left on device"):
        save_model(model, tmp_path / "m.keras")
    assert not (tmp_path / "m.keras").exists() and leftovers(tmp_path) == []


def test_read_only_folder_when_saving(read_only_folder, keras):
    with pytest.raises(DigitnetError, match="cannot write here"):
        save_model(small_model(keras), read_only_folder / "m.keras")


def test_real_full_disk_and_read_only_mount(tiny_disk, keras, digits):
    """The same failures on a real 4 MB file system: ENOSPC mid-save, then EROFS."""
    import subprocess

    path = tiny_disk / "model.keras"
    save_model(small_model(keras), path, {"run": "old"})
    before = predict_probabilities(load_model(path), digits)
    inputs = keras.Input((28, 28))
    eight_megabytes = keras.Model(
        inputs, keras.layers.Dense(10)(keras.layers.Dense(2500)(keras.layers.Flatten()(inputs)))
    )
    with pytest.raises(DigitnetError, match="could not be written \\(No space left on device\\); free some disk space"):
        save_model(eight_megabytes, path, {"run": "new"})
    np.testing.assert_allclose(predict_probabilities(load_model(path), digits), before)
    assert read_metadata(path)["run"] == "old" and leftovers(tiny_disk) == []
    assert subprocess.run(["mount", "-o", "remount,ro", str(tiny_disk)]).returncode == 0
    with pytest.raises(DigitnetError, match="cannot write here \\(Read-only file system\\)"):
        check_model_output(path)
    np.testing.assert_allclose(predict_probabilities(load_model(path), digits), before)
