"""Pixels as the model sees them: the one function every path into the network goes through.

``to_model_input`` turns uint8 digit images into the network's input; training,
checking, evaluation and prediction all call it, so a model never sees pixels
prepared two different ways.  People's pictures become such uint8 digits in
``pictures`` (reading files), ``page`` (finding the digits) and ``digit`` (making
one MNIST-style 28×28 digit).
"""

from __future__ import annotations

PIXEL_MAX = 255.0


def to_model_input(images):
    """Scale uint8 images (..., 28, 28) in 0–255 to float32 in [0, 1].

    A single image (28, 28) becomes a batch of one (1, 28, 28).
    """
    import numpy as np

    images = np.asarray(images)
    if images.ndim == 2:
        images = images[np.newaxis]
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"expected images of shape (N, 28, 28), got {images.shape}")
    return images.astype(np.float32) / np.float32(PIXEL_MAX)
