"""One way to ask a model: load once, then probabilities for a batch of 28×28 images.

Two implementations answer the same question with the same numbers:

* ``LiteRTRunner`` — a LiteRT (``.tflite``) file run by ``ai_edge_litert``'s
  interpreter: starts in a tenth of a second in ~50 MB, and never imports
  TensorFlow or Keras.  Used for a ``.keras`` model whose *twin* (``model.tflite``,
  written beside it by training or ``digitnet export``) is recorded in its metadata
  as made from exactly the ``.keras`` bytes being opened, and for a ``.tflite`` given
  directly (float or int8).
* ``KerasRunner`` — the ``.keras`` file loaded by Keras/TensorFlow, as before; used
  when there is no usable twin, with a one-line hint saying why and how to get one.

Both serve ``export.serving_model``: probabilities, and for a sigmoid output the
softmax of its scores.  A runner's ``probabilities(x)`` takes what
``preprocess.to_model_input`` returns, float32 (N, 28, 28) in [0, 1].
"""

from __future__ import annotations

import threading
from pathlib import Path

from .errors import DigitnetError

# Images per call into either runtime: big enough to amortise the call, small enough
# that intermediate activations stay a few MB.
BATCH = 2048
_TFLITE_MAGIC = b"TFL3"  # bytes 4–8 of every LiteRT flatbuffer
_INPUT_SIZE = 28 * 28
_CLASSES = 10


def normalized(probabilities):
    """(N, 10) float64 rows summing to 1: the same last step on every path."""
    import numpy as np

    probs = np.clip(np.asarray(probabilities, dtype=np.float64), 0.0, None)
    totals = probs.sum(axis=1, keepdims=True)
    totals[totals == 0] = 1.0
    return probs / totals


class KerasRunner:
    """A Keras model, asked for the probabilities its serving form gives."""

    backend = "Keras/TensorFlow"

    def __init__(self, model, path=None, fallback_reason: str | None = None):
        from .export import serving_model

        self.model = model
        self.path = None if path is None else Path(path)
        self.fallback_reason = fallback_reason
        self._serving = serving_model(model)
        self._shape = tuple(model.inputs[0].shape[1:])

    def probabilities(self, x):
        import numpy as np

        x = np.asarray(x, dtype=np.float32)
        x = x.reshape((len(x),) + self._shape)
        # Called directly: model.predict's per-call set-up costs more than one digit's arithmetic.
        outputs = [np.asarray(self._serving(x[i : i + BATCH], training=False)) for i in range(0, len(x), BATCH)]
        return normalized(np.concatenate(outputs) if outputs else np.zeros((0, _CLASSES)))


class LiteRTRunner:
    """A LiteRT interpreter over one .tflite file; float32 or int8 input and output."""

    backend = "LiteRT"

    def __init__(self, interpreter, path):
        self.path = Path(path)
        self.fallback_reason = None
        self._interpreter = interpreter
        self._input = interpreter.get_input_details()[0]
        self._output = interpreter.get_output_details()[0]
        self._shape = tuple(int(d) for d in self._input["shape_signature"][1:])
        self._batch = None
        self._lock = threading.Lock()  # one interpreter's tensors are one set of buffers

    def probabilities(self, x):
        import numpy as np

        x = np.asarray(x, dtype=np.float32).reshape((len(x),) + self._shape)
        with self._lock:
            outputs = [self._run(x[i : i + BATCH]) for i in range(0, len(x), BATCH)]
        return normalized(np.concatenate(outputs) if outputs else np.zeros((0, _CLASSES)))

    def _run(self, x):
        it = self._interpreter
        if self._batch != len(x):
            it.resize_tensor_input(self._input["index"], (len(x),) + self._shape, strict=False)
            it.allocate_tensors()
            self._batch = len(x)
        it.set_tensor(self._input["index"], _quantize(x, self._input))
        it.invoke()
        return _dequantize(it.get_tensor(self._output["index"]), self._output)


def _quantize(x, detail):
    """Float input → the tensor's type: int8/uint8 through its scale and zero point."""
    import numpy as np

    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return x
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)


def _dequantize(y, detail):
    import numpy as np

    if np.dtype(detail["dtype"]) == np.float32:
        return y
    scale, zero = detail["quantization"]
    return (y.astype(np.float32) - zero) * scale


# --------------------------------------------------------------------------- opening


class TwinUnusable(Exception):
    """Why a .keras file's LiteRT twin cannot answer for it (a short phrase)."""


