"""Figures: built on matplotlib's Figure (no global pyplot state), saved to files.

A window is opened only by ``show``, when the user asks for one.
"""

from __future__ import annotations

from pathlib import Path

DIGIT_FIGSIZE = (8.0, 3.6)
HISTORY_FIGSIZE = (10.0, 4.0)
DPI = 100


def new_figure(figsize, *, interactive: bool = False):
    """A Figure not tied to pyplot, or a pyplot-managed one when it will be shown."""
    if interactive:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize, dpi=DPI)
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=DPI)


def digit_figure(image, probabilities, *, predicted: int, label: int | None = None, title: str | None = None, fig=None):
    """The 28×28 digit with "predicted P · true T" over it, beside the ten probabilities."""
    fig = fig or new_figure(DIGIT_FIGSIZE)
    ax_img, ax_bar = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
    ax_img.imshow(image, cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
    ax_img.set_xticks([])
    ax_img.set_yticks([])
    heading = f"predicted {predicted}" + (f" · true {label}" if label is not None else "")
    colour = "black" if label is None or label == predicted else "firebrick"
    ax_img.set_title(heading, color=colour, fontsize=13)

    digits = range(len(probabilities))
    colours = ["tab:blue"] * len(probabilities)
    if label is not None and label != predicted:
        colours[label] = "tab:green"
    colours[predicted] = "tab:orange" if label in (None, predicted) else "firebrick"
    bars = ax_bar.bar(digits, probabilities, color=colours)
    ax_bar.set_xticks(list(digits))
    ax_bar.set_ylim(0, 1.08)
    ax_bar.set_xlabel("digit")
    ax_bar.set_ylabel("probability")
    ax_bar.set_title(title or "class probabilities", fontsize=11)
    bar = bars[predicted]
    ax_bar.annotate(
        f"{probabilities[predicted]:.0%}",
        (bar.get_x() + bar.get_width() / 2, bar.get_height()),
        ha="center",
        va="bottom",
        fontsize=9,
    )
    # Fixed margins for this fixed-size figure: tight_layout would draw it an extra
    # time, a third of the per-index cost at the interactive prompt.
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.14, top=0.89, wspace=0.16)
    return fig


def number_figsize(count: int):
    """Room for the picture on top and one small probability chart per digit below."""
    return (max(DIGIT_FIGSIZE[0], 1.6 * count), 5.2)


def number_figure(picture, digits, *, fig=None):
    """The picture with a box and the digit read over each, above each digit's ten probabilities.

    ``picture`` is a Pillow image; ``digits`` is a list of ((left, top, right, bottom), digit, probabilities).
    """
    from matplotlib.patches import Rectangle

    fig = fig or new_figure(number_figsize(len(digits)))
    grid = fig.add_gridspec(2, len(digits), height_ratios=[1.5, 1])
    ax_picture = fig.add_subplot(grid[0, :])
    ax_picture.imshow(picture.convert("RGB"), interpolation="antialiased")
    ax_picture.set_xticks([])
    ax_picture.set_yticks([])
    ax_picture.set_title("read " + "".join(str(digit) for _, digit, _ in digits), fontsize=13)
    for n, ((left, top, right, bottom), digit, probabilities) in enumerate(digits):
        ax_picture.add_patch(
            Rectangle((left, top), right - left, bottom - top, fill=False, edgecolor="tab:orange", linewidth=1.5)
        )
        ax_picture.text(
            left,
            top,
            f"{digit}",
            color="white",
            fontsize=11,
            fontweight="bold",
            va="bottom",
            ha="left",
            bbox={"facecolor": "tab:orange", "edgecolor": "none", "pad": 1.5},
        )
        ax_bar = fig.add_subplot(grid[1, n])
        colours = ["tab:blue"] * len(probabilities)
        colours[digit] = "tab:orange"
        ax_bar.bar(range(len(probabilities)), probabilities, color=colours)
        ax_bar.set_xticks(range(len(probabilities)))
        ax_bar.tick_params(labelsize=7)
        ax_bar.set_ylim(0, 1.08)
        ax_bar.set_yticks([] if n else [0, 0.5, 1])
        ax_bar.set_title(f"{digit} ({probabilities[digit]:.0%})", fontsize=10)
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.06, top=0.93, hspace=0.3, wspace=0.15)
    return fig


