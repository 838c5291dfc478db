"""What each command does once its options are parsed (digitnet.cli parses them).

Each function runs one command: the checks that must fail before the slow model load
first, then the work, then what it prints; failures are DigitnetErrors, which
``exits.reports_errors`` around the click command turns into one line and an exit
status.  Nothing heavy is imported at module level: the cli imports this at start-up.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from .command_figures import check_figure_paths, plot_digit, plot_number, save_evaluation_figures
from .errors import DigitnetError


def load_runner(model_path):
    """The model, ready to ask (runtime.load); says on stderr, in one line, when it had to boot TensorFlow."""
    from .runtime import load

    return load(model_path, on_fallback=lambda hint: click.echo(hint, err=True))


def train(arch, epochs, batch_size, learning_rate, seed, validation_split, data, output, logdir, quiet, augment):
    """`digitnet train`: train a network on MNIST and save it as a .keras file."""
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


def check(index, image_path, model_path, data, plot_path, no_plot, show):
    """`digitnet check`: predict a test digit and compare it with its true label (or the digit in --image)."""
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


def predict(inputs, model_path, top, as_json, preprocessed_dir, single):
    """`digitnet predict`: read the digits in each picture, left to right: image files, or folders of them."""
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


def draw(model_path, port, host, open_browser, log_requests):
    """`digitnet draw`: draw digits in a web page and watch the network guess as you draw."""
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


def evaluate(model_path, data, confusion_path, mistakes_path, no_plot, as_json):
    """`digitnet evaluate`: score a model on the test split: accuracy, loss, per-digit precision and recall, figures."""
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


def export(model_path, fmt, quantize, output, data):
    """`digitnet export`: write a .keras model for another runtime, and measure its test accuracy there."""
    from .export import export_model

    click.echo(export_model(model_path, fmt=fmt, quantize=quantize, output=output, data=data).line())
