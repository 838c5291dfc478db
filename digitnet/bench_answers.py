"""The benchmark's second half: commands that only *use* a model, and whether LiteRT answers like Keras.

Used by ``python -m digitnet.bench`` (see bench.py), which trains the models first.
Each command runs as a fresh process beside `python -c "import tensorflow"` in the
same round, so its ratio to that import is measured side by side.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from .bench import child_env, run

# The largest difference between the two runtimes' probabilities over the test split.
SAME_ANSWERS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from digitnet.check import predict_probabilities
    from digitnet.data import load_dataset
    from digitnet.modelio import load_model
    from digitnet.runtime import LiteRTRunner, load
    test = load_dataset(None if sys.argv[2] == "-" else sys.argv[2], splits=("test",)).test
    fast = load(sys.argv[1])
    assert isinstance(fast, LiteRTRunner), "no matching LiteRT twin"
    a = predict_probabilities(fast, test.images)
    b = predict_probabilities(load_model(sys.argv[1]), test.images)
    print(json.dumps({"max_abs_diff": float(abs(a - b).max()), "same_digits": int((a.argmax(1) == b.argmax(1)).sum()),
                      "images": len(test), "litert_accuracy": float((a.argmax(1) == test.labels).mean()),
                      "keras_accuracy": float((b.argmax(1) == test.labels).mean())}))
    """
)

# A test digit as a person's picture: dark ink on a larger white sheet, for `digitnet predict`.
PICTURE_SCRIPT = textwrap.dedent(
    """
    import sys
    from PIL import Image
    from digitnet.data import load_dataset
    test = load_dataset(None if sys.argv[2] == "-" else sys.argv[2], splits=("test",)).test
    Image.fromarray(255 - test.images[42]).resize((200, 200), Image.BILINEAR).save(sys.argv[1])
    """
)


def time_draw_first_answer(model, picture: Path, cwd) -> float:
    """Seconds from starting `digitnet draw` to the answer of its first /api/predict request."""
    import http.client
    import signal

    cmd = [sys.executable, "-m", "digitnet", "draw", "--model", str(model), "--port", "0", "--no-open"]
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
        env=child_env(PYTHONUNBUFFERED="1"),
        text=True,
    )
    try:
        line = proc.stdout.readline()
        if " at http://" not in line:
            raise RuntimeError(f"digitnet draw did not start: {line!r}")
        host_port = line.split(" at http://", 1)[1].split("/", 1)[0]
        conn = http.client.HTTPConnection(host_port, timeout=60)
        conn.request("POST", "/api/predict", body=picture.read_bytes(), headers={"Content-Type": "image/png"})
        response = conn.getresponse()
        response.read()
        seconds = time.perf_counter() - start
        conn.close()
        if response.status != 200:
            raise RuntimeError(f"digitnet draw answered {response.status}")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return seconds


def bench_instant_answers(model: Path, data_arg: str, workdir: Path, rounds: int) -> dict:
    """The commands that only use a model, each round beside `python -c "import tensorflow"`.

    Every round runs all of them once, one after another, so a busy moment on a shared
    machine slows the whole round rather than one command; medians over the rounds.
    """
    data_opts = [] if data_arg == "-" else ["--data", data_arg]
    picture = workdir / "one.png"
    run([sys.executable, "-c", PICTURE_SCRIPT, str(picture), data_arg])
    digitnet = [sys.executable, "-m", "digitnet"]
    commands = {
        "check_no_plot": digitnet + ["check", "--index", "42", "--no-plot", "--model", str(model), *data_opts],
        "check_figure": digitnet + ["check", "--index", "42", "--model", str(model), *data_opts],
        "predict_one": digitnet + ["predict", str(picture), "--model", str(model)],
        "evaluate_no_plot": digitnet + ["evaluate", "--no-plot", "--model", str(model), *data_opts],
    }
    script_dir = Path(__file__).resolve().parent.parent
    if (script_dir / "DigitChecker.py").exists():  # the very command the issue names
        checker = [sys.executable, str(script_dir / "DigitChecker.py")]
        commands["check_no_plot"] = checker + commands["check_no_plot"][4:]
        commands["check_figure"] = checker + commands["check_figure"][4:]
    seconds = {name: [] for name in ("import_tensorflow", *commands, "draw_first_answer")}
    peaks = {name: [] for name in ("import_tensorflow", *commands)}
    for _ in range(rounds):
        _, t, peak = run([sys.executable, "-c", "import tensorflow"])
        seconds["import_tensorflow"].append(t)
        peaks["import_tensorflow"].append(peak)
        for name, cmd in commands.items():
            _, t, peak = run(cmd, cwd=workdir)
            seconds[name].append(t)
            peaks[name].append(peak)
        seconds["draw_first_answer"].append(time_draw_first_answer(model, picture, workdir))
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    base = medians["import_tensorflow"]
    return {
        "rounds": rounds,
        "seconds": seconds,
        "median_seconds": medians,
        "ratio_to_import_tensorflow": {name: medians[name] / base for name in medians if name != "import_tensorflow"},
        "peak_mb": {name: statistics.median(values) for name, values in peaks.items()},
    }


