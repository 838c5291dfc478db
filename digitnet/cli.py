"""The command line: `digitnet train | check | …`, also behind model.py and DigitChecker.py.

This layer declares the commands and their options and hands what it parsed to
``digitnet.commands``, which runs them; ``exits.reports_errors`` turns their failures
into one line on stderr with exit status 2 (usage) or 1 (anything else).  It imports
nothing heavy at module level, so `digitnet --help` answers at once.
"""

from __future__ import annotations

from pathlib import Path

import click

from . import __version__, commands
from .exits import reports_errors

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "show_default": True, "max_content_width": 100}
ARCH_CHOICES = ("mlp", "linear", "cnn")  # checked against models.ARCHITECTURES in the tests


def finite_float(ctx, param, value):
    """Option callback: click's FloatRange lets NaN through (every comparison with it is false)."""
    import math

    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number", ctx=ctx, param=param)
    return value


data_option = click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="A folder with the four MNIST IDX files (gzipped or not) or a Keras-style .npz "
    "(x_train, y_train, x_test, y_test). Default: the MNIST copy bundled with digitnet.",
)
model_option = click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path),
    default="model.keras",
    help="The model: a .keras file (answered through its LiteRT twin, model.tflite, when one matches it) "
    "or a .tflite file.",
)


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="digitnet")
def cli():
    """Train a Keras network on the MNIST digits and see what it predicts.

    \b
    digitnet train             train the default network, save model.keras
    digitnet check --index 42  predict test digit 42 and plot it
    digitnet evaluate          score model.keras on the test set, with figures
    digitnet export MODEL      write MODEL's LiteRT twin (fast answers), int8 or SavedModel
    """


# --------------------------------------------------------------------------- train


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--arch",
    type=click.Choice(ARCH_CHOICES),
    default="mlp",
    help="Network design: mlp (original, default), linear (original single layer) or cnn (convnet).",
)
@click.option("--epochs", type=click.IntRange(min=1), default=10, help="Passes over the training data.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    show_default="tuned per architecture",
    help="Examples per gradient step.",
)
@click.option(
    "--learning-rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    callback=finite_float,
    show_default="tuned per architecture",
    help="Adam's initial learning rate.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**32 - 1),
    default=1,
    help="Random seed: the same seed and data give the same model.",
)
@click.option(
    "--validation-split",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.1,
    callback=finite_float,
    help="Fraction of the training data held out to report validation accuracy per epoch (0 to disable).",
)
@data_option
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    default="model.keras",
    help="Where to save the model (.keras); metadata goes to OUTPUT.json.",
)
@click.option(
    "--logdir",
    type=click.Path(path_type=Path),
    default=None,
    metavar="DIR",
    help="Also write a TensorBoard run to DIR/<output stem>-<arch>-<time>; view it with: tensorboard --logdir DIR",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the final result line.")
@click.option(
    "--augment",
    is_flag=True,
    help="Train on digits varied as people's writing varies (tilt, slant, size, position, pen width, blur, "
    "elastic distortion; flag 1s, crossed 7s): reads your own pictures better. The saved model is the same design.",
)
@reports_errors
def train(arch, epochs, batch_size, learning_rate, seed, validation_split, data, output, logdir, quiet, augment):
    """Train a network on MNIST and save it as a .keras file."""
    commands.train(
        arch, epochs, batch_size, learning_rate, seed, validation_split, data, output, logdir, quiet, augment
    )


# --------------------------------------------------------------------------- check


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--index",
    "-i",
    metavar="INTEGER",
    default=None,
    help="Test image to check. Without it, asks for indices at a prompt.",
)
@click.option(
    "--image",
    "image_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Read the digits in your own picture (PNG, JPEG, BMP, GIF…) instead of a test image.",
)
@model_option
@data_option
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(path_type=Path),
    default=None,
    show_default="digit_INDEX.png, or STEM_prediction.png for --image",
    help="Where to save the figure.",
)
@click.option("--no-plot", is_flag=True, help="Do not draw a figure.")
@click.option("--show", is_flag=True, help="Open the figure in a window instead of saving it (needs a display).")
@reports_errors
def check(index, image_path, model_path, data, plot_path, no_plot, show):
    """Predict a test digit and compare it with its true label (or the digit in --image)."""
    commands.check(index, image_path, model_path, data, plot_path, no_plot, show)


