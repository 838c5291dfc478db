"""Predicting the digit in people's own pictures: the use case behind `digitnet predict`.

Each picture goes through ``preprocess.image_to_digit`` (the MNIST recipe) and then,
all together in one batch, through ``check.predict_probabilities`` — the same path
test digits take.  A picture that cannot be used becomes a ``Failure`` with a
one-line message; the others are still predicted.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .errors import DigitnetError
from .preprocess import IMAGE_SUFFIXES

# Below this the model's best guess is flagged: more likely wrong than right.
UNSURE_BELOW = 0.5


@dataclasses.dataclass(frozen=True)
class Failure:
    """An input that could not be predicted, and why (one line naming it)."""

    path: str
    message: str


@dataclasses.dataclass(frozen=True)
class ImagePrediction:
    """What the model says about one picture, and the 28×28 image it saw."""

    path: str
    prediction: object  # check.Prediction
    image: object  # uint8 (28, 28)

    @property
    def unsure(self) -> bool:
        return self.prediction.confidence < UNSURE_BELOW

    def line(self, top: int = 1, *, verb: str = "") -> str:
        """``path: 7 (98.2%)``, the next ``top - 1`` candidates, and an unsure flag."""
        best = self.prediction
        text = f"{self.path}: {verb}{best.digit} ({best.confidence:.1%})"
        runners_up = self.prediction.ranked(top)[1:]
        if runners_up:
            text += ", then " + ", ".join(f"{d} ({p:.1%})" for d, p in runners_up)
        if self.unsure:
            text += f"  [unsure: below {UNSURE_BELOW:.0%}]"
        return text

    def as_json(self) -> dict:
        return {
            "path": self.path,
            "digit": self.prediction.digit,
            "confidence": self.prediction.confidence,
            "probabilities": list(self.prediction.probabilities),
            "unsure": self.unsure,
        }


def find_images(inputs) -> tuple[list[Path], list[Failure]]:
    """Files as given, folders as the image files directly inside them (sorted by name).

    In a folder, only names with an image suffix (.png, .jpg, ...) are taken and hidden
    files are skipped, so a README or .DS_Store beside the pictures is not an error;
    a file named explicitly is always tried.  A folder without images is a failure.
    """
    images, failures = [], []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                (p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()),
                key=lambda p: p.name,
            )
            if not found:
                failures.append(Failure(str(path), f"{path}: folder holds no image files ({', '.join(IMAGE_SUFFIXES[:5])}, ...)"))
            images.extend(found)
        elif path.exists() or path.is_symlink():
            images.append(path)
        else:
            failures.append(Failure(str(path), f"{path}: no such file or folder"))
    return images, failures


def prepare_images(paths, *, on_failure=None) -> tuple[list[tuple[Path, object]], list[Failure]]:
    """Each path → (path, uint8 28×28); the ones that fail are collected, not raised.

    ``on_failure(failure)`` is called as each failure happens (to report it at once).
    """
    from .preprocess import image_to_digit

    prepared, failures = [], []
    for path in paths:
        try:
            prepared.append((path, image_to_digit(path, name=str(path))))
        except DigitnetError as exc:
            failure = Failure(str(path), str(exc))
        except Exception as exc:  # a bug on one picture must not cost the others their predictions
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            failure = Failure(str(path), f"{path}: could not be prepared (unexpected {type(exc).__name__}{': ' + reason if reason else ''})")
        else:
            continue
        failures.append(failure)
        if on_failure:
            on_failure(failure)
    return prepared, failures


def predict_prepared(model, prepared) -> list[ImagePrediction]:
    """Predict all prepared images in one batch."""
    import numpy as np

    from .check import predict_probabilities, to_prediction

    if not prepared:
        return []
    batch = np.stack([image for _, image in prepared])
    probabilities = predict_probabilities(model, batch)
    return [
        ImagePrediction(path=str(path), prediction=to_prediction(probs), image=image)
        for (path, image), probs in zip(prepared, probabilities)
    ]


def preprocessed_paths(results, folder: Path, inputs=()) -> list[Path]:
    """A distinct ``<stem>.png`` in ``folder`` for each result, never one of the inputs."""
    taken = {Path(p).resolve() for p in inputs}
    paths = []
    for result in results:
        stem = Path(result.path).stem or "image"
        candidate, n = folder / f"{stem}.png", 1
        while candidate.resolve() in taken:
            n += 1
            candidate = folder / f"{stem}-{n}.png"
        taken.add(candidate.resolve())
        paths.append(candidate)
    return paths


def save_preprocessed(image, path: Path) -> Path:
    """Write the 28×28 uint8 image (ink bright on black, as the model saw it) as a PNG."""
    from PIL import Image

    from .files import atomic_path

    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(image, mode="L").save(tmp, format="PNG")
    return path


def prepare_output_folder(folder: Path) -> Path:
    """Create ``folder`` if needed (its parent must exist) and check it can be written."""
    import tempfile

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DigitnetError(f"{folder}: is a file, not a folder; give a folder for --save-preprocessed")
    if not folder.exists():
        if not folder.parent.is_dir():
            raise DigitnetError(f"{folder.parent}: folder does not exist; create it first or choose another --save-preprocessed")
        try:
            folder.mkdir()
        except OSError as exc:
            raise DigitnetError(f"{folder}: cannot be created ({exc.strerror or exc})") from None
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".digitnet-", suffix=".probe"):
            pass
    except OSError as exc:
        raise DigitnetError(f"{folder}: cannot write here ({exc.strerror or exc}); choose another --save-preprocessed") from None
    return folder
