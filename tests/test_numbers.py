"""Reading whole numbers: finding the digits on a page (digitnet.page, digitnet.line) and reading them left to right.

Pictures are made here: synthetic digits (tests/synth.py) and plain strokes, placed
side by side on paper with gaps, specks, ruled lines, a dark table edge, or touching.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw
from scipy import ndimage

from digitnet.check import JSON_DECIMALS
from digitnet.cli import cli
from digitnet.cuts import least_ink_paths, seams_of, stroke_width
from digitnet.line import find_digits
from digitnet.page import Ink, analyse_page
from digitnet.pictures import grayscale
from digitnet.pieces import joined_pieces
from digitnet.touching import Span, best_row, span_score, split_touching

from paper_digits import cropped_to_ink
from synth import SYNTH_NOISE, render_digit

JSON_ROUNDING = 0.5 * 10**-JSON_DECIMALS  # the most rounding JSON probabilities moves one

HEIGHT = 120  # each digit's canvas: synth draws a digit about 60% of it tall


def number_picture(digits, *, gap: int = 10, seed: int = 0, margin: int = 40) -> np.ndarray:
    """Dark digits on white paper, side by side with ``gap`` pixels between their canvases (uint8 grey)."""
    rng = np.random.default_rng(seed)
    inks = [cropped_to_ink(render_digit(d, rng, canvas=HEIGHT), above=SYNTH_NOISE) for d in digits]
    height = max(ink.shape[0] for ink in inks) + 2 * margin
    width = sum(ink.shape[1] for ink in inks) + gap * (len(inks) - 1) + 2 * margin
    page = np.zeros((height, width), dtype=np.uint8)
    x = margin
    for ink in inks:
        top = margin + (height - 2 * margin - ink.shape[0]) // 2
        page[top : top + ink.shape[0], x : x + ink.shape[1]] = np.maximum(
            page[top : top + ink.shape[0], x : x + ink.shape[1]], ink
        )
        x += ink.shape[1] + gap
    return 255 - page


def found(pixels):
    """The digits find_digits finds: their boxes in the picture's pixels, left to right."""
    from digitnet.digit import digit_box

    gray = grayscale(Image.fromarray(pixels))
    page = analyse_page(gray, "test")
    return [digit_box(ink, page, gray.size) for ink in find_digits(page)]


def ink_columns(pixels):
    """Runs of inked columns: (first, last) of each stretch of ink, left to right."""
    inked = (pixels < 128).any(axis=0).astype(np.int8)
    edges = np.diff(np.concatenate([[0], inked, [0]]))
    return list(zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0] - 1, strict=True))


# --------------------------------------------------------------------------- finding digits


@pytest.mark.parametrize("digits", [(2, 0, 2, 6), (7, 1), (3, 8, 4, 5, 9, 0)])
def test_digits_with_gaps_are_found_left_to_right_with_their_boxes(digits):
    pixels = number_picture(digits, gap=25)
    boxes = found(pixels)
    assert len(boxes) == len(digits)
    assert [box[0] for box in boxes] == sorted(box[0] for box in boxes)
    # Each box holds exactly one stretch of ink, all of it, and little else.
    for (left, top, right, bottom), (first, last) in zip(boxes, ink_columns(pixels), strict=True):
        assert left <= first and last < right
        assert right - left <= (last - first + 1) + 12
        assert 0 <= top < bottom <= pixels.shape[0]


def test_close_digits_are_told_apart():
    pixels = number_picture((4, 1, 7), gap=4)
    assert len(found(pixels)) == 3


def test_pieces_of_one_digit_are_joined():
    """A 5 whose bar was written apart from its body, and a 4 with a broken stem, in one number."""
    page = Image.new("L", (420, 220), 255)
    draw = ImageDraw.Draw(page)
    # 5: the bar on its own, then the body.
    draw.line([(60, 50), (120, 50)], fill=0, width=9)
    draw.line([(62, 62), (60, 110), (100, 105), (118, 135), (100, 165), (58, 160)], fill=0, width=9, joint="curve")
    # 4: the open corner, and the stem broken in two.
    draw.line([(230, 45), (200, 120), (270, 120)], fill=0, width=9)
    draw.line([(252, 60), (252, 110)], fill=0, width=9)
    draw.line([(252, 128), (252, 170)], fill=0, width=9)
    # 1 to close the number.
    draw.line([(340, 45), (340, 170)], fill=0, width=9)
    boxes = found(np.asarray(page))
    assert len(boxes) == 3
    assert boxes[0][0] < 60 and boxes[0][2] > 120  # the 5 spans its bar and its body
    assert boxes[1][1] < 60 and boxes[1][3] > 165  # the 4 spans both parts of its stem


