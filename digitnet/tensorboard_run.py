"""TensorBoard runs: what `digitnet train --logdir DIR` writes, so runs can be compared.

Each training writes one run folder, ``DIR/<output stem>-<arch>-<time>``, that
TensorBoard (`tensorboard --logdir DIR`) reads:

* ``train/`` and ``validation/``: per-epoch ``epoch_loss`` and ``epoch_accuracy``, and
  ``epoch_learning_rate`` (train), written by Keras' own ``keras.callbacks.TensorBoard``;
* the run folder itself: the run's settings as hyperparameters (TensorBoard's HParams
  view) and, after training, ``test_accuracy`` and ``test_loss``, through ``tf.summary``.

The ``tensorboard`` package is optional (``pip install 'digitnet[tensorboard]'``): only
the hyperparameters need it, and only --logdir uses them, so it is checked for before
training and imported only by the functions that write.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.util
import itertools
from pathlib import Path

from .errors import DigitnetError
from .files import check_writable

OPTION = "--logdir"
INSTALL_HINT = "pip install tensorboard (or pip install 'digitnet[tensorboard]')"


def check_logdir(logdir, *, option: str = OPTION) -> Path:
    """Fail now, before training, if no run can be written under ``logdir``.

    ``logdir`` may not exist yet (it is made when the run starts, as Keras and
    TensorBoard do), but its parent folder must; the ``tensorboard`` package must be
    installed.
    """
    if importlib.util.find_spec("tensorboard") is None:
        raise DigitnetError(f"{option} needs the tensorboard package, which is not installed: {INSTALL_HINT}")
    logdir = Path(logdir)
    # Probe for a new entry in logdir if it exists (a file there is refused as "not a
    # folder"), else for logdir itself in its parent.  The probe's name is hidden, so no
    # run folder of that name can be mistaken for the target.
    check_writable(logdir / ".new-run" if logdir.exists() else logdir, option=option)
    return logdir


def new_run_dir(logdir, output, arch: str, *, now: datetime.datetime | None = None) -> Path:
    """Make and return ``logdir/<output stem>-<arch>-<YYYYmmdd-HHMMSS>``, never an existing one.

    Two runs started in the same second get ``-2``, ``-3``… rather than sharing a folder.
    """
    logdir = Path(logdir)
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    name = f"{Path(output).stem}-{arch}-{stamp}"
    try:
        logdir.mkdir(exist_ok=True)
        for count in itertools.count(1):
            run = logdir / (name if count == 1 else f"{name}-{count}")
            try:
                run.mkdir()
                return run
            except FileExistsError:
                continue
    except OSError as exc:
        raise DigitnetError(
            f"{logdir}: cannot make a run folder here ({exc.strerror or exc}); choose another {OPTION}"
        ) from None


def run_hparams(*, arch, epochs, batch_size, seed, learning_rate, validation_split, augment=False) -> dict:
    """The settings a run is compared by in TensorBoard's HParams view."""
    return {
        "arch": arch,
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "learning_rate": learning_rate,
        "validation_split": validation_split,
        "augment": bool(augment),
    }


def tensorboard_callback(run_dir):
    """Keras' TensorBoard callback: per-epoch loss, accuracy and learning rate under ``run_dir``."""
    from .backend import import_keras

    keras = import_keras()
    # Per epoch only: per-batch summaries would cost time on every call into the graph.
    # No graph: digitnet's loop has no Keras train_function to draw, and TensorBoard 2.21
    # opens the Graphs tab on that missing op graph with "Malformed GraphDef".
    return keras.callbacks.TensorBoard(log_dir=str(run_dir), update_freq="epoch", profile_batch=0, write_graph=False)


def write_hparams(run_dir, hparams: dict) -> None:
    """Record the run's settings for the HParams view (at the start, so a running run shows too)."""
    from tensorboard.plugins.hparams import api as hp

    with _summaries_to(run_dir):
        # trial_id: each run is its own row, even when two runs share every setting.
        hp.hparams(hparams, trial_id=Path(run_dir).name)


def write_test_results(run_dir, *, loss: float, accuracy: float, step: int) -> None:
    """Record the final test-set loss and accuracy (``step``: the last epoch's)."""
    with _summaries_to(run_dir) as summary:
        summary.scalar("test_accuracy", accuracy, step=step)
        summary.scalar("test_loss", loss, step=step)


@contextlib.contextmanager
def _summaries_to(run_dir):
    """tf.summary, writing to a new event file in ``run_dir`` that is closed on leaving."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(run_dir))
    try:
        with writer.as_default():
            yield tf.summary
    finally:
        writer.close()
