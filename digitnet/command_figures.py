"""The commands' figures: made, then saved (or shown in a window when asked), the path printed."""

from __future__ import annotations

import click


def plot_number(picture, result, path, show):
    from . import plots

    fig = plots.new_figure(plots.number_figsize(len(result.digits)), interactive=show)
    plots.number_figure(
        picture, [(r.box, r.prediction.digit, r.prediction.probabilities) for r in result.digits], fig=fig
    )
    show_or_save(fig, path, show)


def plot_digit(image, prediction, label, path, show):
    from . import plots

    fig = plots.new_figure(plots.DIGIT_FIGSIZE, interactive=show)
    plots.digit_figure(image, prediction.probabilities, predicted=prediction.digit, label=label, fig=fig)
    show_or_save(fig, path, show)


def show_or_save(fig, path, show):
    from . import plots

    if show and plots.show(fig):
        return
    if show:
        click.echo("no display for a window; saving the figure instead", err=True)
    plots.save_figure(fig, path)
    click.echo(f"figure: {path}")


def check_figure_paths(*paths) -> None:
    from matplotlib.backend_bases import FigureCanvasBase

    from .errors import UsageError
    from .files import check_writable

    if len({p.resolve() for p in paths}) < len(paths):
        raise UsageError("--confusion and --mistakes name the same file; give them different names")
    formats = FigureCanvasBase.get_supported_filetypes()
    for path in paths:
        suffix = path.suffix.lstrip(".").lower()
        if suffix and suffix not in formats:
            raise UsageError(f"{path}: cannot save a figure as .{suffix}; use one of .{', .'.join(sorted(formats))}")
        check_writable(path)


def save_evaluation_figures(evaluation, split, confusion_path, mistakes_path) -> dict:
    from . import plots

    plots.save_figure(plots.confusion_figure(evaluation.confusion), confusion_path)
    worst = evaluation.confident_mistakes()
    gallery = plots.mistakes_figure(
        split.images[worst],
        evaluation.predictions[worst],
        evaluation.labels[worst],
        evaluation.confidences[worst],
        total_mistakes=evaluation.mistake_count,
    )
    plots.save_figure(gallery, mistakes_path)
    return {"confusion": str(confusion_path), "mistakes": str(mistakes_path)}
