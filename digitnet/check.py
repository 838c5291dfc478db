"""Asking a model about digits: the use case behind `DigitChecker.py` / `digitnet check`."""

from __future__ import annotations

import dataclasses
import weakref

from .errors import UsageError
from .preprocess import to_model_input

# A Keras model passed in directly is wrapped once, not on every call (the prompt loop).
_keras_runners = weakref.WeakKeyDictionary()
# Probabilities in JSON are rounded to this many places: LiteRT and Keras differ only in the
# 6th–7th decimal (≤ 3.2e-6 measured), so either runtime writes the same JSON.
JSON_DECIMALS = 5


def json_probability(p) -> float:
    """A probability as JSON carries it (see JSON_DECIMALS)."""
    return round(float(p), JSON_DECIMALS)


@dataclasses.dataclass(frozen=True)
class Prediction:
    """What a model says about one image."""

    digit: int
    confidence: float
    probabilities: tuple  # ten floats that sum to 1

    def ranked(self, k: int = 10):
        """The ``k`` most likely digits as (digit, probability), best first."""
        order = sorted(range(len(self.probabilities)), key=lambda d: -self.probabilities[d])
        return [(d, self.probabilities[d]) for d in order[:k]]


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """A prediction for test image ``index`` compared with its true ``label``."""

    index: int
    label: int
    prediction: Prediction
    image: object  # uint8 (28, 28)

    @property
    def correct(self) -> bool:
        return self.prediction.digit == self.label

    def line(self) -> str:
        verdict = "correct" if self.correct else "WRONG"
        return (
            f"index {self.index}: predicted {self.prediction.digit} "
            f"({self.prediction.confidence:.1%}) · true {self.label} · {verdict}"
        )


def predict_probabilities(model, images):
    """Class probabilities (N, 10) for uint8 images (N, 28, 28) or one image (28, 28).

    ``model`` is a runner from ``runtime.load`` (LiteRT or Keras) or a Keras model.
    Softmax outputs are returned as they are.  For a sigmoid output (the ``linear``
    design) the probabilities are the softmax of its scores before the sigmoid:
    Keras trains a sigmoid layer under sparse categorical cross-entropy on exactly
    those scores (it takes the logits from before the sigmoid), so the softmax of
    them is the probability the model learned — dividing sigmoids by their sum
    would not be.  Both runtimes compute it in the model itself
    (``export.serving_model``), so neither has to undo a saturated sigmoid.
    """
    return as_runner(model).probabilities(to_model_input(images))


def as_runner(model):
    """A runtime runner as it is; a Keras model wrapped in one (its serving form built once)."""
    from .runtime import KerasRunner, LiteRTRunner

    if isinstance(model, (KerasRunner, LiteRTRunner)):
        return model
    runner = _keras_runners.get(model)
    if runner is None:
        runner = _keras_runners[model] = KerasRunner(model)
    return runner


def to_prediction(probabilities) -> Prediction:
    digit = int(max(range(len(probabilities)), key=lambda d: probabilities[d]))
    return Prediction(
        digit=digit, confidence=float(probabilities[digit]), probabilities=tuple(float(p) for p in probabilities)
    )


def parse_index(text, size: int) -> int:
    """Turn user text into a test index in [0, size), or raise UsageError saying why."""
    import re

    raw = str(text).strip()
    shown = raw if len(raw) <= 24 else raw[:24] + "…"
    # Plain ASCII digits only: int() would also take "1_000" and non-Latin digits.
    if not re.fullmatch(r"[+-]?[0-9]+", raw):
        raise UsageError(f"index {shown!r} is not a whole number; give one from 0 to {size - 1}")
    # A number longer than that is out of range anyway (and int() refuses > 4300 digits).
    index = int(raw) if len(raw) <= 64 else size
    if not 0 <= index < size:
        raise UsageError(f"index {shown} is out of range; the test set has {size} images (0 to {size - 1})")
    return index


def check_index(model, split, index: int) -> CheckResult:
    """Predict test image ``index`` of ``split`` and compare it with its label."""
    index = parse_index(index, len(split))
    image = split.images[index]
    probabilities = predict_probabilities(model, image)[0]
    return CheckResult(
        index=index, label=int(split.labels[index]), prediction=to_prediction(probabilities), image=image
    )
