"""`digitnet evaluate` and the metrics behind it."""

from __future__ import annotations

import json
import math
import types

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from digitnet import plots
from digitnet.cli import cli
from digitnet.data import Split
from digitnet.evaluate import (
    LOSS_EPSILON,
    confusion_matrix,
    cross_entropy,
    evaluate_model,
    evaluation_from_probabilities,
    most_confident_mistakes,
    per_digit_table,
    precision_recall,
)

# --------------------------------------------------------------------------- metrics on hand-made cases

# Six images: true 0,0,1,2,2,2 predicted 0,1,1,2,0,2.
LABELS = np.array([0, 0, 1, 2, 2, 2])
PREDICTIONS = np.array([0, 1, 1, 2, 0, 2])


def test_confusion_matrix_rows_are_true_columns_predicted():
    confusion = confusion_matrix(LABELS, PREDICTIONS)
    assert confusion.shape == (10, 10)
    expected = np.zeros((10, 10), dtype=int)
    expected[0, 0] = 1
    expected[0, 1] = 1
    expected[1, 1] = 1
    expected[2, 2] = 2
    expected[2, 0] = 1
    np.testing.assert_array_equal(confusion, expected)


def test_precision_by_column_recall_by_row_and_zero_for_empty_classes():
    precision, recall = precision_recall(confusion_matrix(LABELS, PREDICTIONS))
    # digit 0: predicted twice (one right) → precision 1/2; present twice (one found) → recall 1/2
    # digit 1: predicted twice (one right) → 1/2; present once, found → 1
    # digit 2: predicted twice, both right → 1; present three times, two found → 2/3
    np.testing.assert_allclose(precision[:3], [0.5, 0.5, 1.0])
    np.testing.assert_allclose(recall[:3], [0.5, 1.0, 2 / 3])
    assert np.all(precision[3:] == 0) and np.all(recall[3:] == 0)


def test_cross_entropy_is_mean_negative_log_of_true_class_and_clipped():
    probabilities = np.array([[0.5, 0.5] + [0] * 8, [0.0, 1.0] + [0] * 8])
    assert cross_entropy(probabilities, [0, 1]) == pytest.approx(math.log(2) / 2)
    # A zero probability for the true class costs -log(epsilon), not infinity.
    assert cross_entropy(probabilities, [1, 0]) == pytest.approx((math.log(2) - math.log(LOSS_EPSILON)) / 2)


def test_most_confident_mistakes_skips_correct_and_sorts_by_confidence():
    labels = np.array([3, 3, 3, 3, 3])
    predictions = np.array([3, 1, 2, 3, 4])
    confidences = np.array([0.99, 0.6, 0.9, 0.95, 0.6])
    assert list(most_confident_mistakes(labels, predictions, confidences)) == [2, 1, 4]
    assert list(most_confident_mistakes(labels, predictions, confidences, limit=1)) == [2]
    assert len(most_confident_mistakes(labels, labels, confidences)) == 0


def one_hot_probabilities(predictions, confidence=0.9):
    """Probabilities putting ``confidence`` on each prediction, the rest spread evenly."""
    probs = np.full((len(predictions), 10), (1 - confidence) / 9)
    probs[np.arange(len(predictions)), predictions] = confidence
    return probs


def test_evaluation_from_probabilities_numbers_and_json():
    evaluation = evaluation_from_probabilities(one_hot_probabilities(PREDICTIONS), LABELS)
    assert evaluation.accuracy == pytest.approx(4 / 6)
    assert evaluation.mistake_count == 2
    assert evaluation.loss == pytest.approx(-(4 * math.log(0.9) + 2 * math.log(0.1 / 9)) / 6)
    np.testing.assert_array_equal(evaluation.counts[:3], [2, 1, 3])
    data = json.loads(evaluation.to_json(model="m.keras"))
    assert data["model"] == "m.keras"
    assert data["examples"] == 6 and data["mistakes"] == 2
    assert [row["count"] for row in data["per_digit"]][:3] == [2, 1, 3]
    assert data["per_digit"][2]["recall"] == pytest.approx(2 / 3)
    assert data["confusion_matrix"][2][0] == 1
    assert {(m["predicted"], m["true"]) for m in data["most_confident_mistakes"]} == {(1, 0), (0, 2)}


def test_per_digit_table_has_a_header_and_one_aligned_row_per_digit():
    evaluation = evaluation_from_probabilities(one_hot_probabilities(PREDICTIONS), LABELS)
    lines = per_digit_table(evaluation).splitlines()
    assert lines[0].split() == ["digit", "precision", "recall", "count"]
    assert len(lines) == 11
    assert len({len(line) for line in lines}) == 1  # columns line up
    assert lines[3].split() == ["2", "100.00%", "66.67%", "3"]


class BrightnessModel:
    """A stand-in network: answers the digit written in each image's top-left pixel."""

    inputs = [types.SimpleNamespace(shape=(None, 28, 28))]

    def __call__(self, x, training=False):
        digits = np.rint(x[:, 0, 0] * 255).astype(int)
        return one_hot_probabilities(digits, confidence=0.8).astype(np.float32)


def test_evaluate_model_goes_through_the_pixel_path():
    images = np.zeros((len(LABELS), 28, 28), dtype=np.uint8)
    images[:, 0, 0] = PREDICTIONS
    evaluation = evaluate_model(BrightnessModel(), Split(images=images, labels=LABELS.astype(np.uint8)))
    np.testing.assert_array_equal(evaluation.predictions, PREDICTIONS)
    np.testing.assert_array_equal(evaluation.confusion, confusion_matrix(LABELS, PREDICTIONS))
    np.testing.assert_allclose(evaluation.confidences, 0.8, rtol=1e-6)
    assert evaluation.seconds >= 0


