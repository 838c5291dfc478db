"""`digitnet train --logdir`: TensorBoard runs, read back from their event files."""

from __future__ import annotations

import datetime
import json
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from digitnet.cli import cli
from digitnet.tensorboard_run import new_run_dir

from faults import leftovers

RUN_NAME = re.compile(r"^m-(mlp|linear|cnn)-\d{8}-\d{6}$")


def read_run(run: Path):
    """A run's scalars, {(subfolder, tag): {step: value}}, and its hyperparameters, {name: value}."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import plugin_data_pb2

    scalars, hparams = {}, {}
    for events in sorted(run.rglob("events.out.tfevents.*")):
        folder = events.parent.relative_to(run).as_posix()
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data
                if plugin.plugin_name == "scalars":
                    scalars.setdefault((folder, value.tag), {})[event.step] = float(tf.make_ndarray(value.tensor))
                elif plugin.plugin_name == "hparams" and value.tag == "_hparams_/session_start_info":
                    start = plugin_data_pb2.HParamsPluginData.FromString(plugin.content).session_start_info
                    hparams = {name: getattr(v, v.WhichOneof("kind")) for name, v in start.hparams.items()}
    return scalars, hparams


def train(*args):
    return CliRunner().invoke(cli, ["train", *map(str, args)])


def one_error_line(result, exit_code=1) -> str:
    assert result.exit_code == exit_code, result.output
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr
    return result.stderr


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("training started although the run was bound to fail")

    monkeypatch.setattr("digitnet.train.train_model", refuse)


# --------------------------------------------------------------------------- what a run holds


def test_a_run_holds_every_epoch_the_learning_rate_the_test_results_and_the_settings(idx_dir, tmp_path):
    logdir = tmp_path / "runs"  # made by the run: its parent exists
    result = train(
        "--data",
        idx_dir,
        "--epochs",
        3,
        "--batch-size",
        32,
        "--seed",
        4,
        "--output",
        tmp_path / "m.keras",
        "--logdir",
        logdir,
    )
    assert result.exit_code == 0, result.output

    (run,) = logdir.iterdir()
    assert RUN_NAME.match(run.name) and run.name.startswith("m-mlp-")
    assert f"TensorBoard run: {run}" in result.stdout
    meta = json.loads((tmp_path / "m.keras.json").read_text())
    scalars, hparams = read_run(run)

    # Keras' callback: the same numbers as the saved history, one per epoch.
    for folder, prefix in (("train", ""), ("validation", "val_")):
        for metric in ("loss", "accuracy"):
            logged = scalars[(folder, f"epoch_{metric}")]
            assert list(logged) == [0, 1, 2], (folder, metric)
            assert list(logged.values()) == pytest.approx(meta["history"][prefix + metric], rel=1e-6)
    # The learning rate at the end of each epoch: cosine-decayed from the initial rate to 0.
    rates = list(scalars[("train", "epoch_learning_rate")].values())
    assert meta["learning_rate"] > rates[0] > rates[1] > rates[2] == pytest.approx(0, abs=1e-9)
    # tf.summary: the test results at the last epoch's step.
    assert scalars[(".", "test_accuracy")] == {2: pytest.approx(meta["test_accuracy"], rel=1e-6)}
    assert scalars[(".", "test_loss")] == {2: pytest.approx(meta["test_loss"], rel=1e-6)}
    assert hparams == {
        "arch": "mlp",
        "epochs": 3,
        "batch_size": 32,
        "seed": 4,
        "learning_rate": pytest.approx(meta["learning_rate"]),
        "validation_split": pytest.approx(0.1),
        "augment": False,
    }


def test_runs_of_two_designs_sit_side_by_side_under_one_logdir(idx_dir, tmp_path):
    logdir = tmp_path / "runs"
    logdir.mkdir()
    for arch, augment in (("linear", ()), ("mlp", ("--augment",))):
        result = train(
            *augment,
            "--data",
            idx_dir,
            "--arch",
            arch,
            "--epochs",
            1,
            "--validation-split",
            0,
            "--quiet",
            "--output",
            tmp_path / "m.keras",
            "--logdir",
            logdir,
        )
        assert result.exit_code == 0, result.output
        assert len(result.stdout.splitlines()) == 1  # --quiet: the result line only

    runs = sorted(logdir.iterdir(), key=lambda run: run.name)
    assert [run.name.split("-")[1] for run in runs] == ["linear", "mlp"] and all(RUN_NAME.match(r.name) for r in runs)
    for run in runs:
        scalars, hparams = read_run(run)
        assert hparams["arch"] == run.name.split("-")[1] and hparams["validation_split"] == 0
        assert hparams["augment"] == (hparams["arch"] == "mlp")  # the one run trained with --augment
        assert ("train", "epoch_accuracy") in scalars and (".", "test_accuracy") in scalars
        assert not any(folder == "validation" for folder, _ in scalars)  # nothing held out, nothing logged


def test_runs_started_in_the_same_second_get_folders_of_their_own(tmp_path):
    now = datetime.datetime(2026, 1, 2, 3, 4, 5)
    made = [new_run_dir(tmp_path / "runs", Path("out/model.keras"), "cnn", now=now) for _ in range(3)]
    assert [run.name for run in made] == [
        "model-cnn-20260102-030405",
        "model-cnn-20260102-030405-2",
        "model-cnn-20260102-030405-3",
    ]
    assert all(run.is_dir() and run.parent == tmp_path / "runs" for run in made)


def test_fit_and_the_in_graph_loop_write_the_same_summaries(dataset_arrays, tmp_path):
    # digitnet trains with its own loop (mirrored training with Keras' fit): Keras'
    # callback must log the same scalars, at the same epochs, from both.
    from digitnet.models import build_model, compile_model
    from digitnet.tensorboard_run import tensorboard_callback
    from digitnet.train import fit_in_graph

    x, y, validation = dataset_arrays
    logged = {}
    for how in ("fit", "loop"):
        model = build_model("linear")
        compile_model(model, learning_rate=1e-3, total_steps=2 * 7)
        loop = dict(
            batch_size=64,
            epochs=2,
            validation_data=validation,
            verbose=0,
            callbacks=[tensorboard_callback(tmp_path / how)],
        )
        if how == "fit":
            model.fit(x, y, **loop)
        else:
            fit_in_graph(model, x, y, seed=1, **loop)
        scalars, _ = read_run(tmp_path / how)
        logged[how] = {key: sorted(steps) for key, steps in scalars.items() if key[1].startswith("epoch_")}
    assert logged["loop"] == logged["fit"]
    assert {tag for _, tag in logged["loop"]} == {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}
    assert all(steps == [0, 1] for steps in logged["loop"].values())


@pytest.fixture
def dataset_arrays(idx_dir):
    from digitnet.data import load_dataset
    from digitnet.preprocess import to_model_input

    dataset = load_dataset(idx_dir)
    return (
        to_model_input(dataset.train.images),
        dataset.train.labels.astype("int32"),
        (to_model_input(dataset.test.images), dataset.test.labels.astype("int32")),
    )


# --------------------------------------------------------------------------- without --logdir, and bad ones


def test_without_logdir_no_callback_is_made_and_nothing_is_written(idx_dir, tmp_path, monkeypatch):
    import keras

    def refuse(*args, **kwargs):
        raise AssertionError("a TensorBoard callback was made without --logdir")

    monkeypatch.setattr(keras.callbacks.TensorBoard, "__init__", refuse)
    monkeypatch.chdir(tmp_path)
    result = train("--data", idx_dir, "--epochs", 1, "--output", "m.keras")

    assert result.exit_code == 0, result.output
    assert "TensorBoard" not in result.stdout
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["m.history.png", "m.keras", "m.keras.json", "m.tflite"]


def test_bad_logdirs_fail_before_training_with_one_line(idx_dir, tmp_path, read_only_folder, no_training):
    (tmp_path / "a-file").write_text("not a folder")
    cases = [
        (tmp_path / "a-file", "a-file: is not a folder; choose another --logdir"),
        (
            tmp_path / "no-such-folder" / "runs",
            "no-such-folder: folder does not exist; create it or choose another --logdir",
        ),
        (read_only_folder, "read-only: cannot write here"),
        (read_only_folder / "runs", "read-only: cannot write here"),
    ]
    for logdir, words in cases:
        result = train("--data", idx_dir, "--output", tmp_path / "m.keras", "--logdir", logdir)
        assert words in one_error_line(result), logdir
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "read-only"]
    assert list(read_only_folder.iterdir()) == [] and leftovers(tmp_path) == []


def test_without_the_tensorboard_package_logdir_says_how_to_install_it(idx_dir, tmp_path, monkeypatch, no_training):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # what `import tensorboard` finds when it is missing
    result = train("--data", idx_dir, "--output", tmp_path / "m.keras", "--logdir", tmp_path / "runs")

    message = one_error_line(result)
    assert "--logdir needs the tensorboard package" in message and "pip install tensorboard" in message
    assert list(tmp_path.iterdir()) == []
