"""Stopping a training run, and two runs at once: the previous model is never damaged.

These start `python model.py` as real processes (TensorFlow's import makes each cost
several seconds), so the processes of one test run side by side.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from faults import leftovers

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 180  # seconds until the first epoch ends, on a busy 2-core machine
# The runs to be stopped must outlast the tests before them: 1,000 epochs of the tiny set
# could end before the SIGTERM test sent its signal on a quiet machine (exit 0, seen in CI).
LONG_RUN_EPOCHS = 100_000


@pytest.fixture(scope="module")
def previous_model(tmp_path_factory):
    """A good model.keras + metadata, and what it predicts; copied into each test's folder."""
    from digitnet.backend import import_keras
    from digitnet.modelio import save_model
    from digitnet.models import build_model

    import_keras().utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("previous") / "model.keras"
    save_model(build_model("linear"), path, {"run": "previous"})
    return path


def predictions(path, images):
    from digitnet.check import predict_probabilities
    from digitnet.modelio import load_model

    return predict_probabilities(load_model(path), images)


def start_training(folder: Path, data: Path, *extra) -> subprocess.Popen:
    """`python model.py` in ``folder``, with Ctrl-C's default action even if our parent ignores it."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "model.py"),
            "--data",
            str(data),
            "--arch",
            "linear",
            "--batch-size",
            "32",
            *map(str, extra),
        ],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


class Output:
    """Collects a process's stdout in a thread and tells when a line containing ``marker`` appeared."""

    def __init__(self, process: subprocess.Popen, marker: str):
        self.lines: list[str] = []
        self.seen = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(process, marker), daemon=True)
        self._thread.start()

    def _read(self, process, marker):
        for line in process.stdout:
            self.lines.append(line)
            if marker in line:
                self.seen.set()

    def text(self) -> str:
        self._thread.join(timeout=30)
        return "".join(self.lines)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, idx_dir, previous_model):
    """All the training processes of this file, started at once so their slow starts overlap.

    "sigint"/"sigterm": long runs over a copy of the previous model, to be stopped;
    "race": two short runs writing the same model.keras.
    """
    started = {}
    for name in ("sigint", "sigterm"):
        folder = tmp_path_factory.mktemp(name)
        shutil.copy(previous_model, folder / "model.keras")
        shutil.copy(str(previous_model) + ".json", folder / "model.keras.json")
        process = start_training(folder, idx_dir, "--epochs", str(LONG_RUN_EPOCHS))
        # Keras ends each epoch's line (non-terminal output) with the loss.
        started[name] = (folder, process, Output(process, "loss"))
    race = tmp_path_factory.mktemp("race")
    started["race"] = (
        race,
        [start_training(race, idx_dir, "--epochs", "2", "--seed", str(seed), "--quiet") for seed in (1, 2)],
        None,
    )
    yield started
    for name in ("sigint", "sigterm"):
        if started[name][1].poll() is None:
            started[name][1].kill()
    for process in started["race"][1]:
        if process.poll() is None:
            process.kill()


@pytest.mark.parametrize(
    "signum, code, word",
    [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")],
    ids=["SIGINT", "SIGTERM"],
)
def test_signal_during_training_keeps_the_previous_model(runs, previous_model, digit_arrays, signum, code, word):
    folder, process, output = runs["sigint" if signum == signal.SIGINT else "sigterm"]
    if not output.seen.wait(START_TIMEOUT):
        process.kill()
        pytest.fail(f"no epoch finished in {START_TIMEOUT} s: {output.text()} {process.stderr.read()}")
    process.send_signal(signum)
    try:
        stderr = process.communicate(timeout=60)[1]
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("did not stop within 60 s of the signal")
    assert process.returncode == code, stderr
    assert stderr.splitlines() == [f"digitnet: {word}; no file was left half-written"]
    assert f"Epoch 1/{LONG_RUN_EPOCHS}" in output.text()
    assert (folder / "model.keras").read_bytes() == previous_model.read_bytes()
    assert (folder / "model.keras.json").read_bytes() == Path(str(previous_model) + ".json").read_bytes()
    images = digit_arrays[1][0][:10]
    np.testing.assert_allclose(predictions(folder / "model.keras", images), predictions(previous_model, images))
    assert leftovers(folder) == []
    assert sorted(p.name for p in folder.iterdir()) == ["model.keras", "model.keras.json"]


def test_two_trainings_writing_the_same_file(runs, digit_arrays):
    folder, processes, _ = runs["race"]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert "saved model.keras" in out
    model = folder / "model.keras"
    meta = json.loads((folder / "model.keras.json").read_text())
    # The pair is consistent: the metadata describes exactly the model file that won.
    assert meta["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert meta["seed"] in (1, 2) and meta["epochs"] == 2
    assert predictions(model, digit_arrays[1][0][:5]).shape == (5, 10)
    assert leftovers(folder) == []
