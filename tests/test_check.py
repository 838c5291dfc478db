"""`digitnet check`: the printed line, the figure, the prompt loop, and the check module."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import digitnet.modelio
from digitnet import plots
from digitnet.check import check_index, parse_index, predict_probabilities
from digitnet.cli import cli
from digitnet.data import load_dataset
from digitnet.errors import UsageError

from synth import write_idx_folder

LINE = re.compile(r"^index (\d+): predicted (\d) \((\d+\.\d)%\) · true (\d) · (correct|WRONG)$")
FIGURE_SIZE = (round(plots.DIGIT_FIGSIZE[0] * plots.DPI), round(plots.DIGIT_FIGSIZE[1] * plots.DPI))


@pytest.fixture(scope="module")
def model(trained_model_path):
    return digitnet.modelio.load_model(trained_model_path)


@pytest.fixture(scope="module")
def test_split(idx_dir):
    return load_dataset(idx_dir, splits=("test",)).test


@pytest.fixture(scope="module")
def probabilities(model, test_split):
    return predict_probabilities(model, test_split.images)


@pytest.fixture()
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty folder: figures land in the current directory by default."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_check(trained_model_path, idx_dir, *args, input=None):
    return CliRunner().invoke(
        cli, ["check", "--model", str(trained_model_path), "--data", str(idx_dir), *args], input=input
    )


def result_lines(output: str) -> list[re.Match]:
    """The result lines in ``output``, each found even when a prompt precedes it."""
    return [m for m in re.finditer(r"index (\d+): predicted (\d) \((\d+\.\d)%\) · true (\d) · (correct|WRONG)", output)]


def assert_digit_png(path: Path) -> None:
    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG"
        assert image.size == FIGURE_SIZE


# --------------------------------------------------------------------------- the check module


def test_probabilities_are_a_distribution_over_ten_digits(probabilities, test_split):
    assert probabilities.shape == (len(test_split), 10)
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)


def test_one_image_gives_the_same_probabilities_as_in_a_batch(model, test_split, probabilities):
    np.testing.assert_allclose(predict_probabilities(model, test_split.images[7])[0], probabilities[7], atol=1e-6)


def test_the_fixture_model_has_learned(probabilities, test_split):
    # Its predictions are worth printing: well above chance (measured ~65%).
    assert np.mean(probabilities.argmax(axis=1) == test_split.labels) > 0.4


def test_check_index_compares_prediction_and_label(model, test_split, probabilities):
    result = check_index(model, test_split, 7)

    assert result.index == 7 and result.label == test_split.labels[7]
    assert result.prediction.digit == probabilities[7].argmax()
    assert result.prediction.confidence == pytest.approx(probabilities[7].max(), abs=1e-6)
    assert result.correct == (result.prediction.digit == result.label)
    assert result.image.shape == (28, 28) and result.image.dtype == np.uint8
    assert LINE.match(result.line())


@pytest.mark.parametrize("text, expected", [("0", 0), (" 42 \n", 42), ("99", 99), (5, 5)])
def test_parse_index_accepts_whole_numbers_in_range(text, expected):
    assert parse_index(text, 100) == expected


@pytest.mark.parametrize("text", ["100", "-1", "abc", "4.5", ""])
def test_parse_index_refuses_others_as_usage_errors(text):
    with pytest.raises(UsageError) as error:
        parse_index(text, 100)
    assert error.value.exit_code == 2
    assert "0 to 99" in str(error.value) and "\n" not in str(error.value)


def test_the_digit_figure_is_titled_with_prediction_and_truth(test_split):
    probabilities = np.full(10, 0.02)
    probabilities[4] = 0.82
    fig = plots.digit_figure(test_split.images[0], probabilities, predicted=4, label=4)

    image_ax, bar_ax = fig.axes
    assert image_ax.get_title() == "predicted 4 · true 4"
    assert image_ax.images[0].get_array().shape == (28, 28)
    assert len(bar_ax.patches) == 10


# --------------------------------------------------------------------------- `digitnet check --index`


def test_check_prints_one_line_and_writes_the_figure_in_the_cwd(
    trained_model_path, idx_dir, in_tmp, probabilities, test_split
):
    result = run_check(trained_model_path, idx_dir, "--index", "7")

    assert result.exit_code == 0, result.output
    first, second = result.stdout.splitlines()
    index, predicted, percent, true, verdict = LINE.match(first).groups()
    assert int(index) == 7
    assert int(predicted) == probabilities[7].argmax()
    assert float(percent) == pytest.approx(100 * probabilities[7].max(), abs=0.05)
    assert int(true) == test_split.labels[7]
    assert verdict == ("correct" if int(predicted) == int(true) else "WRONG")
    assert second == "figure: digit_7.png"
    assert [p.name for p in in_tmp.iterdir()] == ["digit_7.png"]
    assert_digit_png(in_tmp / "digit_7.png")
    assert result.stderr == ""


def test_a_wrong_prediction_says_wrong(trained_model_path, idx_dir, in_tmp, probabilities, test_split):
    wrong = np.flatnonzero(probabilities.argmax(axis=1) != test_split.labels)
    assert wrong.size, "the fixture model should miss some synthetic digits"
    index = int(wrong[0])

    result = run_check(trained_model_path, idx_dir, "--index", str(index), "--no-plot")

    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith(f"· true {test_split.labels[index]} · WRONG")


def test_plot_chooses_the_figure_path(trained_model_path, idx_dir, in_tmp):
    result = run_check(trained_model_path, idx_dir, "--index", "3", "--plot", "figures.png")

    assert result.exit_code == 0, result.output
    assert [p.name for p in in_tmp.iterdir()] == ["figures.png"]
    assert_digit_png(in_tmp / "figures.png")


def test_no_plot_writes_nothing(trained_model_path, idx_dir, in_tmp):
    result = run_check(trained_model_path, idx_dir, "--index", "3", "--no-plot")

    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1 and LINE.match(result.stdout.strip())
    assert list(in_tmp.iterdir()) == []


def test_show_without_a_display_saves_the_figure_with_a_note(trained_model_path, idx_dir, in_tmp):
    import matplotlib.pyplot as plt

    result = run_check(trained_model_path, idx_dir, "--index", "3", "--show")

    assert result.exit_code == 0, result.output
    assert "no display" in result.stderr
    assert_digit_png(in_tmp / "digit_3.png")
    assert plt.get_fignums() == []  # the pyplot figure made for the window was closed


def test_every_data_format_checks_the_same(trained_model_path, idx_dir, npz_file, digit_arrays, tmp_path):
    plain_dir = write_idx_folder(tmp_path / "plain", *digit_arrays, gzipped=False)

    lines = {
        str(source): run_check(trained_model_path, source, "--index", "11", "--no-plot").stdout
        for source in (idx_dir, plain_dir, npz_file)
    }

    assert len(set(lines.values())) == 1, lines
    assert LINE.match(next(iter(lines.values())).strip())


# --------------------------------------------------------------------------- the prompt


@pytest.fixture()
def load_count(monkeypatch):
    """Count model loads (through the runtime, LiteRT or Keras): once per prompt loop, not per index."""
    import digitnet.runtime

    calls = []
    real_load = digitnet.runtime.load

    def counting_load(*args, **kwargs):
        calls.append(args)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(digitnet.runtime, "load", counting_load)
    return calls


def test_prompt_checks_each_index_and_asks_again_after_bad_ones(trained_model_path, idx_dir, in_tmp, load_count):
    result = run_check(trained_model_path, idx_dir, input="3\nabc\n-1\n5\n\n")

    assert result.exit_code == 0, result.output
    assert [int(m.group(1)) for m in result_lines(result.stdout)] == [3, 5]
    errors = result.stderr.splitlines()
    assert len(errors) == 2 and all(e.startswith("Error: ") and "try again" in e for e in errors)
    assert "'abc'" in errors[0] and "-1" in errors[1]
    assert result.stdout.count("index (0–99") == 5  # asked before every line read
    assert sorted(p.name for p in in_tmp.iterdir()) == ["digit_3.png", "digit_5.png"]
    assert len(load_count) == 1


@pytest.mark.parametrize(
    "stdin, checked",
    [
        ("3\n\n5\n", [3]),  # an empty line ends it
        ("3\nq\n5\n", [3]),  # so does q
        ("3\n Q \n5\n", [3]),
        ("3\n5", [3, 5]),  # and the end of input, even without a final newline
        ("", []),
    ],
)
def test_prompt_ends_on_empty_line_q_or_end_of_input(trained_model_path, idx_dir, in_tmp, stdin, checked):
    result = run_check(trained_model_path, idx_dir, "--no-plot", input=stdin)

    assert result.exit_code == 0, result.output
    assert [int(m.group(1)) for m in result_lines(result.stdout)] == checked
    assert result.stderr == ""


# --------------------------------------------------------------------------- basic errors (issue 5 has the rest)


def test_a_missing_model_is_one_line_exit_1(idx_dir, in_tmp):
    result = CliRunner().invoke(cli, ["check", "--index", "3", "--data", str(idx_dir)])

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: model.keras: ") and len(result.stderr.splitlines()) == 1
    assert "model.py" in result.stderr  # says how to get one
    assert list(in_tmp.iterdir()) == []


@pytest.mark.parametrize("index", ["100", "-1", "seven", "2.0"])
def test_a_bad_index_is_one_line_exit_2(trained_model_path, idx_dir, in_tmp, index):
    result = run_check(trained_model_path, idx_dir, "--index", index)

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1
    assert "0 to 99" in result.stderr
    assert result.stdout == "" and list(in_tmp.iterdir()) == []


def test_a_bad_data_path_is_one_line_exit_1(trained_model_path, in_tmp):
    result = run_check(trained_model_path, in_tmp / "no-such-folder", "--index", "3")

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "no-such-folder" in result.stderr
    assert len(result.stderr.splitlines()) == 1
