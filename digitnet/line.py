"""The line of writing: which strokes on the page are digits, and which make one digit, left to right.

The page's connected strokes (``page.analyse_page``) are sorted out: specks of dirt,
ruled lines and the paper's edge are dropped, a digit written fainter or thinner than
its neighbours is found where the strokes are followed down to the noise floor, and
pieces of one digit (the bar of a 5, a broken stroke) are joined by the columns they
share.  What is left, read left to right, are the digits.  Pieces the shapes cannot
place are joined by the network's reading (``pieces.joined_pieces``); digits whose
strokes touch are cut afterwards (``touching.split_touching``).
"""

from __future__ import annotations

from .page import (
    Blob,
    Ink,
    Page,
    blobs_of,
    labelled_parts_holding,
    one_digit_ink,
    parts_holding,
    ruled_lines,
    sizeable,
    without_ruled_lines,
)

# Ink along at least this fraction of one side of the picture is the paper's edge (a table
# or the floor photographed beyond the sheet), not a digit.
EDGE_FRACTION = 0.5
# Two pieces are one digit when the narrower lies this much within the other's columns and they
# share this much of the wider's (neighbours in a number, slanted, overlap only at their edges),
SAME_COLUMNS = 0.5
WIDER_COLUMNS = 0.3
# or they are stacked (overlapping by at most this fraction of the shorter's height),
# or the smaller is this short beside the line of digits (a bar, a dot, a broken-off end).
STACKED_OVERLAP = 0.35
PIECE_HEIGHT = 0.5
# A short piece with no columns in common joins a digit at most this far away (× line height).
PIECE_GAP = 0.03
# A digit's mask reaches this fraction of the line's height beyond its strokes (faint edges).
MARGIN = 0.06
# Followed down to the noise floor, a stroke longer than this × the line's height is no part
# of a digit (a faint ruled line, a fold in the paper); two close digits reach about 2.
WHOLE_EXTENT = 2.5


def find_digits(page: Page) -> list[Ink]:
    """The digits on the page, left to right, each as its own strokes (touching ones not yet split).

    One digit found is given as ``one_digit_ink`` finds it, so a picture of one digit
    is read exactly as a single-digit picture always was.
    """
    import numpy as np

    binary = without_ruled_lines(page.strokes)
    # Not joined across gaps first (as one digit's grid is): digits written close together
    # would merge, and a stroke broken in two is put together again by _pieces_joined.
    labels, blobs = blobs_of(binary)
    if not blobs:
        return [one_digit_ink(page.strokes)]
    strokes, dropped = _digit_strokes(labels, blobs)
    groups = _pieces_joined(strokes)
    if len(groups) == 1:
        return [one_digit_ink(page.strokes)]
    # Beside two digits or more (never beside one: a picture of one digit reads as it always
    # has), a fainter digit may be written that at their level is only specks.
    # Hysteresis: the strokes followed down to the noise floor.
    followed_down = parts_holding(page.above_noise, page.strokes)
    whole = _whole_parts(followed_down, labels, dropped, max(blob.height for blob in strokes))
    found = np.isin(labels, [blob.label for blob in strokes])
    faint = (whole > 0) & ~labelled_parts_holding(whole, found)
    if faint.any():
        labels, blobs = blobs_of(found | faint)
        strokes, _ = _digit_strokes(labels, blobs)
        groups = _pieces_joined(strokes)
    digit_of = np.zeros(labels.shape, dtype=np.int32)
    for number, group in enumerate(groups, start=1):
        digit_of[np.isin(labels, [blob.label for blob in group])] = number
    attached = labelled_parts_holding(whole, digit_of > 0)
    masks, owners = _surroundings(digit_of, len(groups), MARGIN * max(blob.height for blob in strokes), attached)
    return [Ink(mask, strokes=owner, level=_pen_level(page, owner)) for mask, owner in zip(masks, owners, strict=True)]


def _pen_level(page: Page, strokes) -> float:
    """How strong this digit's ink is, as the page's is measured: digits of one number may be
    written with different pens, and a fainter one is made as bright as MNIST's like the rest."""
    import numpy as np

    return min(page.ink_level, float(np.percentile(page.signal[strokes], 90)))


def _digit_strokes(labels, blobs):
    """The blobs that are strokes of digits on the line of writing, and the labels dropped as
    ruled lines or the paper's edge."""
    dropped = ruled_lines(blobs, labels.shape) | _page_edges(labels, blobs)
    candidates = [blob for blob in blobs if blob.label not in dropped] or blobs
    main = max(candidates, key=lambda blob: blob.size)
    strokes = [blob for blob in candidates if blob is main or blob.size >= 0.5 * main.size or sizeable(blob, main)]
    return _on_the_line(strokes, main), dropped


