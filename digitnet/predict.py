"""Reading the digits in people's own pictures: the use case behind `digitnet predict`.

Each picture is read as a number: ``page`` finds its digits left to right (``touching``
cuts digits whose strokes touch; ``crop`` frames a picture cut to its digit), ``digit`` makes
each an MNIST-style 28×28 image, and all of them go, in one batch, through
``check.predict_probabilities`` — the same path test digits take.  A picture of one
digit reads exactly as before; ``single=True`` takes the whole picture as one digit.
A picture that cannot be used becomes a ``Failure`` with a one-line message; the
others are still read.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .errors import DigitnetError
from .pictures import IMAGE_SUFFIXES

# Below this the model's best guess is flagged: more likely wrong than right.
UNSURE_BELOW = 0.5


@dataclasses.dataclass(frozen=True)
class Failure:
    """An input that could not be predicted, and why (one line naming it)."""

    path: str
    message: str


@dataclasses.dataclass(frozen=True)
class DigitReading:
    """One digit of a picture: what the model says, the 28×28 image it saw, where it is."""

    prediction: object  # check.Prediction
    image: object  # uint8 (28, 28)
    box: tuple = (0, 0, 0, 0)  # (left, top, right, bottom) in the picture's own pixels

    @property
    def unsure(self) -> bool:
        return self.prediction.confidence < UNSURE_BELOW

    def as_json(self) -> dict:
        from .check import json_probability

        return {
            "digit": self.prediction.digit,
            "confidence": json_probability(self.prediction.confidence),
            "probabilities": [json_probability(p) for p in self.prediction.probabilities],
            "box": list(self.box),
        }


@dataclasses.dataclass(frozen=True)
class ImagePrediction:
    """What the model read in one picture: its digits, left to right."""

    path: str
    digits: tuple  # of DigitReading

    @property
    def number(self) -> str:
        return "".join(str(reading.prediction.digit) for reading in self.digits)

    @property
    def prediction(self):
        """The prediction of a one-digit picture (None for a number of several digits)."""
        return self.digits[0].prediction if len(self.digits) == 1 else None

    @property
    def image(self):
        """The 28×28 image of a one-digit picture (None for a number)."""
        return self.digits[0].image if len(self.digits) == 1 else None

    @property
    def unsure(self) -> bool:
        return any(reading.unsure for reading in self.digits)

    def line(self, top: int = 1, *, verb: str = "") -> str:
        """``path: 7 (98.2%)`` (and the next ``top - 1`` candidates), or ``path: 2026  (2 99%, 0 98%, …)``;
        unsure flagged."""
        if self.prediction is None:
            return self._number_line(verb)
        best = self.prediction
        text = f"{self.path}: {verb}{best.digit} ({best.confidence:.1%})"
        runners_up = best.ranked(top)[1:]
        if runners_up:
            text += ", then " + ", ".join(f"{d} ({p:.1%})" for d, p in runners_up)
        if self.unsure:
            text += f"  [unsure: below {UNSURE_BELOW:.0%}]"
        return text

    def _number_line(self, verb: str) -> str:
        each = ", ".join(f"{r.prediction.digit} {r.prediction.confidence:.0%}" for r in self.digits)
        text = f"{self.path}: {verb}{self.number}  ({each})"
        unsure = [str(n) for n, reading in enumerate(self.digits, start=1) if reading.unsure]
        if unsure:
            text += f"  [unsure: digit {', '.join(unsure)} below {UNSURE_BELOW:.0%}]"
        return text

    def as_json(self) -> dict:
        """Today's one-digit fields (null for a number of several digits), the number and each digit."""
        from .check import json_probability

        one = self.prediction
        return {
            "path": self.path,
            "digit": one.digit if one else None,
            "confidence": json_probability(min(r.prediction.confidence for r in self.digits)),
            "probabilities": [json_probability(p) for p in one.probabilities] if one else None,
            "unsure": self.unsure,
            "number": self.number,
            "digits": [reading.as_json() for reading in self.digits],
        }


