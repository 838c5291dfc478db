"""Side-by-side benchmark: the plain-Keras original recipe against `digitnet train`.

    python -m digitnet.bench [--repeat 3] [--epochs 10] [--rounds 5] [--data PATH] [--json FILE]

Every measured program runs in a fresh subprocess (so import time, memory peaks and
TensorFlow's thread pools do not leak from one run into the next), on the same
machine in the same invocation.  Training time is the training loop alone, all epochs:
the reference's `fit` call, and digitnet's `train_seconds` (its in-graph loop, the
per-epoch validation included); accuracy is measured again from the saved file,
independently of what training printed.

Then the commands that only *use* a model (check with and without its figure,
predict one picture, evaluate, draw's first answer), each timed in rounds beside
`python -c "import tensorflow"` and reported as a ratio to it; whether LiteRT and
Keras give the same probabilities for each design; and an int8 export's size and
accuracy against the float twin.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import click

# The original project's recipe, written the way its notebook did: batch 32, plain Adam.
REFERENCE_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    import keras
    from digitnet.data import load_dataset
    data = None if sys.argv[1] == "-" else sys.argv[1]
    epochs = int(sys.argv[2])
    ds = load_dataset(data)
    x_train, y_train = ds.train.images / 255.0, ds.train.labels
    x_test, y_test = ds.test.images / 255.0, ds.test.labels
    keras.utils.set_random_seed(1)
    model = keras.Sequential([
        keras.Input(shape=(28, 28)),
        keras.layers.Flatten(),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(256, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    seconds = time.perf_counter() - start
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    print(json.dumps({"train_seconds": seconds, "test_accuracy": float(acc), "train_examples": len(y_train)}))
    """
)

# Re-measures a saved model's test accuracy from the file, not from training's report.
ACCURACY_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from digitnet.check import predict_probabilities
    from digitnet.data import load_dataset
    from digitnet.modelio import load_model
    test = load_dataset(None if sys.argv[2] == "-" else sys.argv[2], splits=("test",)).test
    probs = predict_probabilities(load_model(sys.argv[1]), test.images)
    print(json.dumps({"test_accuracy": float((probs.argmax(1) == test.labels).mean())}))
    """
)

# Times evaluation of the whole test split once the model is in memory.
EVALUATE_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from digitnet.check import predict_probabilities
    from digitnet.data import load_dataset
    from digitnet.modelio import load_model
    model = load_model(sys.argv[1])
    test = load_dataset(None if sys.argv[2] == "-" else sys.argv[2], splits=("test",)).test
    predict_probabilities(model, test.images[:8])  # first call traces the graph
    try:
        from digitnet.evaluate import evaluate_model
    except ImportError:
        evaluate_model = None
    start = time.perf_counter()
    if evaluate_model is not None:
        evaluate_model(model, test)
    else:
        predict_probabilities(model, test.images)
    print(json.dumps({"evaluate_seconds": time.perf_counter() - start, "images": len(test)}))
    """
)

MATMUL_SCRIPT = textwrap.dedent(
    """
    import json, time
    import numpy as np
    n = 2048
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = np.random.default_rng(1).random((n, n), dtype=np.float32)
    a @ b
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t)
    print(json.dumps({"gflops": 2 * n ** 3 / best / 1e9}))
    """
)


def mlp_training_flops(train_examples: int, epochs: int, validation_examples: int = 0) -> float:
    """The arithmetic of training the mlp: matrix products only, 2 FLOPs per multiply-add.

    Per training example: the forward pass, the weight gradients of every layer (as many
    multiply-adds again) and the input gradients of every layer but the first (the
    pixels need none).  Validation images cost a forward pass.
    """
    layers = [(784, 256), (256, 256), (256, 10)]
    macs = sum(n_in * n_out for n_in, n_out in layers)
    first = layers[0][0] * layers[0][1]
    forward = 2 * macs
    training = forward + 2 * macs + 2 * (macs - first)
    return epochs * (training * train_examples + forward * validation_examples)


