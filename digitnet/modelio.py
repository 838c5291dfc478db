"""Saving and loading .keras files: atomic writes, safe-mode loads, metadata beside.

A model file is replaced only by a complete new one (temporary file in the same
folder, fsync, rename), together with its metadata, so a crash, Ctrl-C or full disk
mid-save never leaves a broken file — or a model beside another model's metadata —
where a good pair was.

Loading never runs code from the file.  Before Keras sees it, the archive is
checked (a zip with an intact config.json, of sane size) and its config is scanned
for Lambda layers and references to Python code outside Keras, which are refused
with a message saying so.  Keras then loads it in safe mode; there is deliberately
no way to turn safe mode off from digitnet.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from pathlib import Path

from .data import IMAGE_SHAPE, NUM_CLASSES
from .errors import DigitnetError, UsageError, one_line, reason
from .files import atomic_paths, check_writable

DEFAULT_MODEL = "model.keras"
# Room for the largest model digitnet trains (cnn/mlp with Adam state: a few MB),
# its metadata and curves figure, checked before training starts.
MODEL_FREE_BYTES = 32 << 20
# A digit classifier is megabytes; an archive claiming more is refused unread.
MAX_MODEL_BYTES = 1 << 30
MAX_CONFIG_BYTES = 16 << 20
# Layers whose config carries Python code or loads files from elsewhere.
CODE_CLASSES = frozenset({"Lambda", "__lambda__", "TFOpLambda", "TFSMLayer"})

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK\x03\x04"
_HINT = "train one with `python model.py` (or `digitnet train`), or pass --model PATH"


def metadata_path(model_path) -> Path:
    """``model.keras`` → ``model.keras.json``."""
    return Path(str(model_path) + ".json")


def twin_path(model_path) -> Path:
    """``model.keras`` → ``model.tflite``: the same network as a LiteRT file (see runtime)."""
    return Path(model_path).with_suffix(".tflite")


def history_plot_path(model_path) -> Path:
    """``model.keras`` → ``model.history.png``."""
    path = Path(model_path)
    return path.with_name(path.stem + ".history.png")


# --------------------------------------------------------------------------- writing


def check_model_output(path, *, option: str = "--output") -> Path:
    """Fail before training if the model, its metadata or its curves cannot be written."""
    path = Path(path)
    if path.suffix != ".keras":
        raise UsageError(f"{path}: the model file name must end in .keras, e.g. {option} model.keras")
    check_writable(path, option=option, min_free_bytes=MODEL_FREE_BYTES)
    check_writable(metadata_path(path), option=option)
    check_writable(twin_path(path), option=option)
    check_writable(history_plot_path(path), option=option)
    return path


def save_model(model, path, metadata: dict | None = None, *, twin: bool = True) -> Path:
    """Save ``model`` as a .keras file at ``path`` atomically, metadata JSON beside it.

    With ``twin`` (and metadata) the LiteRT twin ``twin_path(path)`` is written too.
    All the files are replaced together; the metadata records the SHA-256 of the
    model file it describes (``model_sha256``) and the twin's record (``litert``:
    its SHA-256, the SHA-256 of the .keras bytes it was made from, and the export's
    own seconds, apart from training's).
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise UsageError(f"{path}: model files must end in .keras")
    check_writable(path)
    if not twin or metadata is None:
        _save_group(model, path, metadata)
        return path
    try:
        _save_group(model, path, metadata, twin=True)
    except _TwinFailed as failure:
        # A model that took minutes to train is never lost to its twin: it is saved
        # without one (recording why), and any older twin, no longer recorded, is ignored.
        _save_group(model, path, dict(metadata, litert={"error": str(failure)}))
    return path


class _TwinFailed(Exception):
    """Keras' LiteRT exporter failed on this model (not a disk error)."""


def _save_group(model, path: Path, metadata: dict | None, *, twin: bool = False) -> None:
    targets = [path] if metadata is None else [path, metadata_path(path)]
    if twin:
        targets.append(twin_path(path))
    with atomic_paths(*targets) as temporaries:
        _write_keras(model, temporaries[0])
        if metadata is not None:
            described = dict(metadata, model_sha256=file_sha256(temporaries[0]))
            if twin:
                described["litert"] = _write_twin(model, temporaries[2], temporaries[0], twin_path(path).name)
            temporaries[1].write_text(json.dumps(described, indent=2) + "\n")