def read_picture(model, image, *, name: str = "image", single: bool = False, ask=None) -> ImagePrediction:
    """The digits in a decoded picture, left to right, read by ``model``; DigitnetError when there are none.

    ``single`` takes the whole picture as one digit, as digitnet did before it read numbers.
    ``ask(images)`` replaces ``check.predict_probabilities(model, images)`` where the
    model is shared (the web server holds a lock only while the model runs).
    """
    from .check import predict_probabilities
    from .pictures import grayscale
    from .tilt import levelled, line_tilt, needs_levelling

    ask = ask or (lambda images: predict_probabilities(model, images))
    gray = grayscale(image)
    reading = _read_as_it_lies(gray, ask, name=name, single=single)
    tilt = 0.0 if single else line_tilt([digit.box for digit in reading.digits])
    if needs_levelling(tilt):  # a number written at a slant: read it again, level
        turned, to_picture = levelled(gray, tilt)
        try:
            again = _read_as_it_lies(turned, ask, name=name, single=single)
        except DigitnetError:
            return reading
        if _sureness(again) >= _sureness(reading):
            return ImagePrediction(path=name, digits=_boxes_mapped(again.digits, to_picture))
    return reading


def _sureness(reading) -> float:
    """How sure the network is of a reading, all its digits together: the mean log of their confidences."""
    import math

    return sum(math.log(max(digit.prediction.confidence, 1e-9)) for digit in reading.digits) / len(reading.digits)


def _read_as_it_lies(gray, ask, *, name: str, single: bool) -> ImagePrediction:
    """``read_picture`` of a grey picture without levelling it: read again framed in its own paper
    when it looks cropped to its digit (digitnet.crop)."""
    from .crop import cropped_tones
    from .pictures import framed

    try:
        reading, inked = _read_gray(gray, ask, name=name, single=single)
    except DigitnetError as error:
        reading, inked, no_ink = None, 0.0, error
    tones = cropped_tones(gray, [digit.box for digit in reading.digits] if reading else [], inked)
    if tones is not None:  # a picture cropped to its digit: read again on a frame of its paper
        paper_around, to_picture = framed(gray, tones)
        try:
            again, _ = _read_gray(paper_around, ask, name=name, single=single)
        except DigitnetError:
            again = None
        if again is not None:
            return ImagePrediction(path=name, digits=_boxes_mapped(again.digits, to_picture))
    if reading is None:
        raise no_ink
    return reading


def _boxes_mapped(digits, to_picture) -> tuple:
    """``digits`` with their boxes taken back to the picture's own pixels by ``to_picture``."""
    return tuple(dataclasses.replace(digit, box=to_picture(digit.box)) for digit in digits)


def _read_gray(gray, ask, *, name: str, single: bool):
    """``read_picture`` of a grey picture as it is, and the share of the page found to be strokes."""
    import numpy as np

    from .check import to_prediction
    from .digit import digit_box
    from .line import find_digits
    from .page import analyse_page, one_digit_ink
    from .pieces import joined_pieces
    from .touching import split_touching
    from .whole import whole_log_odds

    page = analyse_page(gray, name)

    prepared = {}  # id(ink): (ink, its 28×28 image), each stroke prepared once

    def images_of(inks):
        for ink in inks:
            if id(ink) not in prepared:
                prepared[id(ink)] = (ink, _digit_or_blank(gray, page, ink, name))
        return [prepared[id(ink)][1] for ink in inks]

    def read(inks):
        return ask(np.stack(images_of(inks)))

    def judge(inks, shapes):
        return whole_log_odds(np.stack(images_of(inks)), shapes)

    if single:
        inks = [one_digit_ink(page.strokes)]
    else:
        inks = joined_pieces(find_digits(page), read, judge)
        inks = split_touching(inks, read, strokes=page.strokes, judge=judge)
    found = [(ink, image28) for ink, image28 in zip(inks, images_of(inks), strict=True) if image28.any()]
    if not found:
        raise DigitnetError(f"{name}: no ink found — is the page blank?")
    probabilities = ask(np.stack([image28 for _, image28 in found]))
    reading = ImagePrediction(
        path=name,
        digits=tuple(
            DigitReading(to_prediction(probs), image28, digit_box(ink, page, gray.size))
            for (ink, image28), probs in zip(found, probabilities, strict=True)
        ),
    )
    return reading, float(page.strokes.mean())