def test_specks_ruled_lines_and_the_table_edge_are_not_digits():
    pixels = number_picture((5, 3, 9), gap=30, margin=60).copy()
    height, width = pixels.shape
    rng = np.random.default_rng(4)
    for _ in range(12):  # specks of dirt
        y, x = int(rng.integers(3, height - 3)), int(rng.integers(3, width - 3))
        pixels[y - 1 : y + 2, x - 1 : x + 2] = 60
    for y in range(12, height, 45):  # ruled paper
        pixels[y : y + 2, :] = np.minimum(pixels[y : y + 2, :], 170)
    pixels[:, :14] = 40  # a dark table beside the sheet
    assert len(found(pixels)) == 3


def test_a_blank_page_is_the_usual_error():
    from digitnet.errors import DigitnetError

    with pytest.raises(DigitnetError, match="no ink found"):
        found(np.full((100, 300), 240, dtype=np.uint8))


def _one_digit_page(*strokes):
    """One digit drawn as separate pieces on a page: each a polyline of (x, y) points."""
    page = Image.new("L", (300, 300), 255)
    draw = ImageDraw.Draw(page)
    for points in strokes:
        draw.line(points, fill=0, width=9, joint="curve")
    return np.asarray(page)


@pytest.mark.parametrize(
    "strokes",
    [
        # a 9: the loop, and its stem starting under the loop's right side, apart from it
        (
            [(150, 60), (110, 70), (105, 110), (140, 125), (170, 100), (165, 65), (150, 60)],
            [(172, 122), (165, 170), (150, 232)],
        ),
        # an 8 in two pieces whose boxes overlap in rows: the top loop reaches down into the bottom one
        (
            [(150, 60), (115, 80), (150, 130), (185, 160), (160, 175)],
            [(145, 150), (112, 190), (150, 235), (190, 205), (178, 120), (185, 80), (165, 60)],
        ),
        # a slanted 1 broken in the middle
        ([(190, 50), (165, 130)], [(160, 148), (135, 230)]),
        # a 5 whose bar was written just right of its body, sharing no column
        ([(105, 60), (100, 130), (150, 125), (170, 170), (150, 215), (100, 210)], [(177, 60), (230, 60)]),
    ],
    ids=["9-loop-apart", "8-broken", "1-broken", "5-bar-beside"],
)
def test_a_digit_in_pieces_is_one_digit(strokes):
    assert len(found(_one_digit_page(*strokes))) == 1


def test_a_slanted_one_leaning_into_its_neighbours_columns_is_its_own_digit():
    """Close digits overlap in columns when slanted, but only at their edges."""
    page = Image.new("L", (340, 280), 255)
    draw = ImageDraw.Draw(page)
    draw.ellipse((60, 40, 140, 110), outline=0, width=9)  # an 8
    draw.ellipse((55, 105, 145, 190), outline=0, width=9)
    draw.line([(190, 50), (135, 235)], fill=0, width=9)  # a 1 leaning left under the 8, clear of its strokes
    assert len(found(np.asarray(page))) == 2


def faint_between(*heavy_boxes):
    """Heavy 0s at ``heavy_boxes`` and a faint 0 (a thin pen pressed unevenly) in the middle."""
    page = Image.new("L", (460, 220), 255)
    draw = ImageDraw.Draw(page)
    for box in heavy_boxes:
        draw.ellipse(box, outline=0, width=16)
    points = [(230 + 40 * np.sin(a), 110 - 70 * np.cos(a)) for a in np.linspace(0, 2 * np.pi, 41)]
    for n, (start, end) in enumerate(zip(points[:-1], points[1:], strict=True)):  # darker every other bit
        draw.line([start, end], fill=150 if n % 2 else 215, width=3)
    return page


