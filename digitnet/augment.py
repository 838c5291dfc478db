"""Training digits varied as people's writing varies: `digitnet train --augment`.

Two parts, both kept out of the saved model (it is the same network, built from the
same built-in layers, whether it was trained with augmentation or not):

- ``augment_batch``: TensorFlow ops applied to each training batch inside the training
  step — stroke width (thin pen to marker), blur, and one resampling that combines a
  rotation, a shear, a size and aspect change, a shift and an elastic distortion.
  Everything is batched (one random draw per image, no Python per image) and drawn
  from a stateless seed, so the same ``--seed`` gives the same model.
- ``with_writing_styles``: styles MNIST's writers rarely used, made once from its own
  digits before training (NumPy, vectorised over the images): a flag (and sometimes a
  foot) added to some 1s and a crossbar to some 7s, labelled 1 and 7, then fitted and
  centred again as MNIST's digits were.

The settings were chosen on the validation split and on the tuning sets of
tests/handwriting_eval.py (``--tune``), never on MNIST's test set or the pictures
reported in the README (which tells how, round by round).
"""

from __future__ import annotations

import dataclasses
import math

FRAME = 28
CENTRE = (FRAME - 1) / 2


@dataclasses.dataclass(frozen=True)
class AugmentSettings:
    """How strongly training digits are varied; recorded in the model's metadata."""

    varied_fraction: float = 0.7  # share of each batch varied; the rest is shown as MNIST wrote it
    rotation_degrees: float = 8.0  # tilt, uniform in ±this
    shear: float = 0.15  # slant: horizontal shift per pixel of height, uniform in ±this
    scale: tuple = (0.85, 1.05)  # digit size relative to MNIST's 20-pixel box
    aspect: float = 0.25  # width/height stretched by up to ±this (log scale)
    shift_pixels: float = 2.0  # off-centre by up to this, each way
    elastic_pixels: float = 0.8  # std of the smooth local displacement
    elastic_grid: int = 4  # displacement drawn on a grid this coarse, then smoothed up
    stroke: float = 0.6  # pen width: blend toward a 3×3 dilation (+) or erosion (−), up to this
    blur: float = 0.9  # blend toward a Gaussian blur (σ 1 px), up to this
    flag_fraction: float = 0.5  # share of the training 1s given a flag (a third of them also a foot)
    crossbar_fraction: float = 0.25  # share of the training 7s given a crossbar

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


DEFAULT_SETTINGS = AugmentSettings()


def settings_for(augment) -> AugmentSettings | None:
    """``train_model``'s ``augment`` argument (False, True or AugmentSettings) → the settings, or None."""
    if augment is True:
        return DEFAULT_SETTINGS
    return augment or None


# --------------------------------------------------------------------------- in the graph


def augment_batch(images, seed, settings: AugmentSettings = DEFAULT_SETTINGS):
    """A batch (N, 28, 28) float in [0, 1] → the same digits, each varied at random.

    ``seed`` is a stateless seed (an int64 tensor of shape (2,)): the same seed gives
    the same batch.
    """
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=5)
    varied = _stroke_width(images, seeds[0], settings.stroke)
    varied = _blurred(varied, seeds[1], settings.blur)
    coords = _source_coordinates(tf.shape(images)[0], seeds[2], seeds[3], settings)
    varied = _bilinear_sample(varied, coords)
    # Some digits stay as MNIST wrote them: a network shown only varied digits (tried
    # first, with stronger settings) fitted them to 95.6% and MNIST's own to 98.9%.
    keep = _uniform([tf.shape(images)[0], 1, 1], seeds[4], 0.0, 1.0) >= settings.varied_fraction
    return tf.where(keep, images, varied)


def _uniform(shape, seed, low, high):
    import tensorflow as tf

    return tf.random.stateless_uniform(shape, seed=seed, minval=low, maxval=high)


