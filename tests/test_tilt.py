"""A number written or photographed at a slant (digitnet.tilt): its tilt measured from the digits
first found, the picture turned level and read again, the boxes taken back to its own pixels."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from digitnet import predict, tilt
from digitnet.check import to_prediction
from digitnet.cli import cli

from paper_digits import cropped_to_ink
from synth import SYNTH_NOISE, render_digit


def boxes_on_a_line(degrees: float, count: int = 5, *, drops=None):
    """Digit boxes 60 px wide and 100 tall, 80 px apart, standing on a line tilted by ``degrees``
    (rising to the right for positive degrees, as the eye sees it)."""
    drops = drops or [0] * count
    boxes = []
    for n in range(count):
        x = 100 + 80 * n
        bottom = 400 - math.tan(math.radians(degrees)) * (x - 100) + drops[n]
        boxes.append((x - 30, bottom - 100, x + 30, bottom))
    return boxes


def test_the_tilt_is_the_slope_the_digits_stand_on():
    # A line rising to the right is turned clockwise to level it: Pillow's rotate takes a negative angle.
    assert tilt.line_tilt(boxes_on_a_line(20)) == pytest.approx(-20, abs=0.01)
    assert tilt.line_tilt(boxes_on_a_line(-15)) == pytest.approx(15, abs=0.01)
    assert tilt.line_tilt(boxes_on_a_line(0)) == 0


def test_one_digit_written_lower_does_not_tip_the_line():
    lower = boxes_on_a_line(0, drops=[0, 0, 40, 0, 0])  # a digit 40% of its height below the others
    assert abs(tilt.line_tilt(lower)) < 1.0


def test_two_digits_say_nothing_of_a_tilt():
    assert tilt.line_tilt(boxes_on_a_line(30, count=2)) == 0.0
    assert tilt.line_tilt([]) == 0.0


def test_only_a_clear_tilt_is_levelled():
    assert not tilt.needs_levelling(5.0)
    assert tilt.needs_levelling(-tilt.LEVEL_FROM) and tilt.needs_levelling(20.0)
    assert not tilt.needs_levelling(80.0)  # a picture taken sideways is not a tilted line


def test_boxes_in_the_levelled_picture_go_back_to_the_pictures_own_pixels():
    pixels = np.full((120, 300), 255, dtype=np.uint8)
    pixels[20:30, 250:260] = 0  # a dark square near the top right corner
    turned, to_picture = tilt.levelled(Image.fromarray(pixels), 20.0)
    assert turned.size[0] > 300 and turned.size[1] > 120  # nothing of the picture is cut off
    rows, cols = np.nonzero(np.asarray(turned) < 128)
    left, top, right, bottom = to_picture((cols.min(), rows.min(), cols.max() + 1, rows.max() + 1))
    assert left <= 250 and top <= 20 and right >= 260 and bottom >= 30
    assert right - left <= 20 and bottom - top <= 20  # the square's own box, not much more


def test_the_uncovered_corners_continue_the_paper_without_an_edge():
    # Paper lit unevenly (a gradient from 150 to 230), with a dark stroke running off the top side.
    pixels = np.tile(np.linspace(150, 230, 400, dtype=np.float32), (200, 1))
    pixels[:60, 300:306] = 20
    turned, _ = tilt.levelled(Image.fromarray(pixels.astype(np.uint8)), -18.0)
    levels = np.asarray(turned, dtype=np.float32)
    assert (levels < 100).sum() <= 1.2 * (pixels < 100).sum()  # the stroke is not smeared into the corner
    uncovered = np.asarray(Image.new("L", (400, 200), 255).rotate(-18.0, expand=True)) < 255
    corners = levels[uncovered]
    assert corners.min() >= 145 and corners.max() <= 235  # the paper's own levels: no dark rim, no step


def digit_row(digits, *, gap: int = 24) -> np.ndarray:
    """Dark synthetic digits side by side on white paper, a margin all round (uint8 grey)."""
    inks = [cropped_to_ink(render_digit(d, np.random.default_rng(d), canvas=112), above=SYNTH_NOISE) for d in digits]
    height = max(ink.shape[0] for ink in inks)
    row = np.concatenate([np.pad(ink, ((height - ink.shape[0], 0), (0, gap))) for ink in inks], axis=1)
    return 255 - np.pad(row, 60)


def tilted(pixels, degrees: float) -> Image.Image:
    return Image.fromarray(pixels).rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)


def uniform_guess(images):
    return np.full((len(images), 10), 0.1, dtype=np.float32)


def test_a_tilted_number_is_read_level_with_its_boxes_in_the_pictures_pixels(monkeypatch):
    turned_by = []
    levelled = tilt.levelled

    def spy(gray, degrees):
        turned_by.append(degrees)
        return levelled(gray, degrees)

    monkeypatch.setattr(tilt, "levelled", spy)
    picture = tilted(digit_row((2, 0, 5, 7)), 20)
    reading = predict.read_picture(None, picture, name="test", ask=uniform_guess)
    assert turned_by and turned_by[0] == pytest.approx(-20, abs=4)
    assert len(reading.digits) == 4
    boxes = [digit.box for digit in reading.digits]
    assert [box[0] for box in boxes] == sorted(box[0] for box in boxes)
    assert all(
        0 <= left < right <= picture.size[0] and 0 <= top < bottom <= picture.size[1]
        for left, top, right, bottom in boxes
    )
    # Along the tilted line: each digit further right stands higher in the picture.
    assert [box[3] for box in boxes] == sorted((box[3] for box in boxes), reverse=True)


def test_a_level_number_and_a_single_digit_are_read_once(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("levelled a picture that is level")

    monkeypatch.setattr(tilt, "levelled", never)
    assert (
        len(predict.read_picture(None, Image.fromarray(digit_row((2, 0, 5, 7))), name="t", ask=uniform_guess).digits)
        == 4
    )
    single = predict.read_picture(None, tilted(digit_row((2, 0, 5, 7)), 20), name="t", ask=uniform_guess, single=True)
    assert len(single.digits) == 1


def reading_of(confidences, boxes):
    digits = []
    for confidence, box in zip(confidences, boxes, strict=True):
        probabilities = np.full(10, (1 - confidence) / 9)
        probabilities[3] = confidence
        digits.append(predict.DigitReading(to_prediction(probabilities), np.zeros((28, 28), np.uint8), box))
    return predict.ImagePrediction(path="t", digits=tuple(digits))


@pytest.mark.parametrize("levelled_sureness, kept", [(0.99, "levelled"), (0.4, "first")])
def test_the_levelled_reading_is_kept_only_when_the_network_is_as_sure_of_it(monkeypatch, levelled_sureness, kept):
    first = reading_of([0.9, 0.9, 0.9], boxes_on_a_line(20, count=3))
    again = reading_of([levelled_sureness] * 4, [(10 + 70 * n, 10, 70 + 70 * n, 110) for n in range(4)])
    answers = iter([first, again])
    monkeypatch.setattr(predict, "_read_as_it_lies", lambda *args, **kwargs: next(answers))
    reading = predict.read_picture(None, Image.new("L", (600, 500), 255), name="t", ask=uniform_guess)
    assert len(reading.digits) == (4 if kept == "levelled" else 3)


def test_predict_reads_a_tilted_number_digit_by_digit(tmp_path, trained_model_path):
    path = tmp_path / "tilted.png"
    tilted(digit_row((3, 1, 4, 1, 5)), -22).save(path)
    result = CliRunner().invoke(cli, ["predict", str(path), "--json", "--model", str(trained_model_path)])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output)
    assert len(row["number"]) == 5 and len(row["digits"]) == 5
    width, height = Image.open(path).size
    for left, top, right, bottom in (digit["box"] for digit in row["digits"]):
        assert 0 <= left < right <= width and 0 <= top < bottom <= height