# --------------------------------------------------------------------------- figures


def figure_pixels(fig):
    width, height = fig.get_size_inches() * fig.dpi
    return round(width), round(height)


def test_confusion_figure_labels_axes_and_writes_every_count():
    confusion = confusion_matrix(LABELS, PREDICTIONS)
    fig = plots.confusion_figure(confusion)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 100
    assert texts.count("2") == 1 and texts.count("1") == 4 and texts.count("0") == 95


@pytest.mark.parametrize("count, tiles", [(25, 25), (3, 3), (0, 0)])
def test_mistakes_figure_tiles_and_titles(count, tiles):
    images = np.zeros((count, 28, 28), dtype=np.uint8)
    predicted = np.full(count, 7)
    true = np.full(count, 1)
    confidences = np.linspace(0.999, 0.5, count)
    fig = plots.mistakes_figure(images, predicted, true, confidences, total_mistakes=40 if count else 0)
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titled) == tiles
    assert figure_pixels(fig) == tuple(round(v * plots.DPI) for v in plots.mistakes_figsize(count))
    if count:
        assert titled[0] == "pred 7 (99.9%) · true 1"
        assert titled[-1] == "pred 7 (50%) · true 1"
    else:
        assert "no mistakes" in fig.texts[0].get_text()


# --------------------------------------------------------------------------- the command


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def invoke(*args):
        return CliRunner().invoke(cli, ["evaluate", *map(str, args)])

    return invoke


def png_size(path):
    with Image.open(path) as image:
        image.load()  # decodes the whole file: a truncated PNG fails here
        return image.size


def test_evaluate_prints_numbers_table_and_figure_paths(run, tmp_path, trained_model_path, idx_dir):
    result = run("--model", trained_model_path, "--data", idx_dir)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "100 test images" in out
    assert out.splitlines()[1].startswith("accuracy ")
    assert out.splitlines()[2].startswith("loss ")
    table = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [row[0] for row in table] == [str(d) for d in range(10)]
    assert all(row[1].endswith("%") and row[2].endswith("%") for row in table)
    assert sum(int(row[3]) for row in table) == 100
    assert "confusion matrix: confusion.png" in out and "mistakes:         mistakes.png" in out
    assert png_size(tmp_path / "confusion.png") == tuple(round(v * plots.DPI) for v in plots.CONFUSION_FIGSIZE)
    assert png_size(tmp_path / "mistakes.png")[0] > 0


def test_evaluate_json_is_the_only_output_and_consistent(run, tmp_path, trained_model_path, idx_dir, digit_arrays):
    result = run("--model", trained_model_path, "--data", idx_dir, "--json", "--mistakes", "gallery.png")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # fails if anything else was printed
    confusion = np.array(data["confusion_matrix"])
    total = confusion.sum()
    assert total == data["examples"] == 100
    assert data["accuracy"] == pytest.approx(np.trace(confusion) / total)
    assert data["mistakes"] == total - np.trace(confusion)
    counts = [row["count"] for row in data["per_digit"]]
    assert sum(counts) == 100
    assert counts == list(np.bincount(digit_arrays[1][1], minlength=10))
    for row in data["per_digit"]:
        d = row["digit"]
        assert row["recall"] == pytest.approx(confusion[d, d] / confusion[d].sum())
    assert 0 < data["loss"] < 10
    mistakes = data["most_confident_mistakes"]
    assert len(mistakes) == min(25, data["mistakes"])
    assert [m["confidence"] for m in mistakes] == sorted((m["confidence"] for m in mistakes), reverse=True)
    assert all(m["predicted"] != m["true"] for m in mistakes)
    assert data["figures"] == {"confusion": "confusion.png", "mistakes": "gallery.png"}
    expected = tuple(round(v * plots.DPI) for v in plots.mistakes_figsize(len(mistakes)))
    assert png_size(tmp_path / "gallery.png") == expected


def test_no_plot_writes_no_figures(run, tmp_path, trained_model_path, idx_dir):
    result = run("--model", trained_model_path, "--data", idx_dir, "--no-plot")
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.stdout and ".png" not in result.stdout
    assert not list(tmp_path.glob("*.png"))


def test_missing_model_is_one_line_exit_1(run, tmp_path, idx_dir):
    result = run("--model", tmp_path / "nothing.keras", "--data", idx_dir)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "nothing.keras" in lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (("--confusion", "same.png", "--mistakes", "same.png"), "same file"),
        (("--confusion", "matrix.xyz"), "cannot save a figure as .xyz"),
        (("--mistakes", "no/such/folder/m.png"), "folder does not exist"),
    ],
)
def test_bad_figure_paths_fail_before_any_work(run, tmp_path, idx_dir, args, message):
    # The model does not exist either: the figure paths must be refused first.
    result = run("--model", tmp_path / "nothing.keras", "--data", idx_dir, *args)
    assert result.exit_code in (1, 2)
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_data_is_one_line_exit_1(run, tmp_path, trained_model_path):
    result = run("--model", trained_model_path, "--data", tmp_path / "nowhere")
    assert result.exit_code == 1
    assert "nowhere: no such file or folder" in result.stderr