def test_a_faint_thin_digit_beside_heavy_ones_is_found_whole():
    page = faint_between((40, 40, 140, 180), (320, 40, 420, 180))
    analysed = analyse_page(grayscale(page), "faint")
    _, specks = ndimage.label(analysed.strokes[:, 180:280], structure=np.ones((3, 3)))
    assert specks >= 10  # at the heavy digits' level the faint 0 is specks
    boxes = found(np.asarray(page))
    assert len(boxes) == 3
    left, top, right, bottom = boxes[1]
    assert left <= 190 and right >= 270 and top <= 42 and bottom >= 178  # all of it


def test_beside_one_digit_no_faint_digit_is_looked_for():
    """A picture of one digit reads as it always has: the faint specks stay specks."""
    boxes = found(np.asarray(faint_between((40, 40, 140, 180))))
    assert len(boxes) == 1 and boxes[0][2] < 180


def test_faint_ruled_lines_through_the_digits_are_not_part_of_them():
    """Lines of a notebook, faint and photographed at a slant, cross every digit of the number."""
    pixels = number_picture((5, 3, 9, 2), gap=30, margin=60)
    lined = Image.fromarray(pixels)
    draw = ImageDraw.Draw(lined)
    for y in range(20, pixels.shape[0] + 60, 40):
        draw.line([(0, y), (pixels.shape[1], y + 25)], fill=215, width=2)
    plain, crossed = found(pixels), found(np.asarray(lined))
    assert len(crossed) == 4
    assert np.abs(np.array(crossed) - np.array(plain)).max() <= 4


def test_each_digit_of_a_number_is_made_as_bright_as_mnist_whatever_its_pen():
    """The same 0 written in black and in a pale grey: their 28×28 images come out alike."""
    from digitnet.digit import digit_image

    page = Image.new("L", (420, 220), 255)
    draw = ImageDraw.Draw(page)
    draw.ellipse((40, 40, 140, 180), outline=0, width=10)
    draw.ellipse((260, 40, 360, 180), outline=150, width=10)
    gray = grayscale(page)
    analysed = analyse_page(gray, "pens")
    dark, pale = (digit_image(gray, analysed, ink).astype(float) for ink in find_digits(analysed))
    assert np.percentile(pale[pale > 0], 75) >= 0.95 * np.percentile(dark[dark > 0], 75)
    assert np.abs(pale - dark).mean() < 0.05 * dark.mean()


def two_pieces(gap: int, *, loop_top: int = 120):
    """The stem and the loop of a 6 written apart, ``gap`` px between them: its strokes as find_digits gives them.
    The loop reaches from ``loop_top`` to the stem's foot (at 120, half as tall as the stem)."""
    page = Image.new("L", (400, 240), 255)
    draw = ImageDraw.Draw(page)
    draw.line([(170, 40), (150, 90), (145, 150), (150, 200)], fill=0, width=9, joint="curve")
    draw.ellipse((160 + gap, loop_top, 230 + gap, 200), outline=0, width=9)
    return find_digits(analyse_page(grayscale(page), "pieces"))


def reader_of_parts(*, six_wider_than: float, sure: float):
    """A stand-in network: sure of a "6" for a part wider than ``six_wider_than`` px; a narrower
    part is a "1" or a "0" (by its width) at ``sure``, the rest spread over the other digits."""

    def read(parts):
        probabilities = np.zeros((len(parts), 10))
        for row, part in zip(probabilities, parts, strict=True):
            left, _, right, _ = part.box()
            digit = 6 if right - left > six_wider_than else 1 if right - left < 40 else 0
            confidence = 0.99 if digit == 6 else sure
            row[:] = (1 - confidence) / 9
            row[digit] = confidence
        return probabilities

    return read


def test_pieces_of_one_digit_are_joined_when_read_better_as_one():
    """Two pieces as tall as digits of the line (a stem, and a loop 0.8× as tall): the network decides."""
    inks = two_pieces(gap=4, loop_top=72)
    assert len(inks) == 2  # apart, and each alike a digit of its own
    assert len(joined_pieces(inks, reader_of_parts(six_wider_than=90, sure=0.6))) == 1
    # Each piece read as surely as the whole: two digits.
    assert len(joined_pieces(inks, reader_of_parts(six_wider_than=90, sure=0.99))) == 2
    # Read no better whole than apart: two digits.
    assert len(joined_pieces(inks, reader_of_parts(six_wider_than=1000, sure=0.6))) == 2