def _whole_parts(whole, labels, dropped, line_height: int):
    """The strokes followed down to the noise floor, numbered part by part (0: none), each part no
    bigger than a digit or two.

    There a digit written with a fainter or thinner pen than its neighbours is whole, where
    at their level it breaks into specks, and the faint ends of every digit's strokes are
    joined to them.  Ruled lines, the paper's edge and anything longer (a faint line that
    runs through several digits) are left out.
    """
    import numpy as np

    parts, blobs = blobs_of(without_ruled_lines(whole))
    left_out = labelled_parts_holding(parts, np.isin(labels, list(dropped)))
    left_out |= np.isin(parts, [blob.label for blob in blobs if blob.extent() > WHOLE_EXTENT * line_height])
    parts[left_out] = 0
    return parts


def _surroundings(digit_of, count: int, reach: float, attached):
    """Each digit's mask and strokes: pixels within ``reach`` of its strokes, or ``attached`` to them
    (the strokes followed down to the noise floor), each pixel going to the nearest digit.

    The mask only says whose ink a pixel is (the ink itself is measured on the full
    picture), so it may be generous: faint edges of a stroke stay with their digit,
    and a neighbour's strokes never come with it.
    """
    from scipy import ndimage

    distance, (rows, cols) = ndimage.distance_transform_edt(digit_of == 0, return_indices=True)
    nearest = digit_of[rows, cols]
    near = (distance <= reach) | attached
    strokes = (digit_of > 0) | attached
    masks = [near & (nearest == number) for number in range(1, count + 1)]
    return masks, [strokes & (nearest == number) for number in range(1, count + 1)]


def _page_edges(labels, blobs) -> set:
    """Labels of blobs lying along a side of the picture: the sheet's edge, a table beyond it."""
    import numpy as np

    edges = set()
    for side in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        counts = np.bincount(side, minlength=1)
        counts[0] = 0
        edges.update(int(label) for label in np.nonzero(counts >= EDGE_FRACTION * len(side))[0])
    return edges if len(edges) < len(blobs) else set()


def _on_the_line(strokes, main: Blob):
    """The strokes that share rows with the line of writing (the main stroke's band)."""
    margin = 0.5 * main.height
    return [
        blob
        for blob in strokes
        if blob.rows.stop > main.rows.start - margin and blob.rows.start < main.rows.stop + margin
    ]


def _pieces_joined(strokes) -> list[list[Blob]]:
    """Group strokes into digits, left to right.

    Taken tallest first: a stroke nearly as tall as the line is a digit of its own
    unless it belongs with one already found (``_one_digit``: the halves of a broken 8,
    the loop of a 9 beside its stem); a shorter piece (the bar of a 5, a broken-off end)
    joins the digit whose columns it shares most, or the nearest one within PIECE_GAP
    of the line's height, or stands alone.
    """
    line_height = max(blob.height for blob in strokes)
    groups = []
    for blob in sorted(strokes, key=lambda b: b.height, reverse=True):
        shared = [max(_shared_columns(blob, other) for other in group) for group in groups]
        best = max(range(len(groups)), key=shared.__getitem__, default=None)
        short = blob.height < PIECE_HEIGHT * line_height
        if best is not None and short and shared[best] > -PIECE_GAP * line_height:
            groups[best].append(blob)
        elif best is not None and any(_one_digit(blob, other) for other in groups[best]):
            groups[best].append(blob)
        else:
            groups.append([blob])
    return sorted(groups, key=lambda group: min(blob.cols.start for blob in group))


def _shared_columns(piece: Blob, other: Blob) -> int:
    """How many columns the two share (negative: the gap between them)."""
    return min(piece.cols.stop, other.cols.stop) - max(piece.cols.start, other.cols.start)


def _one_digit(piece: Blob, other: Blob) -> bool:
    """Two pieces of one digit: largely in the same columns (a 9's loop beside its stem, an 8
    in two pieces), or one above the other (digits of a number share most rows) with any
    columns in common (a slanted "1" broken in the middle)."""
    shared_rows = min(piece.rows.stop, other.rows.stop) - max(piece.rows.start, other.rows.start)
    shared_columns = _shared_columns(piece, other)
    narrower, wider = sorted((piece.width, other.width))
    if shared_columns >= SAME_COLUMNS * narrower and shared_columns >= WIDER_COLUMNS * wider:
        return True
    return shared_columns > 0 and shared_rows <= STACKED_OVERLAP * min(piece.height, other.height)
