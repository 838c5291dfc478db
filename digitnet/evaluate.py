"""How good is a model? The use case behind `digitnet evaluate`.

Everything is computed with NumPy from the probabilities that
``check.predict_probabilities`` returns, so evaluation sees pixels exactly as
``check`` and ``predict`` do, and needs no compiled model.
"""

from __future__ import annotations

import dataclasses
import json
import time

from .check import JSON_DECIMALS, predict_probabilities
from .data import NUM_CLASSES

# Probabilities are clipped away from 0 before the log, as Keras does, so one
# confidently wrong image adds a large but finite amount to the loss.
LOSS_EPSILON = 1e-7
GALLERY_SIZE = 25


@dataclasses.dataclass
class Evaluation:
    """A model's results on one split of labelled digits.

    Arrays are NumPy: ``confusion[t, p]`` counts images of true digit ``t``
    predicted as ``p``; ``probabilities`` is (N, 10), ``labels`` and ``predictions`` (N,).
    """

    accuracy: float
    loss: float
    confusion: object
    precision: object  # (10,) float; 0 for a digit the model never predicts
    recall: object  # (10,) float; 0 for a digit absent from the split
    counts: object  # (10,) int: images of each true digit
    labels: object
    predictions: object
    probabilities: object
    seconds: float  # prediction and metrics, model already loaded

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def confidences(self):
        """The probability the model gave to the digit it predicted, per image."""
        import numpy as np

        return self.probabilities[np.arange(len(self.predictions)), self.predictions]

    @property
    def mistake_count(self) -> int:
        return int((self.predictions != self.labels).sum())

    def confident_mistakes(self, limit: int = GALLERY_SIZE):
        """Indices of up to ``limit`` wrongly predicted images, most confident first."""
        return most_confident_mistakes(self.labels, self.predictions, self.confidences, limit)

    def to_dict(self, *, mistakes: int = GALLERY_SIZE) -> dict:
        confidences = self.confidences
        return {
            "examples": len(self),
            "accuracy": self.accuracy,
            # Rounded where LiteRT and Keras differ in the 7th decimal: the same JSON from either.
            "loss": round(self.loss, JSON_DECIMALS),
            "mistakes": self.mistake_count,
            "per_digit": [
                {
                    "digit": d,
                    "precision": float(self.precision[d]),
                    "recall": float(self.recall[d]),
                    "count": int(self.counts[d]),
                }
                for d in range(NUM_CLASSES)
            ],
            "confusion_matrix": self.confusion.tolist(),
            "confusion_matrix_axes": ["true", "predicted"],
            "most_confident_mistakes": [
                {
                    "index": int(i),
                    "predicted": int(self.predictions[i]),
                    "true": int(self.labels[i]),
                    "confidence": round(float(confidences[i]), JSON_DECIMALS),
                }
                for i in self.confident_mistakes(mistakes)
            ],
            "seconds": round(self.seconds, 4),
        }

    def to_json(self, **extra) -> str:
        """The numbers as JSON; ``extra`` keys (e.g. model, data, figures) are added first."""
        return json.dumps({**extra, **self.to_dict()}, indent=2)


# --------------------------------------------------------------------------- metrics on arrays


def confusion_matrix(labels, predictions, num_classes: int = NUM_CLASSES):
    """(num_classes, num_classes) int64 counts: rows are true digits, columns predictions."""
    import numpy as np

    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    flat = np.bincount(labels * num_classes + predictions, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def precision_recall(confusion):
    """Per-class precision (by column) and recall (by row); 0 where a class has no cases."""
    import numpy as np

    confusion = np.asarray(confusion)
    hits = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    return precision, recall


def cross_entropy(probabilities, labels) -> float:
    """Mean sparse categorical cross-entropy of (N, C) probabilities against (N,) labels."""
    import numpy as np

    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    picked = probabilities[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(picked, LOSS_EPSILON, 1.0)).mean())


def most_confident_mistakes(labels, predictions, confidences, limit: int = GALLERY_SIZE):
    """Indices of wrong predictions, highest confidence first (ties by index), at most ``limit``."""
    import numpy as np

    wrong = np.flatnonzero(np.asarray(predictions) != np.asarray(labels))
    order = np.argsort(-np.asarray(confidences)[wrong], kind="stable")
    return wrong[order][:limit]


def evaluation_from_probabilities(probabilities, labels, *, seconds: float = 0.0) -> Evaluation:
    """All the metrics for (N, 10) class probabilities and the true (N,) labels."""
    import numpy as np

    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if probabilities.ndim != 2 or probabilities.shape != (len(labels), NUM_CLASSES):
        raise ValueError(f"expected probabilities of shape ({len(labels)}, {NUM_CLASSES}), got {probabilities.shape}")
    if len(labels) == 0:
        raise ValueError("nothing to evaluate: no examples")
    predictions = probabilities.argmax(axis=1)
    confusion = confusion_matrix(labels, predictions)
    precision, recall = precision_recall(confusion)
    return Evaluation(
        accuracy=float(np.trace(confusion) / len(labels)),
        loss=cross_entropy(probabilities, labels),
        confusion=confusion,
        precision=precision,
        recall=recall,
        counts=confusion.sum(axis=1),
        labels=labels,
        predictions=predictions,
        probabilities=probabilities,
        seconds=seconds,
    )


# --------------------------------------------------------------------------- the use case


def evaluate_model(model, split) -> Evaluation:
    """Predict every image of ``split`` (a data.Split) with ``model`` and score the answers."""
    start = time.perf_counter()
    probabilities = predict_probabilities(model, split.images)
    evaluation = evaluation_from_probabilities(probabilities, split.labels)
    evaluation.seconds = time.perf_counter() - start
    return evaluation


def per_digit_table(evaluation: Evaluation) -> str:
    """The per-digit precision, recall and count as aligned text, one digit a line."""
    lines = [f"{'digit':>5}  {'precision':>9}  {'recall':>7}  {'count':>6}"]
    for d in range(NUM_CLASSES):
        lines.append(
            f"{d:>5}  {evaluation.precision[d]:>9.2%}  {evaluation.recall[d]:>7.2%}  {int(evaluation.counts[d]):>6,}"
        )
    return "\n".join(lines)