def test_a_piece_far_shorter_than_its_neighbour_is_no_digit_of_its_own():
    """The loop of a 6 half as tall as its stem, or the tick an open 0 leaves beside it: read as surely
    apart as together, yet a piece under 0.65× the line's height right beside a digit is joined to it."""
    inks = two_pieces(gap=4)
    assert len(inks) == 2
    assert len(joined_pieces(inks, reader_of_parts(six_wider_than=90, sure=0.99))) == 1


def test_pieces_too_far_apart_are_not_read_together():
    inks = two_pieces(gap=60)
    calls = []

    def read(parts):
        calls.append(len(parts))
        return reader_of_parts(six_wider_than=0, sure=0.6)(parts)

    assert joined_pieces(inks, read) == inks
    assert calls == []


# --------------------------------------------------------------------------- touching digits


def rings(*boxes, line=None, bars=(), size=(400, 200)):
    """Rings (ellipse outlines 10 px wide) at ``boxes``, an upright bar at column ``line`` and
    ``bars`` (pairs of end points), 10 px wide too: the page analysed."""
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    for box in boxes:
        draw.ellipse(box, outline=0, width=10)
    if line is not None:
        draw.line([(line, 40), (line, 160)], fill=0, width=10)
    for ends in bars:
        draw.line(list(ends), fill=0, width=10)
    return analyse_page(grayscale(page), "rings")


def reader_sure_of(width_of_one_digit, calls=None):
    """A stand-in network: sure of a "0" when a part is ``width_of_one_digit`` wide, less so the more it differs."""

    def read(parts):
        if calls is not None:
            calls.append(len(parts))
        widths = np.array([part.box()[2] - part.box()[0] for part in parts], dtype=float)
        confidence = np.clip(1 - np.abs(widths - width_of_one_digit) / width_of_one_digit, 0.05, 0.99)
        probabilities = np.zeros((len(parts), 10))
        probabilities[:, 0] = confidence
        probabilities[:, 1] = 1 - confidence
        return probabilities

    return read


def sure_of_a_zero_whatever_the_part(parts):
    """A stand-in network that reads every part, whole or cut, as a "0" at 99%."""
    probabilities = np.full((len(parts), 10), 0.01 / 9)
    probabilities[:, 0] = 0.99
    return probabilities


def judge_saying(pair_odds: float, ring_width: float, ring_odds: float = 5.0):
    """A stand-in for digitnet.whole: ``pair_odds`` for a span as wide as two rings, ``ring_odds`` for one
    ring's width, sure that anything else is no whole digit."""

    def judge(parts, shapes):
        widths = np.array([part.box()[2] - part.box()[0] for part in parts], dtype=float)
        odds = np.where(np.abs(widths - ring_width) < 0.15 * ring_width, ring_odds, -5.0)
        return np.where(widths > 1.6 * ring_width, pair_odds, odds)

    return judge


def test_touching_digits_are_cut_where_they_meet():
    """Two rings that touch and a 1 beside them: the rings are cut at the point where they meet."""
    analysed = rings((60, 40, 160, 160), (155, 40, 255, 160), line=320)
    inks = find_digits(analysed)
    assert len(inks) == 2  # the rings are one connected stroke
    calls = []
    ring = (inks[0].box()[2] - inks[0].box()[0]) / 2
    parts = split_touching(inks, reader_sure_of(ring, calls), strokes=analysed.strokes, judge=judge_saying(-8.0, ring))
    assert len(parts) == 3
    scale = analysed.shape[1] / 400
    assert abs(parts[1].box()[0] - 158 * scale) < 0.04 * 400 * scale  # at the touching point
    assert abs(parts[0].box()[2] - 158 * scale) < 0.04 * 400 * scale
    assert parts[2] is inks[1]  # the 1 comes as it was found
    assert len(calls) == 1 and calls[0] > 3  # every candidate span, in one batch


