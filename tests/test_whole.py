"""digitnet.whole: the shipped network that tells one whole digit from a part of one or a pair."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitnet import touching, whole
from digitnet.line import find_digits
from digitnet.page import analyse_page
from digitnet.pictures import grayscale
from digitnet.predict import _digit_or_blank

RING = 100  # each ring's width in the picture


def rings_on_paper(count: int, *, size=(420, 200)):
    """``count`` rings (0s) side by side, each touching the next: (grey picture, page)."""
    picture = Image.new("L", size, 255)
    draw = ImageDraw.Draw(picture)
    for n in range(count):
        left = 40 + n * (RING - 6)
        draw.ellipse((left, 40, left + RING, 160), outline=0, width=10)
    gray = grayscale(picture)
    return gray, analyse_page(gray, "rings")


def spans_and_odds(gray, page):
    """The spans of the page's one stroke, the seams' costs, and each span's log odds of being one digit."""
    inks = find_digits(page)
    assert len(inks) == 1
    height = touching.line_height(inks)
    costs, spans = touching._plan(touching._at_page_resolution(inks[0], page.strokes), height)
    images = np.stack([_digit_or_blank(gray, page, span.ink, "rings") for span in spans])
    odds = touching.whole_odds(lambda _, shapes: whole.whole_log_odds(images, shapes), spans, [costs] * len(spans))
    return spans, costs, odds


def columns(span, gray, page):
    """(left, right) of a span's strokes in the picture's pixels."""
    scale = gray.size[0] / page.shape[1]
    return span.ink.box()[0] * scale, span.ink.box()[2] * scale


def test_one_ring_is_a_whole_digit_and_its_parts_are_not():
    gray, page = rings_on_paper(1, size=(220, 200))
    spans, _, odds = spans_and_odds(gray, page)
    widths = [right - left for left, right in (columns(span, gray, page) for span in spans)]
    assert odds[int(np.argmax(widths))] > 2.0  # the ring whole: sure
    parts = [value for width, value in zip(widths, odds, strict=True) if width < 0.8 * RING]
    assert parts and max(parts) < 0.0


def test_two_touching_rings_are_a_pair_and_the_odds_alone_cut_them_where_they_meet():
    gray, page = rings_on_paper(2)
    spans, costs, odds = spans_and_odds(gray, page)
    widths = [right - left for left, right in (columns(span, gray, page) for span in spans)]
    assert odds[int(np.argmax(widths))] < -5.0  # the pair whole
    only_the_odds = dict.fromkeys(touching.WEIGHTS, 0.0) | {"whole": 1.0}
    row = touching.best_row(costs, spans, np.full((len(spans), 10), 0.1), only_the_odds, odds=odds)
    assert len(row) == 2
    meeting = 40 + RING - 3  # where the rings' outlines touch
    assert abs(columns(row[1], gray, page)[0] - meeting) < 0.15 * RING
    assert abs(columns(row[0], gray, page)[1] - meeting) < 0.25 * RING


def test_the_numpy_network_computes_what_its_keras_twin_does():
    """The shipped weights are run in numpy; the training script builds the same layers in Keras."""
    import whole_digit_tuning

    model = whole_digit_tuning.whole_digit_network(seed=3)
    weights = {}
    for name in ("conv1", "conv2", "dense", "out"):
        kernel, bias = model.get_layer(name).get_weights()
        weights[f"{name}_kernel"], weights[f"{name}_bias"] = kernel, bias + 0.05  # biases not all zero
        model.get_layer(name).set_weights([kernel, weights[f"{name}_bias"]])
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28)).astype(np.uint8)
    shapes = rng.uniform(0, 2, (5, 4)).astype(np.float32)
    expected = model.predict({"image": images[..., None] / 255.0, "shape": shapes}, verbose=0)[:, 0]
    assert whole.whole_log_odds(images, shapes, weights) == pytest.approx(expected, abs=1e-4)


def test_the_shipped_weights_are_package_data():
    from importlib import resources

    for name in whole.WEIGHTS_FILES:
        assert resources.files("digitnet").joinpath("networks", name).is_file()
    assert len(whole._shipped()) == len(whole.WEIGHTS_FILES) == 2
    for network in whole._shipped():
        shapes = {name: array.shape for name, array in network.items()}
        assert shapes["conv1_kernel"] == (3, 3, 1, 8)
        assert shapes["dense_kernel"][0] == 5 * 5 * 16 + len(whole.SHAPE_FEATURES)


