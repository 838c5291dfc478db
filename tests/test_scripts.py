"""model.py and DigitChecker.py end to end, as a user runs them: separate processes, real stdout/stderr.

Each run costs seconds (TensorFlow's import), so there are three.  TensorFlow's log
settings are removed from the environment: the scripts must keep its noise away
from the user by themselves.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
RESULT_LINE = re.compile(r"index (\d+): predicted (\d) \((\d+\.\d)%\) · true (\d) · (correct|WRONG)")
# What TensorFlow/absl print at start-up when nobody silences them.
NOISE = re.compile(r"onednn|cuda|absl|tensorflow|cpu_feature_guard|^[IWEF]\d{4} ", re.I | re.M)


def run_script(script: str, *args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP_", "ABSL_"))}
    env["MPLBACKEND"] = "Agg"
    return subprocess.run(
        [sys.executable, str(REPO / script), *args],
        cwd=cwd,
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_no_tensorflow_noise(stderr: str) -> None:
    assert not NOISE.search(stderr), stderr


def test_model_py_trains_and_saves_model_keras_in_the_cwd(idx_dir, tmp_path):
    completed = run_script("model.py", "--data", str(idx_dir), "--epochs", "1", cwd=tmp_path)

    assert completed.returncode == 0, completed.stderr
    assert re.search(r"^\d+/\d+ - .*accuracy: .* - loss: ", completed.stdout, re.M), completed.stdout
    assert re.search(r"test accuracy \d+\.\d\d% .*saved model\.keras", completed.stdout), completed.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.history.png",
        "model.keras",
        "model.keras.json",
        "model.tflite",
    ]
    assert json.loads((tmp_path / "model.keras.json").read_text())["epochs"] == 1
    assert_no_tensorflow_noise(completed.stderr)
    assert completed.stderr == ""


def copy_model_files(model: Path, target: Path) -> None:
    """The model as training leaves it: .keras, its metadata and its LiteRT twin."""
    shutil.copy(model, target)
    shutil.copy(f"{model}.json", f"{target}.json")
    shutil.copy(model.with_suffix(".tflite"), target.with_suffix(".tflite"))


def test_digitchecker_py_checks_an_index_with_model_keras_from_the_cwd(trained_model_path, idx_dir, tmp_path):
    copy_model_files(trained_model_path, tmp_path / "model.keras")

    completed = run_script("DigitChecker.py", "--index", "7", "--data", str(idx_dir), cwd=tmp_path)

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert RESULT_LINE.fullmatch(lines[0]) and lines[0].startswith("index 7: ")
    assert lines[1:] == ["figure: digit_7.png"]
    with Image.open(tmp_path / "digit_7.png") as figure:
        assert figure.format == "PNG"
    assert_no_tensorflow_noise(completed.stderr)
    assert completed.stderr == ""


def test_digitchecker_py_prompt_reads_indices_from_stdin(trained_model_path, idx_dir, tmp_path):
    model = tmp_path / "elsewhere.keras"
    copy_model_files(trained_model_path, model)

    completed = run_script(
        "DigitChecker.py", "--model", str(model), "--data", str(idx_dir), "--no-plot", cwd=tmp_path, stdin="3\nabc\n5\n"
    )

    assert completed.returncode == 0, completed.stderr
    assert [int(m.group(1)) for m in RESULT_LINE.finditer(completed.stdout)] == [3, 5]
    assert_no_tensorflow_noise(completed.stderr)
    assert completed.stderr.startswith("Error: index 'abc' is not a whole number")
    assert len(completed.stderr.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere.keras", "elsewhere.keras.json", "elsewhere.tflite"]