def test_a_piece_far_shorter_than_the_line_is_not_cut_off_as_a_digit(monkeypatch):
    """Two touching rings, the second with a short tail (the thin end of a 3's stroke), and a 1 beside them.
    The network reads the tail alone as surely as a digit and the whole-digit network is fooled by it too
    (as by the tick of an open 0), yet a span a tenth of the line tall is no digit: the tail stays with its
    ring.  Were short spans allowed, the tail (and short slivers of the rings) would be read as digits."""
    tail = ((225, 150), (300, 150))
    analysed = rings((60, 40, 160, 160), (155, 40, 255, 160), line=360, bars=[tail], size=(420, 200))
    inks = find_digits(analysed)
    assert len(inks) == 2  # the rings and the tail are one connected stroke
    scale = analysed.shape[1] / 420
    line = inks[1].box()[3] - inks[1].box()[1]

    def fooled_by_the_tail(parts, shapes):
        """Sure of each ring (with or without the tail) and of the tail alone; sure anything else is no digit."""
        lefts, tops, _, bottoms = np.array([part.box() for part in parts], dtype=float).T
        ring = (np.abs(lefts - 58 * scale) < 8 * scale) | (np.abs(lefts - 153 * scale) < 8 * scale)
        return np.where(ring | (bottoms - tops < 0.3 * line), 5.0, -5.0)

    def cut(strokes):
        return split_touching(
            strokes, sure_of_a_zero_whatever_the_part, strokes=analysed.strokes, judge=fooled_by_the_tail
        )

    parts = cut(inks)
    assert len(parts) == 3
    assert parts[1].box()[2] == inks[0].box()[2]  # the tail goes with the second ring
    monkeypatch.setattr("digitnet.touching.SPAN_HEIGHT", 0.0)
    unfloored = cut(inks)
    assert len(unfloored) > 3
    assert min(part.box()[3] - part.box()[1] for part in unfloored) < 0.3 * line


def test_a_wide_ring_is_not_cut_when_the_network_is_as_sure_of_its_halves():
    """A wide 0 alone: every cut through it crosses two strokes, so halves read as surely as the whole lose."""
    analysed = rings((40, 40, 180, 160), size=(220, 200))
    inks = find_digits(analysed)
    assert split_touching(inks, sure_of_a_zero_whatever_the_part, strokes=analysed.strokes) == inks


def two_touching_rings_alone():
    """(page, its one stroke as found, the width of one ring): two rings that touch, alone on the page."""
    analysed = rings((60, 40, 160, 160), (155, 40, 255, 160), size=(320, 200))
    inks = find_digits(analysed)
    assert len(inks) == 1
    return analysed, inks, (inks[0].box()[2] - inks[0].box()[0]) / 2


def test_two_touching_rings_alone_are_cut_only_when_not_one_whole_digit():
    """A lone stroke 1.6× as wide as tall, read as surely whole as cut: cut when digitnet.whole says it is no
    single digit, left whole when it says it is one (a wide digit) or when no judge is there."""
    analysed, inks, ring = two_touching_rings_alone()
    not_one = judge_saying(-8.0, ring)
    parts = split_touching(inks, sure_of_a_zero_whatever_the_part, strokes=analysed.strokes, judge=not_one)
    assert len(parts) == 2
    scale = analysed.shape[1] / 320
    assert abs(parts[1].box()[0] - 158 * scale) < 0.05 * 320 * scale
    one_wide_digit = judge_saying(+3.0, ring)
    kept = split_touching(inks, sure_of_a_zero_whatever_the_part, strokes=analysed.strokes, judge=one_wide_digit)
    assert kept == inks
    assert split_touching(inks, sure_of_a_zero_whatever_the_part, strokes=analysed.strokes) == inks


def test_a_lone_stroke_the_whole_digit_networks_only_doubt_is_looked_at():
    """Two touching rings alone at whole log odds of -3 (a "19" in one stroke gets -2 to -5): doubted as one
    digit, so looked at and cut; at -1 nearly as likely one digit as not, so read whole as before."""
    analysed, inks, ring = two_touching_rings_alone()
    doubted = judge_saying(-3.0, ring)
    assert len(split_touching(inks, sure_of_a_zero_whatever_the_part, strokes=analysed.strokes, judge=doubted)) == 2
    nearly_one = judge_saying(-1.0, ring)
    kept = split_touching(inks, sure_of_a_zero_whatever_the_part, strokes=analysed.strokes, judge=nearly_one)
    assert kept == inks