def _stroke_width(images, seed, strength: float):
    """Thicker or thinner strokes: a blend toward a 3×3 grey dilation or erosion."""
    import tensorflow as tf

    if strength <= 0:
        return images
    thick = _neighbourhood(images, tf.maximum, 0.0)
    thin = _neighbourhood(images, tf.minimum, 1.0)
    amount = _uniform([tf.shape(images)[0], 1, 1], seed, -strength, strength)
    varied = images + tf.nn.relu(amount) * (thick - images) + tf.nn.relu(-amount) * (thin - images)
    return _full_strength(varied)


def _neighbourhood(images, reduce, outside: float):
    """``reduce`` (max or min) over each pixel's 3×3 neighbourhood: along rows, then columns."""
    import tensorflow as tf

    padded = tf.pad(images, [[0, 0], [1, 1], [0, 0]], constant_values=outside)
    rows = reduce(reduce(padded[:, :-2], padded[:, 1:-1]), padded[:, 2:])
    padded = tf.pad(rows, [[0, 0], [0, 0], [1, 1]], constant_values=outside)
    return reduce(reduce(padded[:, :, :-2], padded[:, :, 1:-1]), padded[:, :, 2:])


def _blurred(images, seed, strength: float):
    """Soft edges, as from a phone photo or a low-resolution scan."""
    import numpy as np
    import tensorflow as tf

    if strength <= 0:
        return images
    taps = np.exp(-0.5 * np.arange(-2, 3) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    # Separable: rows, then columns, as sums of shifted copies (far cheaper here than
    # a convolution op on one-channel 28×28 images).
    padded = tf.pad(images, [[0, 0], [2, 2], [0, 0]])
    soft = sum(float(w) * padded[:, i : i + FRAME, :] for i, w in enumerate(taps))
    padded = tf.pad(soft, [[0, 0], [0, 0], [2, 2]])
    soft = sum(float(w) * padded[:, :, i : i + FRAME] for i, w in enumerate(taps))
    amount = _uniform([tf.shape(images)[0], 1, 1], seed, 0.0, strength)
    return _full_strength(images + amount * (soft - images))


def _full_strength(images):
    """MNIST's strokes reach full white (so does every picture digitnet prepares)."""
    import tensorflow as tf

    peak = tf.reduce_max(images, axis=[1, 2], keepdims=True)
    return tf.clip_by_value(images / tf.maximum(peak, 0.3), 0.0, 1.0)


def _source_coordinates(count, affine_seed, elastic_seed, settings: AugmentSettings):
    """For every output pixel of every image, where to read it in the original: (N, 28, 28, 2) as (y, x).

    The output is the original rotated, sheared, scaled and shifted about the frame's
    centre, then displaced by a smooth random field (elastic distortion): one inverse
    map, so the digit is resampled once.
    """
    import tensorflow as tf

    draws = tf.random.stateless_uniform([count, 7], seed=affine_seed, minval=-1.0, maxval=1.0)
    angle = draws[:, 0] * math.radians(settings.rotation_degrees)
    shear = draws[:, 1] * settings.shear
    low, high = settings.scale
    size = (low + high) / 2 + draws[:, 2] * (high - low) / 2
    stretch = tf.exp(draws[:, 3] * settings.aspect)
    scale_x, scale_y = size * tf.sqrt(stretch), size / tf.sqrt(stretch)
    shift_x, shift_y = draws[:, 4] * settings.shift_pixels, draws[:, 5] * settings.shift_pixels

    # Forward map (x, y) → rotation · shear · scale; its inverse, written out.
    cos, sin = tf.cos(angle), tf.sin(angle)
    a, b = cos * scale_x, (cos * shear - sin) * scale_y
    c, d = sin * scale_x, (sin * shear + cos) * scale_y
    det = a * d - b * c
    inv = tf.stack([d, -b, -c, a], axis=-1) / det[:, None]  # (N, 4)

    grid = tf.range(FRAME, dtype=tf.float32) - CENTRE
    out_y, out_x = tf.meshgrid(grid, grid, indexing="ij")
    px = out_x[None] - shift_x[:, None, None]
    py = out_y[None] - shift_y[:, None, None]
    src_x = inv[:, 0, None, None] * px + inv[:, 1, None, None] * py
    src_y = inv[:, 2, None, None] * px + inv[:, 3, None, None] * py

    if settings.elastic_pixels > 0:
        coarse = tf.random.stateless_normal([count, 2, settings.elastic_grid, settings.elastic_grid], seed=elastic_seed)
        up = _upsampling_matrix(settings.elastic_grid)  # smooth, and cheaper than an image resize
        field = tf.einsum("yi,nkij,xj->nkyx", up, coarse, up) * settings.elastic_pixels
        src_x += field[:, 0]
        src_y += field[:, 1]
    return tf.stack([src_y + CENTRE, src_x + CENTRE], axis=-1)


def _upsampling_matrix(grid: int):
    """(28, grid) weights that interpolate ``grid`` points linearly across the frame."""
    import numpy as np

    position = np.linspace(0, grid - 1, FRAME)
    return np.maximum(0, 1 - np.abs(position[:, None] - np.arange(grid)[None])).astype(np.float32)


def _bilinear_sample(images, coords):
    """Read ``images`` (N, 28, 28) at fractional ``coords`` (N, 28, 28, 2); black outside."""
    import tensorflow as tf

    count = tf.shape(images)[0]
    padded = tf.pad(images, [[0, 0], [1, 1], [1, 1]])  # a black border to read outside the frame
    side = FRAME + 2
    flat = tf.reshape(padded, [-1])
    coords = tf.clip_by_value(coords + 1.0, 0.0, side - 1.001)
    top_left = tf.floor(coords)
    frac = coords - top_left
    y0, x0 = tf.cast(top_left[..., 0], tf.int32), tf.cast(top_left[..., 1], tf.int32)
    base = (tf.range(count) * side * side)[:, None, None]
    fy, fx = frac[..., 0], frac[..., 1]

    corner = base + y0 * side + x0
    # The four neighbours in one gather: (N, 28, 28, 4).
    values = tf.gather(flat, corner[..., None] + tf.constant([0, 1, side, side + 1]))
    weights = tf.stack([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx], axis=-1)
    return tf.reduce_sum(values * weights, axis=-1)


# --------------------------------------------------------------------------- styles MNIST lacks


def with_writing_styles(images, labels, *, seed: int, settings: AugmentSettings = DEFAULT_SETTINGS):
    """A copy of uint8 ``images`` (N, 28, 28) where some 1s have a flag and some 7s a crossbar.

    ``settings.flag_fraction`` of the 1s get a flag (a third of those also a foot),
    ``settings.crossbar_fraction`` of the 7s a crossbar.  The strokes are drawn as wide
    as the digit's own (its median ink width per row), from where its ink starts and
    ends, so they join the digit as a writer's pen would; the changed digits are then
    fitted and centred again as MNIST's were (see ``_normalised_like_mnist``).
    """
    import numpy as np

    rng = np.random.default_rng([seed, 17])
    images = np.array(images, copy=True)
    ones = np.flatnonzero((labels == 1) & (rng.random(len(labels)) < settings.flag_fraction))
    sevens = np.flatnonzero((labels == 7) & (rng.random(len(labels)) < settings.crossbar_fraction))
    if len(ones):
        images[ones] = _normalised_like_mnist(_with_flag(images[ones], rng))
    if len(sevens):
        images[sevens] = _normalised_like_mnist(_with_crossbar(images[sevens], rng))
    return images


def _ink_rows(images, level: int = 100):
    """Per image: first and last ink row, the ink's centre column on them, and the stroke width."""
    import numpy as np

    ink = images >= level
    rows_with_ink = ink.any(axis=2)
    top = rows_with_ink.argmax(axis=1)
    bottom = FRAME - 1 - rows_with_ink[:, ::-1].argmax(axis=1)
    columns = np.arange(FRAME, dtype=np.float32)
    per_row = ink.sum(axis=2).astype(np.float32)
    centre = (ink * columns).sum(axis=2) / np.maximum(per_row, 1)
    take = np.arange(len(images))
    # The median ink width over the rows that have ink (2 for a blank image).
    inked = (per_row > 0).sum(axis=1)
    ordered = np.sort(np.where(per_row > 0, per_row, np.inf), axis=1)
    width = np.where(inked > 0, ordered[take, np.maximum(inked - 1, 0) // 2], 2.0)
    return top, bottom, centre, take, np.clip(width, 1.5, 4.0)


def _with_flag(ones, rng):
    """1s written with a flag from the top, down to the left (short to long, some curved); some with a foot."""
    import numpy as np

    top, bottom, centre, take, width = _ink_rows(ones)
    count = len(ones)
    height = np.maximum(bottom - top, 8).astype(np.float32)
    start = np.stack([centre[take, top], top.astype(np.float32)], axis=1)
    angle = np.radians(rng.uniform(20, 60, count))  # below the horizontal (a 7's bar is nearer level)
    # Up to about as long as a 7's bar: a long flag is what makes a 1 look like a 7.
    length = rng.uniform(0.25, 0.65, count) * height
    direction = np.stack([-np.cos(angle), np.sin(angle)], axis=1)
    end = start + direction * length[:, None]
    # Half the flags are curved, mostly bowing up and out (a pen's arc into the stem):
    # drawn as two straight halves through a middle point pushed off the straight line.
    bow = np.where(rng.random(count) < 0.5, rng.uniform(-0.08, 0.16, count), 0.0) * length
    up_and_out = np.stack([-direction[:, 1], direction[:, 0]], axis=1)  # square to the flag, up and left
    middle = (start + end) / 2 + up_and_out * bow[:, None]
    flagged = _drawn(_drawn(ones, start, middle, width), middle, end, width)
    foot = rng.random(count) < 0.35
    base = np.stack([centre[take, bottom], bottom.astype(np.float32)], axis=1)
    half = (rng.uniform(0.18, 0.3, count) * height)[:, None]
    tilt = rng.normal(0, 0.5, count)[:, None]
    left, right = base + np.hstack([-half, -tilt]), base + np.hstack([half, tilt])
    with_foot = _drawn(flagged, left, right, width)
    return np.where(foot[:, None, None], with_foot, flagged)


def _with_crossbar(sevens, rng):
    """7s with a short bar across the stem, a little below half height."""
    import numpy as np

    top, bottom, centre, take, width = _ink_rows(sevens)
    count = len(sevens)
    height = np.maximum(bottom - top, 8).astype(np.float32)
    row = np.round(top + rng.uniform(0.45, 0.62, count) * height).astype(int)
    middle = np.stack([centre[take, row], row.astype(np.float32)], axis=1)
    left = (rng.uniform(0.15, 0.3, count) * height)[:, None]
    right = (rng.uniform(0.12, 0.28, count) * height)[:, None]
    tilt = rng.normal(0, 0.6, count)[:, None]
    return _drawn(sevens, middle + np.hstack([-left, tilt]), middle + np.hstack([right, -tilt]), width)


def _drawn(images, start, end, width):
    """Draw one anti-aliased straight stroke per image, from ``start`` to ``end`` ((N, 2) as x, y)."""
    import numpy as np

    start = np.clip(start, 1, FRAME - 2)
    end = np.clip(end, 1, FRAME - 2)
    y, x = np.mgrid[0:FRAME, 0:FRAME].astype(np.float32)
    pixels = np.stack([x, y], axis=-1)[None]  # (1, 28, 28, 2)
    along = (end - start)[:, None, None, :]
    rel = pixels - start[:, None, None, :]
    t = np.clip((rel * along).sum(-1) / np.maximum((along**2).sum(-1), 1e-6), 0, 1)
    distance = np.linalg.norm(rel - t[..., None] * along, axis=-1)
    stroke = np.clip(width[:, None, None] / 2 + 0.5 - distance, 0, 1) * 255
    return np.maximum(images, stroke.astype(images.dtype))


def _normalised_like_mnist(images, level: int = 30):
    """uint8 digits (N, 28, 28) fitted and centred again as MNIST's were, after strokes were added.

    A flag widens a 1 and moves its centre of mass: a real flagged 1, normalised by
    MNIST's rule (or by `digitnet predict`'s, digit.prepare_image), sits further right
    than a flag drawn onto an already-centred 1.  So, per image: the ink's bounding box
    is shrunk into 20×20 if it outgrew it, and the centre of mass is moved to the
    frame's centre — by whole pixels when nothing was shrunk, as MNIST did.  One
    bilinear resampling for the whole batch.
    """
    import numpy as np

    from .digit import FIT_SIZE, FRAME_CENTRE

    ink = images.astype(np.float32)
    count = len(images)
    inked = ink >= level
    rows, cols = inked.any(axis=2), inked.any(axis=1)
    height = FRAME - rows.argmax(axis=1) - rows[:, ::-1].argmax(axis=1)
    width = FRAME - cols.argmax(axis=1) - cols[:, ::-1].argmax(axis=1)
    scale = np.minimum(1.0, FIT_SIZE / np.maximum(np.maximum(height, width), 1))
    mass = np.maximum(ink.sum(axis=(1, 2)), 1e-6)
    grid = np.arange(FRAME, dtype=np.float32)
    centre_y = (ink.sum(axis=2) * grid).sum(axis=1) / mass
    centre_x = (ink.sum(axis=1) * grid).sum(axis=1) / mass
    # Where the centre of mass lands before the move; a whole-pixel move when unscaled.
    offset_y, offset_x = FRAME_CENTRE - centre_y * scale, FRAME_CENTRE - centre_x * scale
    whole = scale >= 1.0
    offset_y, offset_x = np.where(whole, np.round(offset_y), offset_y), np.where(whole, np.round(offset_x), offset_x)
    src_y = (grid[None, :, None] - offset_y[:, None, None]) / scale[:, None, None]
    src_x = (grid[None, None, :] - offset_x[:, None, None]) / scale[:, None, None]
    src_y, src_x = np.broadcast_to(src_y, (count, FRAME, FRAME)), np.broadcast_to(src_x, (count, FRAME, FRAME))
    padded = np.pad(ink, [(0, 0), (1, 1), (1, 1)])  # black outside the frame
    y = np.clip(src_y + 1, 0, FRAME + 1 - 1e-3)
    x = np.clip(src_x + 1, 0, FRAME + 1 - 1e-3)
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    fy, fx = y - y0, x - x0
    y1, x1 = np.minimum(y0 + 1, FRAME + 1), np.minimum(x0 + 1, FRAME + 1)
    n = np.arange(count)[:, None, None]
    moved = (
        padded[n, y0, x0] * (1 - fy) * (1 - fx)
        + padded[n, y0, x1] * (1 - fy) * fx
        + padded[n, y1, x0] * fy * (1 - fx)
        + padded[n, y1, x1] * fy * fx
    )
    return np.clip(np.round(moved), 0, 255).astype(images.dtype)


def augmented_batches(images, labels, settings: AugmentSettings, *, seed: int, batch_size: int, epochs: int):
    """A tf.data pipeline of shuffled, augmented batches for Keras' fit (mirrored training)."""
    import tensorflow as tf

    count = int(images.shape[0])
    batches = (
        tf.data.Dataset.from_tensor_slices((images, labels))
        .shuffle(count, seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .repeat(epochs)
    )
    numbered = tf.data.Dataset.zip(tf.data.Dataset.range(2**62), batches)
    return numbered.map(
        lambda index, batch: (
            augment_batch(batch[0], tf.stack([tf.constant(seed, tf.int64), index]), settings),
            batch[1],
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).prefetch(2)