def save_twin(model, path) -> Path:
    """Write the LiteRT twin of the .keras file at ``path`` (already saved) and record it in its metadata.

    For models saved before twins existed, or elsewhere: the metadata is kept as it
    is (or started, if there is none) and gains the ``litert`` record; twin and
    metadata are replaced together.
    """
    path = Path(path)
    meta_file = metadata_path(path)
    metadata = read_metadata(path)
    if meta_file.exists() and not metadata:
        raise DigitnetError(
            f"{meta_file}: is not readable JSON metadata, so the twin cannot be recorded in it; move it away first"
        )
    check_writable(twin_path(path))
    check_writable(meta_file)
    try:
        with atomic_paths(twin_path(path), meta_file) as (twin_tmp, meta_tmp):
            metadata = dict(metadata, litert=_write_twin(model, twin_tmp, path, twin_path(path).name))
            meta_tmp.write_text(json.dumps(metadata, indent=2) + "\n")
    except _TwinFailed as failure:
        raise DigitnetError(f"{path}: {failure}; nothing was written") from failure
    return twin_path(path)


def _write_twin(model, twin_tmp: Path, keras_file: Path, name: str) -> dict:
    """Write the LiteRT twin of ``keras_file``'s model to ``twin_tmp``; return its metadata record."""
    import time

    from .export import write_litert

    start = time.perf_counter()
    try:
        write_litert(model, twin_tmp)
    except OSError:
        raise
    except Exception as exc:
        cause = _os_error_in_chain(exc)
        if cause is not None:
            raise cause from exc
        raise _TwinFailed(f"Keras could not export the LiteRT twin ({one_line(str(exc), 160)})") from exc
    return {
        "file": name,
        "sha256": file_sha256(twin_tmp),
        "keras_sha256": file_sha256(keras_file),
        "export_seconds": round(time.perf_counter() - start, 3),
    }


def _write_keras(model, tmp: Path) -> None:
    try:
        model.save(tmp)
    except OSError:
        raise
    except Exception as exc:  # Keras and h5py wrap disk errors in their own types
        cause = _os_error_in_chain(exc)
        raise cause if cause is not None else OSError(one_line(str(exc), 200)) from exc


def _os_error_in_chain(exc: BaseException) -> OSError | None:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno is not None:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------- reading