def test_a_lone_stroke_more_than_twice_as_wide_as_tall_is_cut_without_the_margin():
    """Three touching rings alone: no one digit is that wide, so the best row of three is taken even when it
    beats the stroke read whole by less than the lone-stroke margin (kept for strokes one wide digit could be)."""
    analysed = rings((60, 40, 160, 160), (155, 40, 255, 160), (250, 40, 350, 160), size=(420, 200))
    inks = find_digits(analysed)
    assert len(inks) == 1
    ring = (inks[0].box()[2] - inks[0].box()[0]) / 3

    def judge(parts, shapes):
        """Sure a ring is a whole digit, and nearly as sure of the three together (by 15 log odds)."""
        widths = np.array([part.box()[2] - part.box()[0] for part in parts], dtype=float)
        odds = np.where(np.abs(widths - ring) < 0.15 * ring, 5.0, -5.0)
        return np.where(widths > 2.5 * ring, 15.0, odds)

    parts = split_touching(inks, sure_of_a_zero_whatever_the_part, strokes=analysed.strokes, judge=judge)
    assert len(parts) == 3


def test_a_stroke_no_wider_than_one_digit_is_cut_when_not_one_whole_digit():
    """Two upright bars joined by a stroke (two 1s that touch) are no wider than a 0 beside them: they are
    looked at as several digits only because digitnet.whole says they are not one digit."""
    ones = [((70, 40), (70, 160)), ((140, 40), (140, 160)), ((70, 100), (140, 100))]
    analysed = rings((250, 40, 350, 160), bars=ones, size=(420, 200))
    inks = find_digits(analysed)
    assert len(inks) == 2
    scale = analysed.shape[1] / 420

    def judge_saying(pair_odds):
        """``pair_odds`` for both bars together, whole for anything else as tall as the line, no digit below."""

        def judge(parts, shapes):
            boxes = np.array([part.box() for part in parts], dtype=float)
            pair = (boxes[:, 0] < 70 * scale) & (boxes[:, 2] > 140 * scale)
            tall = boxes[:, 3] - boxes[:, 1] > 60 * scale
            return np.where(pair, pair_odds, np.where(tall, 5.0, -5.0))

        return judge

    parts = split_touching(inks, sure_of_a_zero_whatever_the_part, strokes=analysed.strokes, judge=judge_saying(-12.0))
    assert len(parts) == 3
    assert abs(parts[0].box()[2] - 105 * scale) < 10 * scale  # cut through the joining stroke
    assert parts[2] is inks[1]
    kept = split_touching(inks, sure_of_a_zero_whatever_the_part, strokes=analysed.strokes, judge=judge_saying(3.0))
    assert kept == inks


def test_a_loose_bar_goes_with_the_digit_it_tops_when_that_digit_touches_its_neighbour():
    """A 5 whose body touches the digit before it, its bar apart: the bar is read with the body's half of the
    stroke, not as a digit of its own (nor left out)."""
    beyond_the_second_ring = ((262, 30), (320, 26))
    analysed = rings((60, 40, 160, 160), (155, 40, 255, 160), line=380, bars=[beyond_the_second_ring], size=(420, 200))
    inks = find_digits(analysed)
    assert len(inks) == 3  # the rings (one stroke), the bar, the 1
    scale = analysed.shape[1] / 420
    ring = 100 * scale

    def read(parts):
        """Sure of a ring alone, and of the second ring with the bar (a 5); unsure of anything else."""
        probabilities = np.full((len(parts), 10), 0.02)
        for n, part in enumerate(parts):
            left, top, right, _ = part.box()
            ring_alone = abs((right - left) - ring) < 0.15 * ring and top > 30 * scale
            five = abs(left - 155 * scale) < 0.06 * 420 * scale and right > 310 * scale and top < 30 * scale
            probabilities[n, 5 if five else 0] = 0.98 if ring_alone or five else 0.05
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    parts = split_touching(inks, read, strokes=analysed.strokes)
    assert len(parts) == 3
    assert parts[1].box()[1] < 30 * scale and parts[1].box()[2] > 310 * scale  # the second ring with its bar
    assert parts[2] is inks[2]


