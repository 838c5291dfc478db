"""Importing TensorFlow/Keras quietly, and only when a command needs it."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile

# 3 hides TensorFlow's C++ INFO/WARNING/ERROR start-up lines (oneDNN, CUDA probing,
# CPU features), which are noise for this tool; real failures still raise in Python.
QUIET_LOG_LEVEL = "3"


def configure_logging(verbose: bool = False) -> None:
    """Silence TensorFlow's log noise unless asked for or the user chose a level.

    Must run before TensorFlow is first imported: the C++ logger reads the
    environment once.
    """
    if verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0")
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_LOG_LEVEL)
    # Keras' own Python-side warnings go through absl; keep those quiet too.
    if not verbose:
        os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def _quiet_native_stderr():
    """Send file descriptor 2 to a temporary file while TensorFlow's native code loads.

    TensorFlow 2.21 logs through absl before its logger is configured, so
    TF_CPP_MIN_LOG_LEVEL cannot silence its start-up lines.  If the import fails,
    what was captured is written back so the real error is not lost.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except Exception:  # not KeyboardInterrupt/SIGTERM: a user who stops us needs no log dump
            os.dup2(saved, 2)
            capture.seek(0)
            os.write(2, capture.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@contextlib.contextmanager
def quiet_native_logs():
    """Hide what native code (LiteRT's delegate notice, the converter's statistics) prints on fd 2, unless --verbose."""
    configure_logging()
    if verbose_requested():
        yield
        return
    with _quiet_native_stderr():
        yield


def import_keras():
    """Return the keras module, importing TensorFlow quietly on first use."""
    configure_logging()
    if "keras" in sys.modules or verbose_requested():
        import keras as _keras
    else:
        with _quiet_native_stderr():
            import keras as _keras
            import tensorflow  # noqa: F401  (its native libraries log on first load)

    if not verbose_requested():
        import logging

        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        try:
            import absl.logging

            absl.logging.set_verbosity(absl.logging.ERROR)
        except ImportError:  # pragma: no cover - absl ships with TensorFlow
            pass
    return _keras


def verbose_requested() -> bool:
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL", QUIET_LOG_LEVEL) not in ("2", "3")


def replica_devices(gpu_names) -> list[str] | None:
    """The devices to mirror training over, or None for TensorFlow's default placement.

    One GPU (or none) needs no strategy: TensorFlow already places the work on the GPU
    when it sees one.  Two or more are used together, each taking a slice of every batch.
    """
    names = list(gpu_names)
    return names if len(names) > 1 else None


def distribution_strategy(devices=None):
    """A tf.distribute strategy for training: MirroredStrategy over several GPUs, else the default.

    ``devices`` overrides discovery (the tests mirror over two logical CPUs).
    """
    import_keras()
    import tensorflow as tf

    if devices is None:
        devices = replica_devices(d.name for d in tf.config.list_logical_devices("GPU"))
    if devices:
        return tf.distribute.MirroredStrategy(devices=list(devices))
    return tf.distribute.get_strategy()
