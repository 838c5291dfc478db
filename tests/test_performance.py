"""Issue 4: the fast paths, the GPU strategy selection, quiet logs and the benchmark."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from two_cpus import run_on_two_cpus

from digitnet.backend import replica_devices

ROOT = Path(__file__).resolve().parent.parent


def _env(**extra):
    env = dict(os.environ, MPLBACKEND="Agg", **extra)
    return env


def test_one_gpu_or_none_uses_default_placement():
    assert replica_devices([]) is None
    assert replica_devices(["/device:GPU:0"]) is None


def test_several_gpus_are_mirrored():
    gpus = ["/device:GPU:0", "/device:GPU:1", "/device:GPU:2"]
    assert replica_devices(iter(gpus)) == gpus


def test_mirrored_training_runs_over_two_logical_cpus(idx_dir):
    # No GPU here: split the CPU into two logical devices so MirroredStrategy really
    # runs the replicated path (variables mirrored, batches split, gradients summed).
    out = run_on_two_cpus(
        f"""
        assert len(devices) == 2, devices
        result = train_model(load_dataset({str(idx_dir)!r}), epochs=1, verbose=0, devices=devices)
        strategy = result.model.distribute_strategy
        print(type(strategy).__name__, strategy.num_replicas_in_sync, result.test_accuracy)
        """
    )
    assert out.returncode == 0, out.stderr[-2000:]
    name, replicas, accuracy = out.stdout.split()
    assert name == "MirroredStrategy" and replicas == "2"
    assert 0.0 <= float(accuracy) <= 1.0


def test_tensorflow_log_noise_hidden_by_default_and_shown_with_verbose(trained_model_path, idx_dir, tmp_path):
    env = _env()
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    cmd = [
        sys.executable,
        "-m",
        "digitnet",
        "check",
        "--index",
        "0",
        "--no-plot",
        "--model",
        str(trained_model_path),
        "--data",
        str(idx_dir),
    ]
    quiet = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == ""
    loud = subprocess.run(cmd + ["--verbose"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert loud.returncode == 0, loud.stderr
    assert loud.stderr.strip() != ""  # TensorFlow's own start-up lines (oneDNN, CUDA, CPU)


def test_benchmark_runs_side_by_side_and_reports_every_figure(idx_dir, tmp_path):
    out_json = tmp_path / "bench.json"
    cmd = [
        sys.executable,
        "-m",
        "digitnet.bench",
        "--repeat",
        "1",
        "--epochs",
        "1",
        "--data",
        str(idx_dir),
        "--no-cnn",
        "--no-linear",
        "--rounds",
        "1",
        "--json",
        str(out_json),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "digitnet / reference training time" in out.stdout
    assert "FLOP floor" in out.stdout
    results = json.loads(out_json.read_text())
    for key in (
        "help_seconds",
        "import_tensorflow_seconds",
        "check_one_shot_seconds",
        "check_prompt_seconds_per_index",
        "check_prompt_first_index_seconds",
        "evaluate_seconds",
        "matmul_gflops",
    ):
        assert results[key] > 0, key
    ref, ours = results["reference"][0], results["digitnet"][0]
    assert ref["train_seconds"] > 0 and ours["train_seconds"] > 0
    assert 0 <= ours["test_accuracy"] <= 1 and ours["peak_mb"] > 50
    # The instant answers: every command beside import tensorflow, through the LiteRT twin.
    assert "instant answers" in out.stdout and "int8 export" in out.stdout
    ratios = results["instant"]["ratio_to_import_tensorflow"]
    assert set(ratios) == {"check_no_plot", "check_figure", "predict_one", "evaluate_no_plot", "draw_first_answer"}
    assert all(0 < ratio < 1 for ratio in ratios.values()), ratios  # none of them boots TensorFlow
    assert results["instant"]["peak_mb"]["check_no_plot"] < results["instant"]["peak_mb"]["import_tensorflow"]
    for same in results["same_answers"].values():
        assert same["max_abs_diff"] <= 1e-5 and same["same_digits"] == same["images"]
    assert results["int8"]["size_ratio"] < 0.5 and results["twin_export_seconds"] > 0


def test_the_flop_floor_counts_the_mlps_matrix_products():
    from digitnet.bench import mlp_training_flops

    macs = 784 * 256 + 256 * 256 + 256 * 10  # 268,800 multiply-adds per image, forward
    # forward + weight gradients + input gradients of the two upper layers
    assert mlp_training_flops(1, 1) == 2 * macs + 2 * macs + 2 * (256 * 256 + 256 * 10)
    assert mlp_training_flops(0, 1, validation_examples=1) == 2 * macs
    assert mlp_training_flops(60_000, 10) == pytest.approx(0.727e12, rel=1e-3)
