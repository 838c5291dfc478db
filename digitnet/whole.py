"""Is this span one whole digit?  Small networks shipped with digitnet that say so.

The network a user trains reads single MNIST digits, and it reads anything put in
front of it as some digit: half of a 0 as a 1, two squeezed digits as an 8.  Where
strokes touch, the cut that leaves whole digits must be told from cuts that leave
parts or pairs.  These networks were trained for that alone (tests/whole_digit_tuning.py:
spans cut from numbers of MNIST *training* digits written on paper, each labelled by
whether it holds one digit's strokes and nothing else) and are the same for every
model: they look at the 28×28 image prepared for the reader plus the span's shape.

They run in numpy (a few thousand weights each, no TensorFlow), so reading a picture costs
no more start-up than before.
"""

from __future__ import annotations

import functools

# The shipped networks, whose log odds are averaged: two of the same layers, trained apart —
# the first on spans cut along seams, labelled whole by the share of their own ink that is one
# digit's; the second on spans cut along seams and around contacts (digitnet.cuts), labelled by
# the neighbour's ink they hold against an average digit's (tests/whole_digit_tuning.py
# ``--labels foreign``).  Together they chose the digits of more tuning numbers than either.
WEIGHTS_FILES = ("whole_digit.npz", "whole_digit_2.npz")
# What the shape vector holds, in this order (widths and heights × the line's height).
SHAPE_FEATURES = ("width", "height", "left_cut", "right_cut")


@functools.cache
def _shipped() -> tuple:
    """The shipped networks' weights (package data), loaded once."""
    from importlib import resources

    import numpy as np

    networks = []
    for name in WEIGHTS_FILES:
        with resources.files("digitnet").joinpath("networks", name).open("rb") as stream:
            with np.load(stream) as arrays:
                networks.append({key: arrays[key] for key in arrays.files})
    return tuple(networks)


def whole_log_odds(images, shapes, weights=None):
    """log(p / (1 - p)) that each span is one whole digit.

    ``images``: uint8 (N, 28, 28) as prepared for the reader; ``shapes``: (N, 4) in
    SHAPE_FEATURES order.  ``weights``: one network's (as tests/whole_digit_tuning.py writes
    them); by default the shipped networks', their log odds averaged.
    """
    import numpy as np

    if weights is None:
        return np.mean([whole_log_odds(images, shapes, network) for network in _shipped()], axis=0)
    images = np.asarray(images, dtype=np.float32)[..., None] / 255.0
    hidden = _pool(_relu(_conv(images, weights["conv1_kernel"], weights["conv1_bias"])))
    hidden = _pool(_relu(_conv(hidden, weights["conv2_kernel"], weights["conv2_bias"])))
    joined = np.concatenate([hidden.reshape(len(images), -1), np.asarray(shapes, dtype=np.float32)], axis=1)
    dense = _relu(joined @ weights["dense_kernel"] + weights["dense_bias"])
    return (dense @ weights["out_kernel"] + weights["out_bias"])[:, 0]


def _conv(images, kernel, bias):
    """A 'valid' 2-D convolution (Keras' Conv2D, channels last): (N, H, W, C) → (N, H-k+1, W-k+1, F)."""
    import numpy as np

    size = kernel.shape[0]
    windows = np.lib.stride_tricks.sliding_window_view(images, (size, size), axis=(1, 2))
    return np.einsum("nhwcij,ijcf->nhwf", windows, kernel, optimize=True) + bias


def _relu(values):
    import numpy as np

    return np.maximum(values, 0.0)


def _pool(values):
    """2×2 max pooling, dropping an odd last row or column (Keras' MaxPooling2D)."""
    count, height, width, channels = values.shape
    values = values[:, : height // 2 * 2, : width // 2 * 2]
    return values.reshape(count, height // 2, 2, width // 2, 2, channels).max(axis=(2, 4))