def test_the_whole_digit_odds_choose_between_rows_the_network_reads_alike():
    """Every span read as a "0" at 99%: the row whose spans the judge calls whole digits wins."""
    analysed = rings((60, 40, 160, 160), (155, 40, 255, 160), line=320)
    inks = find_digits(analysed)
    ring = (inks[0].box()[2] - inks[0].box()[0]) / 2
    one_wide_digit = judge_saying(+5.0, ring, ring_odds=-5.0)
    kept = split_touching(inks, sure_of_a_zero_whatever_the_part, strokes=analysed.strokes, judge=one_wide_digit)
    assert kept == inks
    parts = split_touching(
        inks, sure_of_a_zero_whatever_the_part, strokes=analysed.strokes, judge=judge_saying(-8.0, ring)
    )
    assert len(parts) == 3 and parts[2] is inks[1]


def test_seams_cross_one_stroke_where_rings_meet_and_two_through_a_ring():
    analysed = rings((60, 40, 160, 160), (155, 40, 255, 160))
    strokes = analysed.strokes
    height = find_digits(analysed)[0].box()[3] - find_digits(analysed)[0].box()[1]
    seams, crossed = seams_of(strokes, height)
    assert crossed[0] == crossed[-1] == 0.0  # the two ends
    scale = analysed.shape[1] / 400
    meeting = min(range(1, len(seams) - 1), key=lambda n: abs(seams[n].mean() - 158 * scale))
    assert crossed[meeting] <= 1.3
    through_a_ring = [c for seam, c in zip(seams, crossed, strict=True) if abs(seam.mean() - 110 * scale) < 5 * scale]
    # (Through a ring's top and bottom: two strokes, each a little thinner across than the pen's
    # width measured over the whole outline.)
    assert through_a_ring and all(c > crossed[meeting] + 0.1 for c in through_a_ring)
    assert 9 * scale <= stroke_width(strokes) <= 14 * scale  # drawn 10 wide; the stroke mask takes its soft edges


def test_the_least_ink_path_goes_through_the_gap():
    strokes = np.zeros((30, 20), dtype=bool)
    strokes[:, :8] = True
    strokes[:, 11:] = True
    strokes[10:14, 8:11] = True  # a bridge: the path must cross it, nothing else
    path = least_ink_paths(strokes, [slice(0, 20)], [3])[0]
    assert strokes[np.arange(30), path].sum() == 4  # the bridge's rows, where any column is inked
    outside = np.r_[0:10, 14:30]
    assert ((8 <= path[outside]) & (path[outside] <= 10)).all()


def test_least_ink_paths_found_together_are_the_paths_found_one_window_at_a_time():
    """seams_of finds every seam of a stroke in one pass down the rows: each path is the one found
    in its window alone, windows cut short at the stroke's ends included (ties broken alike)."""
    rng = np.random.default_rng(5)
    strokes = rng.random((40, 60)) < 0.3
    windows = [slice(0, 9), slice(4, 21), slice(20, 37), slice(50, 60)]
    starts = [2, 8, 8, 3]
    together = least_ink_paths(strokes, windows, starts)
    assert together.shape == (4, 40)
    for path, window, start in zip(together, windows, starts, strict=True):
        np.testing.assert_array_equal(
            path, least_ink_paths(strokes[:, window], [slice(0, window.stop - window.start)], [start])[0]
        )
    assert least_ink_paths(strokes, [], []).shape == (0, 40)