def load(path, *, on_fallback=None):
    """The runner for the model at ``path``: LiteRT when it can answer, else Keras.

    ``path`` is a .keras file (its matching twin answers when there is one) or a
    .tflite file.  When Keras answers for want of a usable twin, ``on_fallback`` (if
    given) is called once with one line saying why and how to make it fast.
    """
    path = Path(path)
    if path.suffix.lower() == ".tflite":
        return open_litert(path)
    from . import modelio

    try:
        return _open_twin(path)
    except TwinUnusable as exc:
        reason = str(exc)
    runner = KerasRunner(modelio.load_model(path), path, fallback_reason=reason)  # errors for a bad .keras file
    if on_fallback is not None:
        on_fallback(fallback_hint(path, reason))
    return runner


def fallback_hint(path, reason: str) -> str:
    if not litert_available():
        return f"note: {path}: answered through TensorFlow (slow to start) because {reason}"
    return (
        f"note: {path}: answered through TensorFlow (slow to start) because {reason}; "
        f"run `digitnet export {path}` to write its fast LiteRT twin"
    )


def _open_twin(path: Path) -> LiteRTRunner:
    """The twin's runner, or TwinUnusable saying why it may not answer for ``path``."""
    from .modelio import file_sha256, metadata_path, read_metadata, twin_path

    twin = twin_path(path)
    if not path.is_file():
        raise TwinUnusable("the model file is missing")
    record = read_metadata(path).get("litert")
    if isinstance(record, dict) and "error" in record:
        raise TwinUnusable(f"its LiteRT twin could not be made when it was saved: {record['error']}")
    if not twin.is_file():
        raise TwinUnusable(f"it has no LiteRT twin ({twin.name} is missing)")
    if not isinstance(record, dict):
        raise TwinUnusable(
            f"{metadata_path(path).name} records no LiteRT twin, so {twin.name} may belong to another model"
        )
    if record.get("keras_sha256") != file_sha256(path):
        raise TwinUnusable(f"{twin.name} was made from a different {path.name} (the model changed since)")
    if record.get("sha256") != file_sha256(twin):
        raise TwinUnusable(f"{twin.name} is not the file recorded as its twin (changed, truncated or replaced)")
    if not litert_available():
        raise TwinUnusable(
            "the ai-edge-litert package that runs its LiteRT twin is not installed; "
            "`pip install ai-edge-litert` (where it has wheels) makes it fast"
        )
    try:
        return open_litert(twin)
    except DigitnetError as exc:
        raise TwinUnusable(_without_path(str(exc), twin)) from None


def _without_path(message: str, path: Path) -> str:
    prefix = f"{path}: "
    return f"{path.name} " + (message.removeprefix(prefix))


def litert_available() -> bool:
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        return False
    return True


def open_litert(path) -> LiteRTRunner:
    """A runner for a LiteRT file; DigitnetError if it is missing, not LiteRT, or not a digit classifier."""
    path = Path(path)
    if not path.is_file():
        raise DigitnetError(
            f"{path}: no such LiteRT model file; write one with `digitnet export MODEL.keras`, or pass --model PATH"
        )
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise DigitnetError(f"{path}: cannot be read ({exc.strerror or exc}); check its permissions") from None
    if content[4:8] != _TFLITE_MAGIC:
        raise DigitnetError(
            f"{path}: is not a LiteRT (.tflite) model file; write one with `digitnet export MODEL.keras`"
        )
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise DigitnetError(
            f"{path}: running LiteRT files needs the ai-edge-litert package (pip install ai-edge-litert), "
            "which has no wheel for this platform; pass the .keras model instead"
        ) from None
    from .backend import quiet_native_logs

    try:
        with quiet_native_logs():  # LiteRT announces its CPU delegate on stderr
            interpreter = Interpreter(model_content=content)
            interpreter.allocate_tensors()
    except Exception as exc:  # ValueError / RuntimeError from the flatbuffer reader
        from .errors import one_line

        raise DigitnetError(
            f"{path}: is damaged or truncated, LiteRT cannot read it ({one_line(str(exc), 120)})"
        ) from None
    _check_litert_shape(interpreter, path)
    return LiteRTRunner(interpreter, path)


def _check_litert_shape(interpreter, path: Path) -> None:
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise DigitnetError(
            f"{path}: has {len(inputs)} inputs and {len(outputs)} outputs; digitnet needs a model with one of each"
        )
    in_shape = tuple(int(d) for d in inputs[0]["shape_signature"][1:])
    size = 1
    for d in in_shape:
        size *= d
    if size != _INPUT_SIZE:
        raise DigitnetError(
            f"{path}: takes inputs of shape {in_shape}, not 28×28 images; it is not a digit classifier for digitnet"
        )
    out_shape = tuple(int(d) for d in outputs[0]["shape_signature"][1:])
    if out_shape != (_CLASSES,):
        raise DigitnetError(
            f"{path}: outputs shape {out_shape}, not ten digit classes; it is not a digit classifier for digitnet"
        )
