"""Digits cropped to their ink: a scan cut to the digit, a dataset's 16×16 crop.

Ink then covers a third to a half of the picture, so the paper is no longer its majority:
digitnet used to find no ink at all, or only a speck of it.  Such a picture is two-toned
(digitnet.paper.two_tones) and is read again on a frame of its own paper; blank pages,
noise and gradients are not two-toned and keep their one-line error.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from digitnet import predict
from digitnet.cli import cli
from digitnet.errors import DigitnetError
from digitnet.paper import Tones, two_tones
from digitnet.pictures import border_of, framed, grayscale, grey_counts

from cropped_digits import blue_pen
from paper_digits import cropped_to_ink
from synth import SYNTH_NOISE, render_digit


def ink_of(digit: int, seed: int = 0, canvas: int = 112) -> np.ndarray:
    """A synthetic digit's bright ink on black, cropped to the ink (uint8)."""
    return cropped_to_ink(render_digit(digit, np.random.default_rng(seed), canvas=canvas), above=SYNTH_NOISE)


def uniform_guess(images):
    return np.full((len(images), 10), 0.1, dtype=np.float32)


def read(pixels, **kwargs):
    return predict.read_picture(None, Image.fromarray(pixels), name="test", ask=uniform_guess, **kwargs)


def test_a_crop_is_two_toned_and_its_paper_is_the_majority_tone():
    dark_on_white = grayscale(Image.fromarray(255 - ink_of(4)))
    tones = two_tones(grey_counts(dark_on_white), border_of(dark_on_white))
    assert tones.ink_is_dark and tones.paper > 240  # the white paper, not a mean pulled toward the ink
    assert 0.15 < tones.ink_share < 0.6
    assert (np.asarray(dark_on_white) < tones.threshold).mean() == pytest.approx(tones.ink_share, abs=1e-9)
    board = Image.fromarray(ink_of(4))
    tones = two_tones(grey_counts(board), border_of(board))
    assert not tones.ink_is_dark and tones.paper < 15  # light ink on a dark board: the board


def test_a_thick_digit_that_is_mostly_ink_keeps_its_paper():
    ring = np.full((60, 50), 255, dtype=np.uint8)
    ring[:, 4:46] = 0  # a broad 0 cropped to its ink: more ink than paper, the paper at the corners
    ring[10:50, 16:34] = 255
    ring[:3, :8] = ring[:3, -8:] = ring[-3:, :8] = ring[-3:, -8:] = 255
    tones = two_tones(grey_counts(Image.fromarray(ring)), border_of(Image.fromarray(ring)))
    assert tones.ink_share > 0.5 and tones.ink_is_dark and tones.paper > 250


def blank_pages():
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:240, 0:320]
    vignette = 230 - 60 * (((xs - 160) / 160) ** 2 + ((ys - 120) / 120) ** 2) + rng.normal(0, 4, xs.shape)
    return {
        "uniform": np.full((100, 300), 240.0),
        "noisy paper": rng.normal(200, 12, (200, 300)),
        "tiny noisy": rng.normal(200, 25, (40, 40)),
        "vignetted photo": vignette,
        "gradient": np.tile(np.linspace(0, 255, 256), (100, 1)),
        "static": rng.random((64, 64)) * 255,
    }


@pytest.mark.parametrize("kind", list(blank_pages()))
def test_blank_pages_noise_and_gradients_are_not_two_toned_and_stay_blank(kind):
    pixels = np.clip(blank_pages()[kind], 0, 255).astype(np.uint8)
    assert two_tones(grey_counts(Image.fromarray(pixels)), border_of(Image.fromarray(pixels))) is None
    with pytest.raises(DigitnetError, match="no ink found"):
        read(pixels)


@pytest.mark.parametrize(
    "make, paper",
    [
        pytest.param(lambda ink: 255 - ink, 255, id="dark on white"),
        pytest.param(lambda ink: ink, 0, id="light on black"),
        pytest.param(lambda ink: np.asarray(Image.fromarray(blue_pen(ink)).convert("L")), 255, id="blue pen"),
        pytest.param(
            lambda ink: np.asarray(Image.fromarray(ink).resize((16, 16), Image.Resampling.BILINEAR)), 0, id="16x16"
        ),
    ],
)
@pytest.mark.parametrize("digit", [0, 4, 7])
def test_a_digit_cropped_to_its_ink_reads_as_the_same_digit_with_margins(make, paper, digit):
    cropped = make(ink_of(digit))
    margin = max(cropped.shape) // 2
    with_margins = np.pad(cropped, margin, constant_values=paper)

    # As one digit (--single): how pieces are joined is the network's call, not this test's.
    (crop_reading,) = read(cropped, single=True).digits
    (margin_reading,) = read(with_margins, single=True).digits

    # The same MNIST-style 28×28 digit comes out of both (up to the crop's own resolution).
    a, b = crop_reading.image.astype(float), margin_reading.image.astype(float)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.85
    # Its box is in the crop's own pixels and holds (nearly) all of it.
    left, top, right, bottom = crop_reading.box
    height, width = cropped.shape
    assert 0 <= left <= 0.1 * width and 0.9 * width <= right <= width
    assert 0 <= top <= 0.1 * height and 0.9 * height <= bottom <= height


def test_a_number_cropped_to_its_ink_is_read_digit_by_digit(trained_model_path):
    from digitnet import runtime

    inks = [ink_of(d, seed=d) for d in (2, 0, 5)]
    height = max(ink.shape[0] for ink in inks)
    row = np.concatenate([np.pad(ink, ((0, height - ink.shape[0]), (0, 20))) for ink in inks], axis=1)[:, :-20]
    reading = predict.read_picture(runtime.load(trained_model_path), Image.fromarray(255 - row), name="test")
    assert len(reading.digits) == 3
    lefts = [digit.box[0] for digit in reading.digits]
    assert lefts == sorted(lefts) and reading.digits[-1].box[2] <= row.shape[1]


def test_a_picture_with_paper_around_its_digits_is_read_without_a_frame(monkeypatch):
    def no_frame(*args, **kwargs):
        raise AssertionError("framed although the ink was found")

    monkeypatch.setattr("digitnet.pictures.framed", no_frame)
    with_margins = np.pad(255 - ink_of(3), 60, constant_values=255)
    assert len(read(with_margins).digits) == 1


def test_framing_shrinks_a_large_picture_and_maps_boxes_back():
    gray = Image.fromarray(np.full((1000, 3000), 200, dtype=np.uint8))
    paper_around, to_picture = framed(gray, Tones(200.0, 0.3, 128, True), longest=1024)
    assert max(paper_around.size) == 1024 + 2 * round(0.25 * 1024)
    assert np.all(np.asarray(paper_around) == 200)  # the frame is the picture's own paper
    frame = round(0.25 * 1024)
    assert to_picture((frame, frame, frame + 1024, frame + 341)) == (0, 0, 3000, 1000)
    assert to_picture((0, 0, 2000, 2000)) == (0, 0, 3000, 1000)  # clipped to the picture


def test_predict_reads_a_crop_that_used_to_be_a_blank_page(tmp_path, trained_model_path):
    crop = tmp_path / "crop.png"
    Image.fromarray(255 - ink_of(7)).save(crop)
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((50, 50), 230, dtype=np.uint8)).save(blank)

    result = CliRunner().invoke(cli, ["predict", str(crop), str(blank), "--json", "--model", str(trained_model_path)])

    assert result.exit_code == 1  # the blank page
    (row,) = json.loads(result.stdout)
    assert row["path"] == str(crop) and len(row["number"]) == 1
    assert "blank.png: no ink found" in result.stderr
