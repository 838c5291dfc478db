"""The paper under the ink: which way round the ink is, and the paper's level and noise.

Works on a grey page as float32 in [0, 1].  The paper's level is fitted as a smooth
surface (uneven light, tint and vignetting go with it), so what stands above it is
ink wherever it lies on the sheet.  A picture cropped to its digit, where ink may be
half of it, is recognised by its two tones instead (``two_tones``).
"""

from __future__ import annotations

from typing import NamedTuple

# Noise floor (0–1) for comparing how far ink stands out: below it, a synthetic page is "perfectly quiet".
QUIETEST_PAPER = 0.003
# The paper's level is measured on about this many blocks along the page's long side.
PAPER_GRID = 32
# Blocks this far (or three robust deviations) from the fitted paper hold ink.
PAPER_TOLERANCE = 0.03


# A picture cropped to its ink is two-toned: Otsu's split of its grey levels explains at least
# this share of their variance (paper photographed unevenly, noise, a gradient: at most 0.76),
TWO_TONED = 0.8
# and its two tones lie at least this far apart (faint noise is no ink; a blue pen on white is about 0.5).
TWO_TONES_APART = 0.35


class Paper:
    """The paper's level as a smooth surface: a low-degree polynomial in x and y.

    Light across a sheet (a gradient one way, darker corners) is smooth, so a surface
    fitted to the paper extrapolates to the corners and under the ink correctly,
    where local minima or medians lag behind.
    """

    def __init__(self, coefficients, degree: int, shape):
        self.coefficients = coefficients
        self.degree = degree
        self.shape = shape  # (height, width) of the page as analysed
        self.low, self.high = 0.0, 1.0

    def over(self, box, size):
        """The level at the pixel centres of ``size`` (w, h) pixels spanning ``box`` of the page."""
        import numpy as np

        left, top, right, bottom = box
        width, height = size
        xs = left + (np.arange(width, dtype=np.float32) + 0.5) * ((right - left) / width)
        ys = top + (np.arange(height, dtype=np.float32) + 0.5) * ((bottom - top) / height)
        u = 2 * xs / self.shape[1] - 1
        v = 2 * ys / self.shape[0] - 1
        level = np.zeros((height, width), dtype=np.float32)
        for coefficient, (i, j) in zip(self.coefficients, terms(self.degree), strict=True):
            level += np.float32(coefficient) * np.outer(v**j, u**i)
        return np.clip(level, self.low, self.high)


def terms(degree: int):
    return [(i, j) for i in range(degree + 1) for j in range(degree + 1 - i)]


def ink_and_paper(page):
    """Decide the polarity: (ink is dark?, ink made bright, the paper's fitted level).

    Both readings are tried — dark ink on light paper, light ink on dark — each with
    the paper fitted under that reading.  Under the right one the paper is the
    majority of the page, level and quiet, and the ink stands far above it (in units
    of the paper's noise); under the wrong one the "ink" is the paper's own brightest
    pixels, or the fitted "paper" is a mixture of paper and ink and far from quiet.
    This holds for a vignetted photo (darker corners are not "paper darker than the
    ink") and for a marker digit covering much of the page (the border is partly ink).
    """
    import numpy as np

    best = None
    for ink_is_dark in (True, False):
        ink = 1.0 - page if ink_is_dark else page
        paper = fit_paper(ink)
        signal = box_mean3(ink - paper.over((0, 0, ink.shape[1], ink.shape[0]), (ink.shape[1], ink.shape[0])))
        typical = float(np.median(signal))
        spread = max(noise_sigma(signal), QUIETEST_PAPER)
        standing_out = (float(np.percentile(signal, 99.9)) - typical) / spread
        if best is None or standing_out > best[0]:
            best = (standing_out, ink_is_dark, ink, paper)
    return best[1:]


