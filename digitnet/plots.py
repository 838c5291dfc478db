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
    fig.tight_layout()
    return fig


def history_figure(history: dict, *, title: str | None = None, fig=None):
    """Loss and accuracy per epoch, training and validation."""
    fig = fig or new_figure(HISTORY_FIGSIZE)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for ax, key, name in ((ax_loss, "loss", "loss"), (ax_acc, "accuracy", "accuracy")):
        for prefix, style, who in (("", "-o", "training"), ("val_", "--s", "validation")):
            values = history.get(prefix + key)
            if values:
                ax.plot(range(1, len(values) + 1), values, style, label=who, markersize=4)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
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