def _digit_or_blank(gray, page, ink, name):
    """The 28×28 digit, or an empty field when the strokes hold no ink worth the name."""
    import numpy as np

    from .digit import FRAME_SIZE, digit_image

    try:
        return digit_image(gray, page, ink, name=name)
    except DigitnetError:
        return np.zeros((FRAME_SIZE, FRAME_SIZE), dtype=np.uint8)


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
                (
                    p
                    for p in path.iterdir()
                    if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
                ),
                key=lambda p: p.name,
            )
            if not found:
                failures.append(
                    Failure(str(path), f"{path}: folder holds no image files ({', '.join(IMAGE_SUFFIXES[:5])}, ...)")
                )
            images.extend(found)
        elif path.exists() or path.is_symlink():
            images.append(path)
        else:
            failures.append(Failure(str(path), f"{path}: no such file or folder"))
    return images, failures


def read_pictures(
    model, paths, *, single: bool = False, on_failure=None
) -> tuple[list[ImagePrediction], list[Failure]]:
    """Each path read as a number (or one digit with ``single``); the ones that fail are collected, not raised.

    ``on_failure(failure)`` is called as each failure happens (to report it at once).
    """
    from .pictures import load_image

    results, failures = [], []
    for path in paths:
        try:
            results.append(read_picture(model, load_image(path, name=str(path)), name=str(path), single=single))
        except DigitnetError as exc:
            failure = Failure(str(path), str(exc))
        except MemoryError:
            failure = Failure(str(path), f"{path}: too large to process in the memory available")
        except Exception as exc:  # a bug on one picture must not cost the others their predictions
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            failure = Failure(
                str(path),
                f"{path}: could not be prepared (unexpected {type(exc).__name__}{': ' + reason if reason else ''})",
            )
        else:
            continue
        failures.append(failure)
        if on_failure:
            on_failure(failure)
    return results, failures


def preprocessed_paths(results, folder: Path, inputs=()) -> list[list[Path]]:
    """For each result, one PNG per digit in ``folder``: ``STEM.png`` for one digit,
    ``STEM-1.png``, ``STEM-2.png``… for a number.

    Names are distinct and never one of the inputs: a stem already taken becomes
    ``STEM-2``, ``STEM-3``… (``x-2.png``, or ``x-2-1.png`` for a number).
    """
    taken = {Path(p).resolve() for p in inputs}
    paths = []
    for result in results:
        stem, n = Path(result.path).stem or "image", 1
        while True:
            name = stem if n == 1 else f"{stem}-{n}"
            names = (
                [folder / f"{name}.png"]
                if len(result.digits) == 1
                else [folder / f"{name}-{i}.png" for i in range(1, len(result.digits) + 1)]
            )
            if not any(candidate.resolve() in taken for candidate in names):
                break
            n += 1
        taken.update(candidate.resolve() for candidate in names)
        paths.append(names)
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
            raise DigitnetError(
                f"{folder.parent}: folder does not exist; create it first or choose another --save-preprocessed"
            )
        try:
            folder.mkdir()
        except OSError as exc:
            raise DigitnetError(f"{folder}: cannot be created ({exc.strerror or exc})") from None
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".digitnet-", suffix=".probe"):
            pass
    except OSError as exc:
        raise DigitnetError(
            f"{folder}: cannot write here ({exc.strerror or exc}); choose another --save-preprocessed"
        ) from None
    return folder
