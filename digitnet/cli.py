"""The command line: `digitnet train | check | …`, also behind model.py and DigitChecker.py.

This layer parses options and calls the use-case functions; ``exits.reports_errors``
turns their failures into one line on stderr with exit status 2 (usage) or 1 (anything
else), and ``command_figures`` saves the figures they print.  It imports
nothing heavy at module level, so `digitnet --help` answers at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from . import __version__
from .command_figures import check_figure_paths, plot_digit, plot_number, save_evaluation_figures
from .errors import DigitnetError
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


def load_runner(model_path):
    """The model, ready to ask (runtime.load); says on stderr, in one line, when it had to boot TensorFlow."""
    from .runtime import load

    return load(model_path, on_fallback=lambda hint: click.echo(hint, err=True))


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
    from .data import load_dataset
    from .errors import UsageError
    from .modelio import check_model_output, history_plot_path, metadata_path, read_metadata, save_model, twin_path
    from .plots import history_figure, save_figure
    from .train import train_model, validation_size

    check_model_output(output)  # model, metadata and curves: before spending minutes on training
    if logdir is not None:
        from .tensorboard_run import check_logdir, new_run_dir

        check_logdir(logdir)
    dataset = load_dataset(data)
    n_val = validation_size(len(dataset.train), validation_split)
    if n_val >= len(dataset.train):
        raise UsageError(
            f"--validation-split {validation_split} leaves none of the {len(dataset.train):,} training images "
            "to train on; use a smaller fraction"
        )
    if not quiet:
        click.echo(
            f"Training {arch} on {dataset.source}: {len(dataset.train) - n_val:,} training, "
            f"{n_val:,} validation, {len(dataset.test):,} test images, {epochs} epoch{'s' * (epochs != 1)}"
            + (", augmented" if augment else "")
        )
    verbose = 0 if quiet else (1 if sys.stdout.isatty() else 2)
    run_dir = new_run_dir(logdir, output, arch) if logdir is not None else None
    result = train_model(
        dataset,
        arch=arch,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        validation_split=validation_split,
        verbose=verbose,
        log_dir=run_dir,
        augment=augment,
    )
    save_model(result.model, output, result.metadata(dataset))
    twin = read_metadata(output).get("litert", {})
    if "error" in twin:
        click.echo(
            f"warning: {output}: saved without its LiteRT twin: {twin['error']}; "
            "check and the others will answer through TensorFlow",
            err=True,
        )
    plot = history_plot_path(output)
    save_figure(history_figure(result.history, title=f"{arch}: test accuracy {result.test_accuracy:.2%}"), plot)
    click.echo(
        f"test accuracy {result.test_accuracy:.2%} (loss {result.test_loss:.4f}) "
        f"after {epochs} epoch{'s' * (epochs != 1)}, "
        f"{result.train_seconds:.1f} s of training; saved {output}"
    )
    if not quiet:
        made = (
            f"  LiteRT twin: {twin_path(output)} ({twin['export_seconds']:.1f} s to export)" if "sha256" in twin else ""
        )
        click.echo(f"metadata: {metadata_path(output)}  curves: {plot}{made}")
        if run_dir is not None:
            click.echo(f"TensorBoard run: {run_dir}  (view: tensorboard --logdir {logdir})")


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
    from .check import parse_index
    from .data import load_dataset

    if image_path is not None:
        from .errors import UsageError

        if index is not None:
            raise UsageError("give --index or --image, not both")
        _check_image(image_path, model_path, plot_path, no_plot, show)
        return
    test = load_dataset(data, splits=("test",)).test
    if index is not None:
        index = parse_index(index, len(test))  # a bad index fails before the slow model load
    figure = plot_path or (Path(f"digit_{index}.png") if index is not None else None)
    if figure is not None and not no_plot:
        from .files import check_figure_path

        check_figure_path(figure)  # an unwritable --plot fails before the slow model load
    model = load_runner(model_path)
    if index is not None:
        _check_one(model, test, index, plot_path, no_plot, show)
        return
    _prompt_loop(model, test, plot_path, no_plot, show)


def _check_one(model, test, index, plot_path, no_plot, show):
    from .check import check_index

    result = check_index(model, test, index)
    click.echo(result.line())
    if not no_plot:
        plot_digit(result.image, result.prediction, result.label, plot_path or Path(f"digit_{result.index}.png"), show)


def _check_image(image_path, model_path, plot_path, no_plot, show):
    """`check --image`: read the digits in one picture through the MNIST recipe; no true label."""
    from .pictures import load_image
    from .predict import read_picture

    picture = load_image(image_path)  # a file that is not a picture fails before the slow model load
    result = read_picture(load_runner(model_path), picture, name=str(image_path))
    click.echo(result.line(verb="predicted "))
    if no_plot:
        return
    path = plot_path or Path(f"{Path(image_path).stem}_prediction.png")
    if result.prediction is not None:
        plot_digit(result.image, result.prediction, None, path, show)
    else:
        plot_number(picture, result, path, show)


def _prompt_loop(model, test, plot_path, no_plot, show):
    from .check import parse_index

    prompt = f"index (0–{len(test) - 1}; empty line or q to quit): "
    while True:
        click.echo(prompt, nl=False)
        line = sys.stdin.readline()
        if not line:  # end of input
            click.echo()
            return
        text = line.strip()
        if text.lower() in ("", "q", "quit", "exit"):
            return
        try:
            index = parse_index(text, len(test))
        except DigitnetError as exc:
            click.echo(f"Error: {exc}; try again", err=True)
            continue
        _check_one(model, test, index, plot_path, no_plot, show)


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
    import json

    from .predict import find_images, prepare_output_folder, preprocessed_paths, read_pictures, save_preprocessed

    if preprocessed_dir is not None:
        prepare_output_folder(preprocessed_dir)

    def report(failure):
        click.echo(f"Error: {failure.message}", err=True)

    paths, failures = find_images(inputs)
    for failure in failures:
        report(failure)
    attempted = len(paths) + len(failures)
    results = []
    if paths:
        model = load_runner(model_path)  # once, before the pictures: a wrong --model fails at once
        results, bad = read_pictures(model, paths, single=single, on_failure=report)
        failures += bad
    if preprocessed_dir is not None:
        # Written before anything is printed: a reader that stops early (| head) must not cost the files.
        for result, targets in zip(results, preprocessed_paths(results, preprocessed_dir, paths), strict=True):
            for reading, target in zip(result.digits, targets, strict=True):
                save_preprocessed(reading.image, target)
    if as_json:
        click.echo(json.dumps([r.as_json() for r in results], indent=2))
    else:
        for result in results:
            click.echo(result.line(top))
        if preprocessed_dir is not None and results:
            click.echo(f"preprocessed 28×28 images: {preprocessed_dir}/")
    if failures:
        raise DigitnetError(f"{len(failures)} of {attempted} inputs could not be predicted (see above)")


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
    from .web import Predictor, bind_server, is_loopback

    server = bind_server(host, port, log_requests=log_requests)  # a busy port fails before the slow load
    try:
        server.predictor = Predictor.load(model_path, on_fallback=lambda hint: click.echo(hint, err=True))
        click.echo(f"digitnet draw: serving {model_path} at {server.url}  (Ctrl-C to stop)")
        if not is_loopback(host):
            click.echo(f"warning: listening on {host}: other computers on the network can open this page", err=True)
        if open_browser:
            _open_browser(server.url)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            click.echo("\ndigitnet draw: stopped")
    finally:
        server.server_close()


def _open_browser(url: str) -> None:
    import webbrowser

    # Without a display, webbrowser would start a text browser inside this terminal.
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        click.echo("no display to open a browser on; open the address above yourself")
        return
    if not webbrowser.open(url):
        click.echo("could not open a browser; open the address above yourself")


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
    from .data import load_dataset
    from .evaluate import evaluate_model, per_digit_table

    if not no_plot:
        check_figure_paths(confusion_path, mistakes_path)  # before the slow model load
    test = load_dataset(data, splits=("test",))
    model = load_runner(model_path)
    evaluation = evaluate_model(model, test.test)
    figures = None if no_plot else save_evaluation_figures(evaluation, test.test, confusion_path, mistakes_path)
    if as_json:
        click.echo(evaluation.to_json(model=str(model_path), data=test.source, figures=figures))
        return
    click.echo(
        f"{model_path} on {test.source}: {len(evaluation):,} test images, predicted in {evaluation.seconds:.2f} s"
    )
    click.echo(f"accuracy  {evaluation.accuracy:.2%}  ({evaluation.mistake_count:,} mistakes)")
    click.echo(f"loss      {evaluation.loss:.4f}")
    click.echo()
    click.echo(per_digit_table(evaluation))
    if figures:
        click.echo()
        click.echo(f"confusion matrix: {figures['confusion']}")
        click.echo(f"mistakes:         {figures['mistakes']}")


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
    from .export import export_model

    click.echo(export_model(model_path, fmt=fmt, quantize=quantize, output=output, data=data).line())


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