def fit_paper(ink) -> Paper:
    """Fit the paper's level (ink bright) over the page, leaving the ink out.

    Medians over small blocks, then a polynomial surface fitted to them; blocks far
    from the surface (the ink) are dropped and the fit repeated.  A page too small
    to see the light change across it gets one level: its border's median.
    """
    import numpy as np

    height, width = ink.shape
    # Blocks of 1/PAPER_GRID of the long side, but small enough for 8 along the short one
    # (a strip photographed around a row of digits).
    block = max(4, min(round(max(height, width) / PAPER_GRID), min(height, width) // 8))
    rows, cols = height // block, width // block
    if min(rows, cols) < 8:
        band = max(1, round(0.04 * min(height, width)))
        border = np.concatenate(
            [ink[:band].ravel(), ink[-band:].ravel(), ink[:, :band].ravel(), ink[:, -band:].ravel()]
        )
        paper = Paper([float(np.median(border))], 0, ink.shape)
        return paper
    cut = ink[: rows * block, : cols * block]
    medians = np.median(
        cut.reshape(rows, block, cols, block).transpose(0, 2, 1, 3).reshape(rows, cols, -1), axis=2
    ).ravel()
    ys, xs = np.mgrid[0:rows, 0:cols]
    u = (2 * (xs.ravel() + 0.5) * block / width - 1).astype(np.float64)
    v = (2 * (ys.ravel() + 0.5) * block / height - 1).astype(np.float64)
    top_degree = 3 if min(rows, cols) >= 12 else 2
    # Start from the darker half of the blocks (surely paper, even when a thick digit
    # covers much of the page), then let the surface bend more as it finds more paper.
    keep = medians <= np.median(medians)
    degree, coefficients = 0, np.array([float(np.median(medians[keep]))])
    for step in range(top_degree + 1):
        step_terms = terms(step)
        if keep.sum() < 3 * len(step_terms):
            break
        design = np.stack([u**i * v**j for i, j in step_terms], axis=1)
        for _ in range(3):
            coefficients = np.linalg.lstsq(design[keep], medians[keep], rcond=None)[0]
            residual = medians - design @ coefficients
            spread = 1.4826 * float(np.median(np.abs(residual[keep])))
            # Far above: ink.  Far below: ink of the other polarity, when this reading is the wrong one.
            keep = np.abs(residual) < max(3 * spread, PAPER_TOLERANCE)
        degree = step
    paper = Paper(coefficients, degree, ink.shape)
    paper.low, paper.high = float(medians[keep].min()), float(medians[keep].max())
    return paper


def noise_sigma(signal) -> float:
    """Robust standard deviation of the paper (the majority of pixels): 1.4826 × MAD."""
    import numpy as np

    centre = np.median(signal)
    return float(1.4826 * np.median(np.abs(signal - centre)))


def box_mean3(values):
    """Each pixel's 3×3 neighbourhood mean (edges repeated): a little smoothing against noise."""
    from scipy import ndimage

    return ndimage.uniform_filter(values, size=3, mode="nearest") if min(values.shape) >= 3 else values


class Tones(NamedTuple):
    """A two-toned picture's split: its paper's grey (0–255), the share of it in ink, and the grey
    level from which on pixels are paper (``ink_is_dark``) or ink."""

    paper: float
    ink_share: float
    threshold: int
    ink_is_dark: bool


def two_tones(counts, border) -> Tones | None:
    """How a picture whose grey levels 0–255 are counted in ``counts`` splits into paper and ink,
    when it is two-toned; None otherwise.  ``border`` holds the grey levels of its outermost pixels.

    A digit cropped to its ink may cover half the picture, and then neither the paper's level
    nor its noise can be measured as the majority of the pixels.  Such a picture is two-toned:
    Otsu's threshold splits its grey levels into ink and paper, far apart, which explains
    most of their variance.  The paper is the tone most of the border has: a digit cropped to
    its ink touches the sides only where its strokes end or turn (a thick 0 may be mostly ink).
    """
    import numpy as np

    counts = np.asarray(counts, dtype=np.float64)
    share = counts / max(1.0, counts.sum())
    levels = (np.arange(len(share)) + 0.5) / len(share)
    below = np.cumsum(share)[:-1]  # share below each possible threshold
    below_sum = np.cumsum(share * levels)[:-1]
    mean = float((share * levels).sum())
    variance = float((share * (levels - mean) ** 2).sum())
    usable = (below > 0) & (below < 1)
    if variance <= 0 or not usable.any():
        return None
    dark = np.where(usable, below_sum / np.where(usable, below, 1), 0)
    light = np.where(usable, (mean - below_sum) / np.where(usable, 1 - below, 1), 0)
    between = np.where(usable, below * (1 - below) * (light - dark) ** 2, 0)
    split = int(np.argmax(between))
    if between[split] / variance < TWO_TONED or light[split] - dark[split] < TWO_TONES_APART:
        return None
    ink_is_dark = bool(np.mean(np.asarray(border) >= split + 1) >= 0.5)
    # The paper's tone is its class's median (the class mean is pulled toward the ink by the
    # strokes' soft edges).
    paper = share[split + 1 :] if ink_is_dark else share[: split + 1]
    middle = int(np.searchsorted(np.cumsum(paper), paper.sum() / 2)) + (split + 1 if ink_is_dark else 0)
    ink_share = float(below[split] if ink_is_dark else 1 - below[split])
    return Tones(float(middle), ink_share, split + 1, ink_is_dark)