def child_env(**extra) -> dict:
    """The environment of every measured program: no TensorFlow log lines, no windows."""
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg", **extra)


def run(cmd, *, cwd=None) -> tuple[str, float, float]:
    """Run ``cmd``; return (stdout, wall seconds, the child's own peak resident memory in MB)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd, env=child_env(), text=True
        )
        # wait4, not wait: it returns this child's resource usage, peak memory included.
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(map(str, cmd))} failed ({proc.returncode}): {stderr.strip()[-500:]}")
    return stdout, seconds, usage.ru_maxrss / 1024


def last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no JSON result in output: {text[-300:]!r}")


def bench_reference(data_arg: str, epochs: int) -> dict:
    out, wall, peak = run([sys.executable, "-c", REFERENCE_SCRIPT, data_arg, str(epochs)])
    result = last_json(out)
    result.update(wall_seconds=wall, peak_mb=peak)
    return result


def bench_digitnet(data_arg: str, epochs: int, workdir: Path, arch: str = "mlp") -> dict:
    from .train import validation_size

    output = workdir / f"{arch}.keras"
    cmd = [
        sys.executable,
        "-m",
        "digitnet",
        "train",
        "--arch",
        arch,
        "--epochs",
        str(epochs),
        "--quiet",
        "--output",
        str(output),
    ]
    if data_arg != "-":
        cmd += ["--data", data_arg]
    _, wall, peak = run(cmd)
    meta = json.loads(Path(str(output) + ".json").read_text())
    accuracy = last_json(run([sys.executable, "-c", ACCURACY_SCRIPT, str(output), data_arg])[0])
    n_train = meta["data"]["train_examples"]
    n_val = validation_size(n_train, meta["validation_split"])
    return {
        "train_seconds": meta["train_seconds"],
        "test_accuracy": accuracy["test_accuracy"],
        "reported_test_accuracy": meta["test_accuracy"],
        "train_examples": n_train - n_val,
        "validation_examples": n_val,
        "wall_seconds": wall,
        "peak_mb": peak,
        "model": str(output),
    }


def time_command(cmd, *, repeat: int) -> float:
    return statistics.median(run(cmd)[1] for _ in range(repeat))


PROMPT_END = b"to quit): "


def time_prompt(cmd, *, indices: int = 21, cwd=None) -> list[float]:
    """Seconds from typing each index at the check prompt to the next prompt.

    The next prompt appears only once the answer is printed and the figure saved, so
    this is the wait a user sees.  Measured inside one process: the start-up (timed
    by the one-shot check) does not blur it.
    """
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
        env=child_env(PYTHONUNBUFFERED="1"),
    )

    def wait_for_prompt() -> None:
        seen = b""
        while not seen.endswith(PROMPT_END):
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(f"{shlex.join(map(str, cmd))} ended before its prompt: {seen[-300:]!r}")
            seen += chunk

    try:
        wait_for_prompt()  # the model is loaded
        times = []
        for index in range(42, 42 + indices):
            start = time.perf_counter()
            proc.stdin.write(b"%d\n" % index)
            proc.stdin.flush()
            wait_for_prompt()
            times.append(time.perf_counter() - start)
        proc.stdin.close()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return times


def median_of(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


@click.command(context_settings={"show_default": True})
@click.option("--repeat", type=click.IntRange(min=1), default=3, help="Runs of each measurement; medians are reported.")
@click.option("--epochs", type=click.IntRange(min=1), default=10, help="Epochs for both trainings.")
@click.option(
    "--data",
    type=click.Path(exists=True),
    default=None,
    help="Data as for `digitnet train --data` (default: bundled MNIST).",
)
@click.option("--cnn/--no-cnn", default=True, help="Also time `digitnet train --arch cnn` (once).")
@click.option(
    "--linear/--no-linear",
    default=True,
    help="Also train the linear design (once), to compare its LiteRT and Keras answers.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write all measurements to this JSON file.",
)
@click.option(
    "--rounds",
    type=click.IntRange(min=1),
    default=5,
    help="Rounds of the one-shot check and of the instant-answer commands, each beside `import tensorflow`; "
    "medians are reported.",
)
def main(repeat, epochs, data, cnn, linear, json_path, rounds):
    """Time the plain-Keras reference and digitnet side by side; print medians and ratios."""
    from .bench_answers import SAME_ANSWERS_SCRIPT, bench_instant_answers, bench_int8

    data_arg = str(Path(data).resolve()) if data else "-"
    results: dict = {"machine": _machine(), "epochs": epochs, "repeat": repeat}
    with tempfile.TemporaryDirectory(prefix="digitnet-bench-") as tmp:
        workdir = Path(tmp)
        reference, ours = [], []
        for i in range(repeat):  # interleaved, so drifts in machine load hit both alike
            click.echo(f"run {i + 1}/{repeat}: reference (plain Keras, batch 32) ...", err=True)
            reference.append(bench_reference(data_arg, epochs))
            click.echo(f"run {i + 1}/{repeat}: digitnet train ...", err=True)
            ours.append(bench_digitnet(data_arg, epochs, workdir))
        results["reference"], results["digitnet"] = reference, ours
        if cnn:
            click.echo("digitnet train --arch cnn ...", err=True)
            results["cnn"] = bench_digitnet(data_arg, epochs, workdir, arch="cnn")

        gflops = last_json(run([sys.executable, "-c", MATMUL_SCRIPT])[0])["gflops"]
        model = ours[-1]["model"]
        data_opts = [] if data_arg == "-" else ["--data", data_arg]
        script_dir = Path(__file__).resolve().parent.parent
        checker = (
            [sys.executable, str(script_dir / "DigitChecker.py")]
            if (script_dir / "DigitChecker.py").exists()
            else [sys.executable, "-m", "digitnet", "check"]
        )
        click.echo("start-up and checking times ...", err=True)
        results["help_seconds"] = time_command([sys.executable, "-m", "digitnet", "--help"], repeat=5)
        results["version_seconds"] = time_command([sys.executable, "-m", "digitnet", "--version"], repeat=5)
        # One-shot check against importing TensorFlow alone, interleaved so that drifts
        # in machine load hit both alike.
        one_shot = checker + ["--index", "42", "--model", model, *data_opts]
        pairs = [
            (run([sys.executable, "-c", "import tensorflow"])[1], run(one_shot, cwd=tmp)[1])
            for _ in range(max(repeat, rounds))
        ]
        results["import_tensorflow_seconds"] = statistics.median(p[0] for p in pairs)
        results["check_one_shot_seconds"] = statistics.median(p[1] for p in pairs)
        prompt_times = time_prompt(checker + ["--model", model, *data_opts], cwd=tmp)
        results["check_prompt_first_index_seconds"] = prompt_times[0]
        results["check_prompt_seconds_per_index"] = statistics.median(prompt_times[1:])
        evaluations = [
            last_json(run([sys.executable, "-c", EVALUATE_SCRIPT, model, data_arg])[0]) for _ in range(repeat)
        ]
        results["evaluate_seconds"] = median_of(evaluations, "evaluate_seconds")
        results["evaluate_images"] = evaluations[0]["images"]
        results["matmul_gflops"] = gflops

        designs = {"mlp": Path(model)}
        if linear:
            click.echo("digitnet train --arch linear (for the same-answers check) ...", err=True)
            designs["linear"] = Path(bench_digitnet(data_arg, epochs, workdir, arch="linear")["model"])
        if cnn:
            designs["cnn"] = Path(results["cnn"]["model"])
        results["same_answers"] = {
            arch: last_json(run([sys.executable, "-c", SAME_ANSWERS_SCRIPT, str(path), data_arg])[0])
            for arch, path in designs.items()
        }
        results["twin_export_seconds"] = json.loads(Path(model + ".json").read_text())["litert"]["export_seconds"]
        click.echo("instant answers: commands that only use a model, beside import tensorflow ...", err=True)
        results["instant"] = bench_instant_answers(Path(model), data_arg, workdir, rounds)
        click.echo("int8 export ...", err=True)
        results["int8"] = bench_int8(Path(model), data_arg, workdir)

    _report(results)
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2) + "\n")


def _machine() -> dict:
    info = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (OSError, ValueError):
        pass
    return info


def _report(r: dict) -> None:
    ref, ours = r["reference"], r["digitnet"]
    ref_t, our_t = median_of(ref, "train_seconds"), median_of(ours, "train_seconds")
    floor = mlp_training_flops(ours[0]["train_examples"], r["epochs"], ours[0]["validation_examples"]) / (
        r["matmul_gflops"] * 1e9
    )
    m = r["machine"]
    lines = [
        f"machine: {m.get('cpu', '?')}, {m['cpus']} cores, {m.get('memory_gb', '?')} GiB, Python {m['python']}",
        f"{r['epochs']} epochs on the same data, medians of {r['repeat']} runs:",
        f"{'':28}{'train s':>9}{'samples/s':>11}{'test acc':>10}{'peak MB':>9}",
    ]
    rows = [("reference (Keras, batch 32)", ref), ("digitnet train (mlp)", ours)]
    if "cnn" in r:
        rows.append(("digitnet train --arch cnn", [r["cnn"]]))
    for name, runs in rows:
        t = median_of(runs, "train_seconds")
        lines.append(
            f"{name:28}{t:9.2f}{runs[0]['train_examples'] * r['epochs'] / t:11,.0f}"
            f"{median_of(runs, 'test_accuracy'):10.2%}{median_of(runs, 'peak_mb'):9.0f}"
        )
    lines += [
        f"digitnet / reference training time: {our_t / ref_t:.3f}x  (target <= 0.10x)",
        (
            f"FLOP floor at {r['matmul_gflops']:.0f} GFLOP/s (float32 matmul): {floor:.2f} s -> "
            f"digitnet reaches {floor / our_t:.0%} of it"
        ),
        f"digitnet --help: {r['help_seconds']:.3f} s   --version: {r['version_seconds']:.3f} s  (target <= 0.3 s)",
        (
            f"import tensorflow: {r['import_tensorflow_seconds']:.2f} s   one-shot DigitChecker.py --index 42: "
            f"{r['check_one_shot_seconds']:.2f} s = "
            f"{r['check_one_shot_seconds'] / r['import_tensorflow_seconds']:.2f}x  (target <= 1.2x)"
        ),
        (
            f"interactive prompt: {r['check_prompt_seconds_per_index'] * 1000:.0f} ms per index, "
            "figure included, median"
            f" (the first: {r['check_prompt_first_index_seconds'] * 1000:.0f} ms)  (target <= 150 ms)"
        ),
        f"evaluate {r['evaluate_images']:,} images after loading: {r['evaluate_seconds']:.2f} s  (target <= 1.5 s)",
        f"LiteRT twin written in {r['twin_export_seconds']:.2f} s after training (not part of train_seconds)",
    ]
    for arch, same in r["same_answers"].items():
        lines.append(
            f"same answers, {arch}: max |LiteRT - Keras| {same['max_abs_diff']:.1e} (target <= 1e-5), "
            f"same digit for {same['same_digits']:,} of {same['images']:,}, "
            f"accuracy {same['litert_accuracy']:.2%} vs {same['keras_accuracy']:.2%}"
        )
    from .bench_answers import instant_lines

    lines += instant_lines(r["instant"], r["int8"])
    click.echo("\n".join(lines))


if __name__ == "__main__":
    main()
