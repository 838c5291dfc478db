"""A reader that stops early (`digitnet ... | head -1`) ends the command quietly."""

import os
import subprocess
import sys


def test_closed_stdout_pipe_gives_no_traceback(trained_model_path, idx_dir, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    cmd = [
        sys.executable,
        "-m",
        "digitnet",
        "check",
        "--no-plot",
        "--model",
        str(trained_model_path),
        "--data",
        str(idx_dir),
    ]
    # 3,000 answers at the prompt write far more than a pipe buffer holds, so the
    # command is certainly still writing when the reader goes away.
    stdin = tmp_path / "indices.txt"
    stdin.write_text("0\n" * 3000)
    with open(stdin) as answers:
        proc = subprocess.Popen(
            cmd, stdin=answers, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=env
        )
        first = proc.stdout.readline()
        proc.stdout.close()  # like `head -1`
        stderr = proc.stderr.read().decode()
        proc.wait(timeout=300)
    assert b"index 0: predicted" in first
    assert proc.returncode == 1
    assert stderr == "", stderr