def test_the_best_row_of_spans_wins_and_a_lone_stroke_needs_a_margin():
    """Two digit-wide spans meeting at a one-stroke seam beat the pair read whole, unless by less than the margin."""
    whole = Span(0, 2, None, height=1.0, width=1.4)
    left, right = Span(0, 1, None, height=1.0, width=0.7), Span(1, 2, None, height=1.0, width=0.7)
    sure = np.full((3, 10), 0.001)
    sure[:, 3] = 0.991
    cuts = [0.0, 1.0, 0.0]  # the ends, and a seam crossing one stroke
    row = best_row(cuts, [whole, left, right], sure)
    assert row == [left, right]
    # The seam's cost comes with the span after it.
    gain = span_score(left, sure[0], 0.0) + span_score(right, sure[0], 1.0) - span_score(whole, sure[0], 0.0)
    assert gain > 0
    assert best_row(cuts, [whole, left, right], sure, margin=gain + 0.1) == [whole]
    assert best_row(cuts, [whole, left, right], sure, margin=gain - 0.1) == [left, right]
    # Spans the whole-digit network calls parts lose to the whole it calls one digit.
    assert best_row(cuts, [whole, left, right], sure, odds=[5.0, -5.0, -5.0]) == [whole]


def test_a_digit_of_ordinary_width_is_not_cut():
    ink = Ink(np.pad(np.ones((40, 24), dtype=bool), 10))
    assert split_touching([ink], lambda parts: pytest.fail("no need to ask the network")) == [ink]


# --------------------------------------------------------------------------- predict, check, json


def run(args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def number_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("numbers") / "sum.png"
    Image.fromarray(number_picture((3, 0, 7), gap=30)).save(path)
    return path


def test_predict_json_has_the_number_and_each_digit(number_file, trained_model_path):
    result = run(["predict", number_file, "--json", "--model", trained_model_path])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert len(row["number"]) == 3 and row["number"] == "".join(str(d["digit"]) for d in row["digits"])
    assert row["digit"] is None and row["probabilities"] is None
    assert row["confidence"] == pytest.approx(min(d["confidence"] for d in row["digits"]))
    width, height = Image.open(number_file).size
    lefts = [d["box"][0] for d in row["digits"]]
    assert lefts == sorted(lefts)
    for digit in row["digits"]:
        assert set(digit) == {"digit", "confidence", "probabilities", "box"}
        left, top, right, bottom = digit["box"]
        assert 0 <= left < right <= width and 0 <= top < bottom <= height
        assert sum(digit["probabilities"]) == pytest.approx(1, abs=10 * JSON_ROUNDING)
        assert digit["confidence"] == pytest.approx(max(digit["probabilities"]))


def test_predict_line_for_a_number(number_file, trained_model_path):
    result = run(["predict", number_file, "--model", trained_model_path])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(
        rf"{re.escape(str(number_file))}: \d{{3}}  \(\d \d+%, \d \d+%, \d \d+%\)"
        r"(  \[unsure: digit [\d, ]+ below 50%\])?",
        result.stdout.strip(),
    )


def test_single_reads_the_whole_picture_as_one_digit(number_file, trained_model_path):
    result = run(["predict", number_file, "--single", "--json", "--model", trained_model_path])
    (row,) = json.loads(result.stdout)
    assert len(row["number"]) == 1 and row["digit"] == int(row["number"]) and len(row["digits"]) == 1


def test_save_preprocessed_writes_one_image_per_digit(number_file, trained_model_path, tmp_path):
    result = run(["predict", number_file, "--save-preprocessed", tmp_path, "--model", trained_model_path])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sum-1.png", "sum-2.png", "sum-3.png"]
    assert all(Image.open(p).size == (28, 28) for p in tmp_path.iterdir())


def test_check_image_of_a_number_draws_boxes_and_probabilities(number_file, trained_model_path, tmp_path):
    from digitnet import plots
    from digitnet.pictures import load_image

    figure = tmp_path / "number.png"
    result = run(["check", "--image", number_file, "--plot", figure, "--model", trained_model_path])
    assert result.exit_code == 0, result.output
    assert re.match(rf"{re.escape(str(number_file))}: predicted \d{{3}}  \(", result.stdout)
    assert Image.open(figure).size[0] > 300
    boxes = [((10, 20, 50, 90), 3, (0.9,) + (0.1 / 9,) * 9), ((60, 20, 100, 90), 7, (0.0,) * 7 + (1.0, 0.0, 0.0))]
    fig = plots.number_figure(load_image(number_file), boxes)
    picture_ax, *bar_axes = fig.axes
    assert len(picture_ax.patches) == 2 and [t.get_text() for t in picture_ax.texts] == ["3", "7"]
    assert len(bar_axes) == 2 and all(len(ax.patches) == 10 for ax in bar_axes)