# --------------------------------------------------------------------------- predict


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("inputs", metavar="IMAGE_OR_FOLDER...", nargs=-1, required=True, type=click.Path(path_type=Path))
@model_option
@click.option("--top", type=click.IntRange(1, 10), default=1, help="Also show the next TOP-1 most likely digits.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print a JSON array of {"path", "number", "digits", "digit", "confidence", "probabilities", "unsure"} '
    "instead of lines.",
)
@click.option(
    "--save-preprocessed",
    "preprocessed_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder (created if missing) for the 28×28 images the model saw: STEM.png for a one-digit picture, "
    "STEM-1.png, STEM-2.png… for a number.",
)
@click.option("--single", is_flag=True, help="Take each whole picture as one digit (no search for several digits).")
@reports_errors
def predict(inputs, model_path, top, as_json, preprocessed_dir, single):
    """Read the digits in each picture, left to right: image files, or folders of them.

    \b
    Each picture (PNG, JPEG, BMP, GIF, TIFF, WebP; dark ink on light paper or the
    reverse; any size) is searched for digits; each is prepared the way MNIST was
    made: paper removed, the ink fitted into 20×20 keeping its shape, centre of mass
    at the centre of 28×28.  Folders: the image files directly inside, sorted;
    other files are skipped.  Prints "PATH: DIGIT (PROBABILITY)" for one digit,
    "PATH: NUMBER  (DIGIT PROBABILITY, ...)" for several; a digit below 50% is
    flagged unsure.  A picture that cannot be used gets one error line and the exit
    status is 1; the others are still predicted.
    """
    commands.predict(inputs, model_path, top, as_json, preprocessed_dir, single)


# --------------------------------------------------------------------------- draw


@cli.command(context_settings=CONTEXT_SETTINGS)
@model_option
@click.option("--port", type=click.IntRange(0, 65535), default=8000, help="Port to listen on (0 picks a free one).")
@click.option("--host", default="127.0.0.1", help="Address to listen on; the default lets only this computer in.")
@click.option(
    "--open/--no-open", "open_browser", default=True, help="Open the page in a web browser (when there is a display)."
)
@click.option("--log", "log_requests", is_flag=True, help="Print one line per request.")
@reports_errors
def draw(model_path, port, host, open_browser, log_requests):
    """Draw digits in a web page and watch the network guess as you draw."""
    commands.draw(model_path, port, host, open_browser, log_requests)


# --------------------------------------------------------------------------- evaluate


@cli.command(context_settings=CONTEXT_SETTINGS)
@model_option
@data_option
@click.option(
    "--confusion",
    "confusion_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="confusion.png",
    help="Where to save the confusion-matrix figure (.png, .pdf, .svg…).",
)
@click.option(
    "--mistakes",
    "mistakes_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default="mistakes.png",
    help="Where to save the gallery of the 25 most confident mistakes.",
)
@click.option("--no-plot", is_flag=True, help="Do not draw the figures.")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as JSON on stdout, and nothing else.")
@reports_errors
def evaluate(model_path, data, confusion_path, mistakes_path, no_plot, as_json):
    """Score a model on the test split: accuracy, loss, per-digit precision and recall, figures."""
    commands.evaluate(model_path, data, confusion_path, mistakes_path, no_plot, as_json)


# --------------------------------------------------------------------------- export


@cli.command(context_settings=CONTEXT_SETTINGS)
@click.argument("model_path", metavar="MODEL", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("litert", "saved_model")),
    default="litert",
    help="litert: a .tflite file (the default place, MODEL's stem + .tflite, is its twin); "
    "saved_model: a folder for TensorFlow Serving.",
)
@click.option(
    "--quantize",
    type=click.Choice(("none", "int8")),
    default="none",
    help="int8: full-integer post-training quantization, calibrated on 500 training images (LiteRT only).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    show_default="MODEL.tflite, MODEL.int8.tflite or MODEL_saved_model",
    help="Where to write it.",
)
@data_option
@reports_errors
def export(model_path, fmt, quantize, output, data):
    """Write a .keras model for another runtime, and measure its test accuracy there.

    \b
    digitnet export model.keras                  the LiteRT twin: fast check/predict/evaluate/draw
    digitnet export model.keras --quantize int8  a quarter of the size, integer arithmetic
    digitnet export model.keras --format saved_model
    """
    commands.export(model_path, fmt, quantize, output, data)


# --------------------------------------------------------------------------- entry points


def main(argv=None):
    """The `digitnet` console script."""
    cli.main(args=argv, prog_name="digitnet")


def train_main(argv=None):
    """`python model.py`: the train command on its own."""
    train.main(args=argv, prog_name="model.py")


def check_main(argv=None):
    """`python DigitChecker.py`: the check command on its own."""
    check.main(args=argv, prog_name="DigitChecker.py")