def test_the_shipped_odds_are_the_mean_of_the_shipped_networks():
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (6, 28, 28)).astype(np.uint8)
    shapes = rng.uniform(0, 2, (6, 4)).astype(np.float32)
    each = [whole.whole_log_odds(images, shapes, network) for network in whole._shipped()]
    assert not np.allclose(each[0], each[1])  # two networks, not one file twice
    assert whole.whole_log_odds(images, shapes) == pytest.approx((each[0] + each[1]) / 2)


def test_a_wider_network_that_also_learns_the_digit_ships_only_what_numpy_runs(tmp_path):
    """tests/whole_digit_tuning.py train --filters --units --digit-weight: the digit output stays behind."""
    import whole_digit_tuning

    rng = np.random.default_rng(1)
    count = 64
    spans = tmp_path / "spans.npz"
    np.savez(
        spans,
        images=rng.integers(0, 256, (count, 28, 28)).astype(np.uint8),
        shapes=rng.uniform(0, 2, (count, 4)).astype(np.float32),
        labels=rng.integers(0, 2, count),
        classes=rng.integers(0, 10, count),
    )
    written = tmp_path / "net.npz"
    whole_digit_tuning.train(
        [spans], check=[spans], output=written, epochs=1, seed=2, filters=(4, 6), units=5, digit_weight=0.3
    )
    with np.load(written) as arrays:
        weights = {name: arrays[name] for name in arrays.files}
    assert sorted(weights) == sorted(
        f"{layer}_{part}" for layer in ("conv1", "conv2", "dense", "out") for part in ("kernel", "bias")
    )
    assert weights["conv2_kernel"].shape == (3, 3, 4, 6)
    assert weights["dense_kernel"].shape == (5 * 5 * 6 + len(whole.SHAPE_FEATURES), 5)
    odds = whole.whole_log_odds(np.zeros((2, 28, 28), np.uint8), np.ones((2, 4), np.float32), weights)
    assert odds.shape == (2,) and np.isfinite(odds).all()


def test_learning_the_digit_from_spans_made_without_it_stops_with_one_line(tmp_path):
    import whole_digit_tuning

    spans = tmp_path / "old.npz"
    np.savez(spans, images=np.zeros((4, 28, 28), np.uint8), shapes=np.ones((4, 4), np.float32), labels=np.ones(4))
    with pytest.raises(SystemExit, match="record each span's digit"):
        whole_digit_tuning.train([spans], check=[], output=tmp_path / "net.npz", epochs=1, seed=1, digit_weight=0.3)
    assert not (tmp_path / "net.npz").exists()


def test_a_one_with_the_end_of_its_neighbour_is_whole_by_the_foreign_ink_rule():
    """A 1 holds little ink: 6 pixels of its neighbour make it 88% pure (not whole by its own share),
    yet they are 6% of an average digit's ink (whole by the neighbour's ink, ``--labels foreign``)."""
    import whole_digit_tuning

    own, neighbour, average_digit = 44, 6, 100
    purity, coverage, foreign = own / (own + neighbour), 1.0, neighbour / average_digit
    assert whole_digit_tuning.label_of(purity, coverage) == -1
    assert whole_digit_tuning.label_of(purity, coverage, foreign) == 1
    # Half a digit, or a digit with half of its neighbour, is not whole by either rule.
    assert whole_digit_tuning.label_of(1.0, 0.5) == 0 == whole_digit_tuning.label_of(1.0, 0.5, 0.0)
    assert whole_digit_tuning.label_of(0.66, 1.0) == 0 == whole_digit_tuning.label_of(0.66, 1.0, 0.5)


def test_training_by_the_foreign_ink_rule_labels_the_spans_again(tmp_path):
    import whole_digit_tuning

    count = 6
    spans = tmp_path / "spans.npz"
    shares = np.array([[0.88, 1.0, 0.06], [1.0, 0.5, 0.0], [0.9, 0.8, 0.15]] * 2)
    np.savez(
        spans,
        images=np.zeros((count, 28, 28), np.uint8),
        shapes=np.ones((count, 4), np.float32),
        labels=whole_digit_tuning.label_of(*shares.T[:2]),
        shares=shares,
    )
    _, _, by_share, _ = whole_digit_tuning.loaded([spans])
    _, _, by_foreign, _ = whole_digit_tuning.loaded([spans], "foreign")
    assert by_share.tolist() == [0.0, 0.0]  # the 1 with its neighbour's end and the one in between left out
    assert by_foreign.tolist() == [1.0, 0.0, 1.0, 0.0]  # the 1 is whole; 15% foreign ink is left out
    old = tmp_path / "old.npz"
    np.savez(old, images=np.zeros((2, 28, 28), np.uint8), shapes=np.ones((2, 4), np.float32), labels=np.ones(2))
    with pytest.raises(SystemExit, match="shares of ink"):
        whole_digit_tuning.loaded([old], "foreign")
