"""Writing a Keras model in the formats other runtimes serve: the use case behind `digitnet export`.

* LiteRT (``.tflite``), float32: the *twin* training writes beside every ``.keras``
  file, which ``runtime`` uses to answer without TensorFlow.  Made by Keras' own
  exporter (``model.export(..., format="litert")``).
* LiteRT, int8: post-training full-integer quantization, calibrated on a
  representative sample of training images as TensorFlow's model-optimization guide
  does for MNIST; a quarter of the size.
* SavedModel (a folder), for TensorFlow Serving.

Every format is written from ``serving_model``: the network as it answers, ending in
probabilities.  For a sigmoid output (the ``linear`` design) that is the softmax of
the scores before the sigmoid, the probabilities Keras trained it to give (see
``check.predict_probabilities``), so every runtime returns the same numbers.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path

from .errors import DigitnetError, UsageError, one_line

FORMATS = ("litert", "saved_model")
QUANTIZATIONS = ("none", "int8")
# Images the int8 converter runs through the float model to choose each tensor's range:
# a few hundred cover MNIST's variety (TensorFlow's guide uses 100).
REPRESENTATIVE_IMAGES = 500
REPRESENTATIVE_SEED = 0


# --------------------------------------------------------------------------- the network as served


def serving_model(model):
    """``model`` ending in probabilities: itself, or softmax of its scores if it ends in a sigmoid.

    Keras trains a sigmoid output under sparse categorical cross-entropy on the
    scores before the sigmoid, through a softmax; the served model computes exactly
    that softmax (a copy of the last layer without its activation, then Softmax),
    so no precision is lost turning saturated sigmoids back into scores.
    """
    last = model.layers[-1] if getattr(model, "layers", None) else None
    activation = getattr(last, "activation", None)
    if getattr(activation, "__name__", "") != "sigmoid":
        return model
    from .backend import import_keras

    keras = import_keras()
    config = dict(last.get_config(), activation="linear", name=f"{last.name}_scores")
    scores_layer = last.__class__.from_config(config)
    scores = scores_layer(last.input)
    scores_layer.set_weights(last.get_weights())
    probabilities = keras.layers.Softmax(name="probabilities")(scores)
    return keras.Model(model.input, probabilities, name=f"{model.name}_serving")


def write_litert(model, path, *, representative=None) -> None:
    """Write ``serving_model(model)`` as a LiteRT file at ``path`` (which must end in .tflite).

    ``representative``: uint8 images (N, 28, 28) to calibrate full-integer (int8)
    quantization with; None writes float32.
    """
    from .backend import import_keras, quiet_native_logs

    import_keras()
    options = {} if representative is None else _int8_options(representative)
    with quiet_native_logs():
        serving_model(model).export(str(path), format="litert", verbose=False, **options)


def _int8_options(images) -> dict:
    """Converter settings for integer-only inference: int8 weights, activations, input and output."""
    import tensorflow as tf

    from .preprocess import to_model_input

    def representative_dataset():
        for image in to_model_input(images):
            yield [image[None]]

    return {
        "optimizations": [tf.lite.Optimize.DEFAULT],
        "representative_dataset": representative_dataset,
        "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
        "inference_input_type": tf.int8,
        "inference_output_type": tf.int8,
    }


def representative_sample(train_images, count: int = REPRESENTATIVE_IMAGES, seed: int = REPRESENTATIVE_SEED):
    """``count`` training images drawn at random (fixed seed): the int8 calibration set."""
    import numpy as np

    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(train_images), size=min(count, len(train_images)), replace=False)
    return train_images[np.sort(chosen)]


def write_saved_model(model, folder) -> None:
    """Write ``serving_model(model)`` as a TensorFlow SavedModel folder (signature ``serve``)."""
    from .backend import import_keras, quiet_native_logs

    import_keras()
    with quiet_native_logs():
        serving_model(model).export(str(folder), format="tf_saved_model", verbose=False)


# --------------------------------------------------------------------------- the use case


@dataclasses.dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str  # "litert" or "saved_model"
    quantize: str  # "none" or "int8"
    size_bytes: int
    test_accuracy: float
    test_examples: int
    served_by: str  # the runtime the accuracy was measured through
    seconds: float  # the conversion alone

    def line(self) -> str:
        kind = {"litert": "LiteRT", "saved_model": "SavedModel"}[self.format]
        precision = "int8" if self.quantize == "int8" else "float32"
        return (
            f"wrote {self.path} ({kind}, {precision}, {self.size_bytes / 1e6:.2f} MB) in {self.seconds:.1f} s; "
            f"test accuracy {self.test_accuracy:.2%} on {self.test_examples:,} images through {self.served_by}"
        )


def default_output(model_path, fmt: str, quantize: str) -> Path:
    """model.keras → model.tflite (the twin), model.int8.tflite, or the folder model_saved_model."""
    from .modelio import twin_path

    model_path = Path(model_path)
    if fmt == "saved_model":
        return model_path.with_name(model_path.stem + "_saved_model")
    if quantize == "int8":
        return model_path.with_name(model_path.stem + ".int8.tflite")
    return twin_path(model_path)


def check_export_options(model_path, fmt: str, quantize: str, output) -> Path:
    """Usage errors and unwritable outputs, before TensorFlow is loaded."""
    from .files import check_writable

    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if quantize not in QUANTIZATIONS:
        raise UsageError(f"unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZATIONS)}")
    if fmt == "saved_model" and quantize != "none":
        raise UsageError("--quantize applies to --format litert only; a SavedModel keeps float32 weights")
    output = Path(output) if output is not None else default_output(model_path, fmt, quantize)
    if fmt == "litert" and output.suffix != ".tflite":
        raise UsageError(f"{output}: a LiteRT file name must end in .tflite, e.g. --output model.tflite")
    if fmt == "saved_model":
        if output.exists() and not output.is_dir():
            raise DigitnetError(f"{output}: is a file; a SavedModel is a folder, so give --output a new folder name")
        check_writable(output.with_name(output.name + ".probe"), option="--output")
    else:
        check_writable(output, option="--output")
    if Path(output).resolve() == Path(model_path).resolve():
        raise UsageError(f"{output}: is the model itself; choose another --output")
    return output


def export_model(model_path, *, fmt: str = "litert", quantize: str = "none", output=None, data=None) -> ExportResult:
    """Write the model at ``model_path`` in ``fmt`` and measure its test accuracy through the runtime that serves it.

    The float LiteRT file at the default place is the model's twin: it is written
    together with the metadata recording both files' SHA-256 (``modelio.save_twin``).
    Anything else is one file or folder, written beside its target and renamed into place.
    """
    from .data import load_dataset
    from .modelio import load_model, save_twin, twin_path

    output = check_export_options(model_path, fmt, quantize, output)
    splits = ("train", "test") if quantize == "int8" else ("test",)
    dataset = load_dataset(data, splits=splits)
    model = load_model(model_path)
    start = time.perf_counter()
    if fmt == "saved_model":
        _write_folder_atomically(output, lambda folder: write_saved_model(model, folder))
    elif quantize == "int8":
        from .files import atomic_path

        representative = representative_sample(dataset.train.images)
        with atomic_path(output) as tmp:
            write_litert(model, tmp, representative=representative)
    elif output.resolve() == twin_path(model_path).resolve():
        save_twin(model, model_path)
    else:
        from .files import atomic_path

        with atomic_path(output) as tmp:
            write_litert(model, tmp)
    seconds = time.perf_counter() - start
    accuracy, served_by = _served_accuracy(output, fmt, dataset.test)
    return ExportResult(
        path=output,
        format=fmt,
        quantize=quantize,
        size_bytes=_size(output),
        test_accuracy=accuracy,
        test_examples=len(dataset.test),
        served_by=served_by,
        seconds=seconds,
    )


def _served_accuracy(output: Path, fmt: str, test) -> tuple[float, str]:
    """Test accuracy of the written file, asked the way its users will ask it."""
    import numpy as np

    if fmt == "litert":
        from .check import predict_probabilities
        from .runtime import open_litert

        probabilities = predict_probabilities(open_litert(output), test.images)
        served_by = "LiteRT"
    else:
        import tensorflow as tf

        from .preprocess import to_model_input

        serve = tf.saved_model.load(str(output)).signatures["serve"]
        x = to_model_input(test.images)
        probabilities = np.concatenate(
            [next(iter(serve(tf.constant(x[i : i + 2048])).values())).numpy() for i in range(0, len(x), 2048)]
        )
        served_by = "TensorFlow (its serve signature)"
    return float((probabilities.argmax(axis=1) == test.labels).mean()), served_by


def _write_folder_atomically(target: Path, write) -> None:
    """Write a folder beside ``target`` and swap it into place; on failure nothing changes."""
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    old = None
    try:
        write(staging)
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(staging, target)
    except OSError as exc:
        if old is not None and not target.exists():
            os.replace(old, target)
            old = None
        raise DigitnetError(
            f"{target}: could not be written ({exc.strerror or exc}); any previous folder is unchanged"
        ) from None
    except Exception as exc:
        raise DigitnetError(f"{target}: the export failed ({one_line(str(exc), 160)}); nothing was written") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