def read_metadata(model_path) -> dict:
    """The JSON metadata saved beside a model, or {} when there is none or it is unreadable."""
    try:
        meta = json.loads(metadata_path(model_path).read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    return meta if isinstance(meta, dict) else {}


def load_model(path=DEFAULT_MODEL):
    """Load a digit classifier from a .keras file in safe mode, ready for prediction.

    Refuses, with one line saying why, anything that is not a complete Keras 3 model
    free of arbitrary code, taking one 28×28 image (784 values, any shape) and
    returning ten class scores.
    """
    path = Path(path)
    saved_by = inspect_model_file(path)
    from .backend import import_keras

    keras = import_keras()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the error, if any, says what matters
            model = keras.saving.load_model(str(path), compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises ValueError, TypeError, KeyError, OSError...
        raise DigitnetError(_explain_load_error(path, exc, keras.__version__, saved_by)) from exc
    check_model_shape(model, path)
    return model


def inspect_model_file(path) -> str | None:
    """Check everything about a model file that needs no Keras; return the Keras version that saved it.

    Raises DigitnetError naming the problem: missing, a folder, empty, HDF5,
    SavedModel, not a zip, truncated, damaged, too large, or carrying code.
    """
    path = Path(path)
    _check_is_model_file(path)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = {info.filename: info for info in archive.infolist()}
            if "config.json" not in infos:
                raise DigitnetError(f"{path}: is a zip archive but not a Keras model (no config.json); {_HINT}")
            total = sum(info.file_size for info in infos.values())
            if total > MAX_MODEL_BYTES:
                raise DigitnetError(f"{path}: unpacks to {total:,} bytes, far more than a digit classifier; refused")
            if infos["config.json"].file_size > MAX_CONFIG_BYTES:
                raise DigitnetError(
                    f"{path}: its config.json is {infos['config.json'].file_size:,} bytes, "
                    "too large to be real; refused"
                )
            bad = archive.testzip()
            if bad is not None:
                raise DigitnetError(f"{path}: is damaged (member {bad} fails its CRC check); {_HINT}")
            config_bytes = archive.read("config.json")
            meta_bytes = archive.read("metadata.json") if "metadata.json" in infos else b"{}"
    except DigitnetError:
        raise
    except Exception as exc:  # BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError...
        raise DigitnetError(f"{path}: is damaged or truncated ({one_line(reason(exc), 120)}); {_HINT}") from None
    config = _parse_json(config_bytes)
    if not isinstance(config, dict) or "class_name" not in config:
        raise DigitnetError(
            f"{path}: its config.json is not a Keras model config (damaged, or not written by Keras 3); {_HINT}"
        )
    code = find_code(config)
    if code is not None:
        raise DigitnetError(
            f"{path}: refused: it contains {code}, Python code that would run when the model is loaded; "
            "digitnet loads models only in Keras' safe mode, so rebuild the model from Keras' built-in layers"
        )
    saved_meta = _parse_json(meta_bytes)
    version = saved_meta.get("keras_version") if isinstance(saved_meta, dict) else None
    return version if isinstance(version, str) else None


def _check_is_model_file(path: Path) -> None:
    if not path.exists():
        raise DigitnetError(f"{path}: no such model file; {_HINT}")
    if path.is_dir():
        if (path / "saved_model.pb").exists() or (path / "saved_model.pbtxt").exists():
            raise DigitnetError(
                f"{path}: is a TensorFlow SavedModel folder; digitnet reads Keras 3 .keras files — "
                "load it where it was made and re-save it with model.save('model.keras')"
            )
        raise DigitnetError(f"{path}: is a folder, not a .keras model file; {_HINT}")
    if not path.is_file():
        raise DigitnetError(f"{path}: is not a regular file; {_HINT}")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise DigitnetError(f"{path}: cannot be read ({reason(exc)}); check its permissions") from None
    if not head:
        raise DigitnetError(f"{path}: is empty (0 bytes), not a Keras model; {_HINT}")
    if head == _HDF5_SIGNATURE:
        raise DigitnetError(
            f"{path}: is a legacy HDF5 (.h5) model; digitnet reads Keras 3 .keras files — "
            "load it where it was made and re-save it with model.save('model.keras')"
        )
    if not zipfile.is_zipfile(path):
        if head.startswith(_ZIP_SIGNATURE):
            raise DigitnetError(f"{path}: is truncated or damaged (an incomplete zip archive); {_HINT}")
        raise DigitnetError(f"{path}: is not a Keras model (a .keras file is a zip archive); {_HINT}")
    if path.suffix != ".keras":
        raise DigitnetError(f"{path}: Keras reads models only from files named *.keras; rename it if it is one")


def _parse_json(raw: bytes):
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None


def find_code(config) -> str | None:
    """Describe the first part of a model config that would run code from outside Keras, or None.

    Keras' own objects name modules under ``keras``; built-in functions are stored
    as module ``builtins`` with class_name ``function`` and looked up in Keras.
    Anything else — a Lambda, a custom registered object, another module — is code
    this file would bring with it.
    """
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        class_name = node.get("class_name")
        if isinstance(class_name, str) and class_name in CODE_CLASSES:
            return "a Lambda layer" if "lambda" in class_name.lower() else f"a {class_name} layer"
        module = node.get("module")
        if isinstance(module, str) and not _is_keras_module(module, class_name):
            return f"a reference to module {module!r}"
        registered = node.get("registered_name")
        if isinstance(registered, str) and ">" in registered:
            return f"the custom object {registered!r}"
        stack.extend(node.values())
    return None


def _is_keras_module(module: str, class_name) -> bool:
    root = module.split(".", 1)[0]
    return root == "keras" or (module == "builtins" and class_name == "function")


def _explain_load_error(path: Path, exc: Exception, keras_version: str, saved_by: str | None) -> str:
    text = str(exc)
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    lowered = text.lower()
    saved = f" (it was saved by Keras {saved_by})" if saved_by and saved_by != keras_version else ""
    if "lambda" in lowered or "safe_mode" in lowered or "arbitrary code" in lowered:
        return (
            f"{path}: refused: it contains a Lambda layer or other code that would run on load, "
            "and digitnet loads models only in Keras' safe mode"
        )
    if any(
        s in lowered for s in ("could not locate", "could not deserialize", "unknown layer", "kerassaveable", "custom")
    ):
        return (
            f"{path}: uses a layer or function this Keras ({keras_version}) does not know{saved}; "
            f"re-save it with this Keras version or retrain it: {one_line(first, 160)}"
        )
    return (
        f"{path}: cannot be loaded by Keras {keras_version}{saved}; "
        f"it is damaged or from an incompatible version: {one_line(first, 160)}"
    )


def check_model_shape(model, path) -> None:
    """Refuse models whose input is not one 28×28 image or whose output is not ten classes."""
    try:
        inputs = list(model.inputs or [])
        outputs = list(model.outputs or [])
    except Exception:  # e.g. a Sequential model saved before it was ever built
        inputs, outputs = [], []
    if len(inputs) != 1 or len(outputs) != 1:
        raise DigitnetError(
            f"{path}: has {len(inputs)} inputs and {len(outputs)} outputs; digitnet needs a model with one of each"
        )
    in_shape = tuple(inputs[0].shape[1:])
    size = 1
    for d in in_shape:
        size = size * d if d is not None else -1
    if size != IMAGE_SHAPE[0] * IMAGE_SHAPE[1]:
        raise DigitnetError(
            f"{path}: takes inputs of shape {in_shape}, not 28×28 images; it is not a digit classifier for digitnet"
        )
    out_shape = tuple(outputs[0].shape[1:])
    if out_shape != (NUM_CLASSES,):
        raise DigitnetError(
            f"{path}: outputs shape {out_shape}, not ten digit classes; it is not a digit classifier for digitnet"
        )