def history_figure(history: dict, *, title: str | None = None, fig=None):
    """Loss and accuracy per epoch, training and validation."""
    from matplotlib.ticker import MaxNLocator

    fig = fig or new_figure(HISTORY_FIGSIZE)
    epochs = max((len(values) for values in history.values() if values), default=1)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for ax, key, name in ((ax_loss, "loss", "loss"), (ax_acc, "accuracy", "accuracy")):
        for prefix, style, who in (("", "-o", "training"), ("val_", "--s", "validation")):
            values = history.get(prefix + key)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, label=who, markersize=4)
        ax.set_xlabel("epoch")
        # Whole epochs only: without this a 1-epoch run gets ticks at 0.96, 0.98, ...
        ax.set_xlim(0.5, epochs + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- evaluation figures

CONFUSION_FIGSIZE = (8.0, 7.0)
MISTAKES_TILE_SIZE = (2.0, 2.2)  # inches per gallery tile: room for "pred 7 (99%) · true 2"
MISTAKES_COLUMNS = 5
NO_MISTAKES_FIGSIZE = (6.0, 2.0)


def confusion_figure(confusion, *, title: str | None = None, fig=None):
    """The 10×10 confusion matrix, every count written in its cell.

    Correct answers (the diagonal) outnumber any mistake a hundredfold, so colours
    follow a log scale: a cell with 3 mistakes is visibly tinted, not lost in white.
    Empty cells stay white.
    """
    import matplotlib
    import numpy as np
    from matplotlib.colors import ListedColormap, LogNorm

    confusion = np.asarray(confusion)
    n = confusion.shape[0]
    fig = fig or new_figure(CONFUSION_FIGSIZE)
    ax = fig.subplots()
    shown = np.ma.masked_equal(confusion, 0)
    # Blues without its near-white end, so a single mistake is tinted and only empty cells are white.
    blues = ListedColormap(matplotlib.colormaps["Blues"](np.linspace(0.18, 1.0, 256))).with_extremes(bad="white")
    image = ax.imshow(
        shown, cmap=blues, norm=LogNorm(vmin=1, vmax=max(int(confusion.max()), 2)), interpolation="nearest"
    )
    colourbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    colourbar.set_label("images (log scale)")
    dark_from = np.sqrt(max(int(confusion.max()), 1))  # the middle of the log scale
    for t in range(n):
        for p in range(n):
            count = int(confusion[t, p])
            colour = "white" if count >= dark_from else ("black" if count else "lightgray")
            weight = "bold" if t == p else "normal"
            ax.text(p, t, f"{count}", ha="center", va="center", fontsize=8, color=colour, fontweight=weight)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.xaxis.set_label_position("top")
    ax.xaxis.tick_top()
    total = int(confusion.sum())
    accuracy = np.trace(confusion) / total if total else 0.0
    ax.set_title(title or f"confusion matrix: {total:,} images, {accuracy:.2%} correct", pad=28)
    fig.tight_layout()
    return fig


def mistakes_figsize(count: int):
    """The gallery's size in inches for ``count`` tiles (a short note when there are none)."""
    if count <= 0:
        return NO_MISTAKES_FIGSIZE
    columns = min(count, MISTAKES_COLUMNS)
    rows = -(-count // MISTAKES_COLUMNS)
    return (max(columns * MISTAKES_TILE_SIZE[0], 4.0), rows * MISTAKES_TILE_SIZE[1] + 0.6)


def mistakes_figure(
    images, predicted, true, confidences, *, total_mistakes: int | None = None, title: str | None = None, fig=None
):
    """A gallery of misread digits, five a row, each titled "pred P (xx%) · true T".

    Pass them most confident first; with no mistakes the figure says so.
    """
    count = len(images)
    fig = fig or new_figure(mistakes_figsize(count))
    if count == 0:
        fig.text(
            0.5, 0.5, title or "no mistakes: every image was predicted correctly", ha="center", va="center", fontsize=13
        )
        return fig
    columns = min(count, MISTAKES_COLUMNS)
    rows = -(-count // MISTAKES_COLUMNS)
    axes = fig.subplots(rows, columns, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= count:
            ax.set_axis_off()
            continue
        ax.imshow(images[k], cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(
            f"pred {int(predicted[k])} ({_confidence_text(confidences[k])}) · true {int(true[k])}", fontsize=9.5
        )
    fig.suptitle(title or _gallery_heading(count, total_mistakes), fontsize=12)
    fig.tight_layout()
    return fig


def _confidence_text(probability) -> str:
    """Whole percent, but never round a confident mistake up to a misleading "100%"."""
    import math

    p = float(probability)
    if p >= 1.0:
        return "100%"
    if p >= 0.99:
        return f"{math.floor(p * 1000) / 10:.1f}%"
    return f"{p:.0%}"


def _gallery_heading(shown: int, total: int | None) -> str:
    if total is None or total <= shown:
        return "the only mistake" if shown == 1 else f"all {shown} mistakes, most confident first"
    return f"the {shown} most confident mistakes (of {total:,})"


def before_after_figure(before, after, *, captions=None, title: str | None = None, columns: int = 8, fig=None):
    """Digits (N, 28, 28) in 0–1 or 0–255 shown in pairs: each original above its changed copy."""
    count = len(before)
    rows = 2 * -(-count // columns)
    fig = fig or new_figure((1.1 * columns, 1.2 * rows))
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for i in range(count):
        top, bottom = axes[2 * (i // columns), i % columns], axes[2 * (i // columns) + 1, i % columns]
        for ax, image in ((top, before[i]), (bottom, after[i])):
            ax.imshow(image, cmap="gray_r", vmin=0, vmax=max(1.0, float(image.max())), interpolation="nearest")
        if captions is not None:
            bottom.set_title(captions[i], fontsize=8, pad=2)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def save_figure(fig, path) -> Path:
    """Write ``fig`` to ``path`` atomically (format from the suffix, PNG by default)."""
    from .files import atomic_path

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_path(path, suffix="." + fmt) as tmp:
        fig.savefig(tmp, format=fmt, dpi=DPI)
    return path


def show(fig) -> bool:
    """Open ``fig`` (made with ``interactive=True``) in a window; False if no display can."""
    import matplotlib
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend().lower()
    if backend in ("agg", "pdf", "ps", "svg", "cairo", "template") or backend.startswith("module://matplotlib_inline"):
        plt.close(fig)
        return False
    plt.show()
    return True