def bench_int8(model: Path, data_arg: str, workdir: Path) -> dict:
    """`digitnet export --quantize int8` beside the float twin: size and test accuracy, both through LiteRT."""
    from .modelio import twin_path

    data_opts = [] if data_arg == "-" else ["--data", data_arg]
    int8 = workdir / (model.stem + ".int8.tflite")
    run(
        [
            sys.executable,
            "-m",
            "digitnet",
            "export",
            str(model),
            "--quantize",
            "int8",
            "--output",
            str(int8),
            *data_opts,
        ]
    )
    accuracy = {}
    for name, path in (("float", twin_path(model)), ("int8", int8)):
        out = run(
            [sys.executable, "-m", "digitnet", "evaluate", "--model", str(path), "--no-plot", "--json", *data_opts]
        )[0]
        accuracy[name] = json.loads(out)["accuracy"]
    sizes = {"float": twin_path(model).stat().st_size, "int8": int8.stat().st_size}
    return {
        "bytes": sizes,
        "accuracy": accuracy,
        "size_ratio": sizes["int8"] / sizes["float"],
        "accuracy_drop_points": 100 * (accuracy["float"] - accuracy["int8"]),
    }


INSTANT_TARGETS = {
    "check_no_plot": ("one-shot DigitChecker.py --index 42 --no-plot", 0.10),
    "check_figure": ("the same with its figure", 0.25),
    "predict_one": ("digitnet predict one.png", 0.15),
    "evaluate_no_plot": ("digitnet evaluate --no-plot (all test images)", 0.20),
    "draw_first_answer": ("digitnet draw: start to first answer", 0.30),
}


def instant_lines(instant: dict, int8: dict) -> list[str]:
    base = instant["median_seconds"]["import_tensorflow"]
    lines = [
        f"instant answers, medians of {instant['rounds']} rounds; "
        f"import tensorflow: {base:.2f} s, {instant['peak_mb']['import_tensorflow']:.0f} MB"
    ]
    for name, (label, target) in INSTANT_TARGETS.items():
        seconds = instant["median_seconds"][name]
        lines.append(f"  {label:48}{seconds:6.2f} s = {seconds / base:.3f}x  (target <= {target:.2f}x)")
    lines.append(
        f"  peak memory of a one-shot check: {instant['peak_mb']['check_no_plot']:.0f} MB, "
        f"with its figure {instant['peak_mb']['check_figure']:.0f} MB  (target <= 150 MB)"
    )
    lines.append(
        f"int8 export: {int8['bytes']['int8']:,} bytes = {int8['size_ratio']:.2f}x "
        f"the float twin's {int8['bytes']['float']:,} (target <= 0.3x); "
        f"test accuracy {int8['accuracy']['int8']:.2%} vs {int8['accuracy']['float']:.2%}, "
        f"{int8['accuracy_drop_points']:.2f} points lower (target <= 0.3)"
    )
    return lines
