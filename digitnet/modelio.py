"""Saving and loading .keras files: atomic writes, safe-mode loads, metadata beside.

A model file is replaced only by a complete new one (temporary file in the same
folder, fsync, rename), so a crash, Ctrl-C or full disk mid-save never leaves a
broken file where a good one was.  Loading always uses Keras' safe mode: a file
holding a Lambda layer or other arbitrary code is refused, never executed.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from .data import IMAGE_SHAPE, NUM_CLASSES
from .errors import DigitnetError
from .files import atomic_path, check_writable, write_json_atomic

DEFAULT_MODEL = "model.keras"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def metadata_path(model_path) -> Path:
    """``model.keras`` → ``model.keras.json``."""
    return Path(str(model_path) + ".json")


def history_plot_path(model_path) -> Path:
    """``model.keras`` → ``model.history.png``."""
    path = Path(model_path)
    return path.with_name(path.stem + ".history.png")


# --------------------------------------------------------------------------- writing


def save_model(model, path, metadata: dict | None = None) -> Path:
    """Save ``model`` as a .keras file at ``path`` atomically, metadata JSON beside it."""
    path = Path(path)
    if path.suffix != ".keras":
        raise DigitnetError(f"{path}: model files must end in .keras")
    check_writable(path)
    with atomic_path(path) as tmp:
        try:
            model.save(tmp)
        except OSError:
            raise
        except Exception as exc:  # Keras wraps disk errors in its own types
            raise OSError(str(exc)) from exc
    if metadata is not None:
        write_json_atomic(metadata_path(path), metadata)
    return path


# --------------------------------------------------------------------------- reading


def read_metadata(model_path) -> dict:
    """The JSON metadata saved beside a model, or {} when there is none or it is unreadable."""
    try:
        return json.loads(metadata_path(model_path).read_text())
    except (OSError, ValueError):
        return {}


def _precheck(path: Path) -> None:
    hint = "train one with `python model.py` (or `digitnet train`), or pass --model PATH"
    if not path.exists():
        raise DigitnetError(f"{path}: no such model file; {hint}")
    if path.is_dir():
        if (path / "saved_model.pb").exists():
            raise DigitnetError(
                f"{path}: is a TensorFlow SavedModel folder; digitnet reads Keras .keras files ({hint})"
            )
        raise DigitnetError(f"{path}: is a directory, not a .keras model file; {hint}")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise DigitnetError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not head:
        raise DigitnetError(f"{path}: is empty, not a Keras model; {hint}")
    if head == _HDF5_SIGNATURE:
        raise DigitnetError(
            f"{path}: is a legacy HDF5 (.h5) model; digitnet reads Keras 3 .keras files — re-save it with model.save('model.keras')"
        )
    if not zipfile.is_zipfile(path):
        raise DigitnetError(f"{path}: is not a Keras model (a .keras file is a zip archive); {hint}")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DigitnetError(f"{path}: is damaged or truncated ({exc}); {hint}") from None
    if "config.json" not in names:
        raise DigitnetError(f"{path}: is a zip archive but not a Keras model (no config.json); {hint}")
    if bad is not None:
        raise DigitnetError(f"{path}: is damaged (member {bad} fails its CRC check); {hint}")


def _explain_load_error(path: Path, exc: Exception, keras_version: str) -> str:
    text = str(exc)
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    lowered = text.lower()
    if "lambda" in lowered or "safe_mode" in lowered or "arbitrary code" in lowered:
        return (
            f"{path}: refused: it contains a Lambda layer or other code that would run on load, "
            "and digitnet loads models only in Keras' safe mode"
        )
    if "could not locate" in lowered or "unknown layer" in lowered or "custom" in lowered:
        return f"{path}: uses a layer or function this Keras ({keras_version}) does not know, so it cannot be loaded safely: {first}"
    if len(first) > 200:
        first = first[:200] + "…"
    return f"{path}: cannot be loaded by Keras {keras_version} (saved by another version, or damaged): {first}"


def load_model(path=DEFAULT_MODEL):
    """Load a digit classifier from a .keras file in safe mode, ready for prediction.

    Checks that it takes 28×28 images (any input of 784 values) and returns ten classes.
    """
    path = Path(path)
    _precheck(path)
    from .backend import import_keras

    keras = import_keras()
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises ValueError, TypeError, KeyError, OSError...
        raise DigitnetError(_explain_load_error(path, exc, keras.__version__)) from exc
    check_model_shape(model, path)
    return model


def check_model_shape(model, path) -> None:
    """Refuse models whose input is not one 28×28 image or whose output is not ten classes."""
    inputs = getattr(model, "inputs", None) or []
    outputs = getattr(model, "outputs", None) or []
    if len(inputs) != 1 or len(outputs) != 1:
        raise DigitnetError(f"{path}: has {len(inputs)} inputs and {len(outputs)} outputs; digitnet needs one of each")
    in_shape = tuple(inputs[0].shape[1:])
    size = 1
    for d in in_shape:
        size = size * d if d is not None else -1
    if size != IMAGE_SHAPE[0] * IMAGE_SHAPE[1]:
        raise DigitnetError(f"{path}: takes inputs of shape {in_shape}, not 28×28 images")
    out_shape = tuple(outputs[0].shape[1:])
    if out_shape != (NUM_CLASSES,):
        raise DigitnetError(f"{path}: outputs shape {out_shape}, not ten digit classes")
