"""The command line's surface: help, version, defaults shown, and a start-up that imports nothing heavy."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from digitnet import __version__
from digitnet.cli import cli

HEAVY_MODULES = ("tensorflow", "keras", "numpy", "matplotlib", "PIL")


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_help_lists_the_commands():
    result = invoke("--help")

    assert result.exit_code == 0
    assert "Usage: " in result.stdout
    assert "train" in result.stdout and "check" in result.stdout


def test_h_is_help_too():
    assert invoke("-h").stdout == invoke("--help").stdout


def test_version():
    result = invoke("--version")

    assert result.exit_code == 0
    assert result.stdout.strip() == f"digitnet, version {__version__}"


def test_train_help_shows_every_option_with_its_default():
    result = invoke("train", "--help")

    assert result.exit_code == 0
    text = " ".join(result.stdout.split())  # undo click's line wrapping
    for option in (
        "--arch",
        "--epochs",
        "--batch-size",
        "--seed",
        "--data",
        "--output",
        "--quiet",
        "--validation-split",
    ):
        assert option in text
    assert "[mlp|linear|cnn]" in text
    for default in ("default: mlp]", "default: 10;", "default: 1;", "default: 0.1;", "default: model.keras]"):
        assert default in text
    assert text.count("tuned per architecture") == 2  # batch size and learning rate
    assert "bundled" in text  # where --data comes from by default


def test_check_help_shows_every_option_with_its_default():
    result = invoke("check", "--help")

    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for option in ("--index", "--model", "--data", "--plot", "--no-plot", "--show"):
        assert option in text
    assert "default: model.keras]" in text
    assert "digit_INDEX.png" in text
    assert "prompt" in text  # says what happens without --index


def test_an_unknown_option_is_a_usage_error():
    result = invoke("train", "--epochz", "3")

    assert result.exit_code == 2
    assert "No such option" in result.stderr


def _quiet_env():
    env = dict(os.environ)
    for name in ("TF_CPP_MIN_LOG_LEVEL", "ABSL_MIN_LOG_LEVEL"):
        env.pop(name, None)
    return env


def test_help_imports_no_heavy_module():
    # Run in a fresh interpreter: in this one the other tests have imported everything.
    probe = (
        "import sys\n"
        "from digitnet.cli import main\n"
        "for argv in (['--help'], ['train', '--help'], ['check', '--help'], ['--version']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code == 0, (argv, exit.code)\n"
        f"heavy = [m for m in {HEAVY_MODULES!r} if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env=_quiet_env()
    )

    assert completed.returncode == 0, completed.stderr


@pytest.mark.skipif(shutil.which("digitnet") is None, reason="the digitnet console script is not installed")
def test_digitnet_help_answers_within_a_second():
    command = [shutil.which("digitnet"), "--help"]
    subprocess.run(command, capture_output=True, timeout=60)  # warm the file cache

    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, timeout=60, env=_quiet_env())
    elapsed = time.perf_counter() - start

    assert completed.returncode == 0 and "Usage: digitnet" in completed.stdout
    assert elapsed < 1.0, f"digitnet --help took {elapsed:.2f} s"
