"""Cutting an image into overlapping tiles and stitching the results (pure NumPy).

Every tile sees ``margin`` pixels of context on each side of the region it writes (its core), and
context outside the image is the image mirrored at its border. Tile windows start on multiples
of 4 relative to the mirrored image, the grid of the network's two 2x2 max-pools, so a tile
computes exactly what a whole-image pass over the mirrored image computes wherever the margin
covers the network's receptive field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALIGN = 4
#: Tile and margin in output pixels, for the engine, the command line and the window alike: one
#: 1088-pixel tile takes a 1024-pixel core with its margins, and a 2048-pixel side two windows.
DEFAULT_TILE = 1088
DEFAULT_MARGIN = 24
#: The smallest core a tile may have: below it the margins are most of the work.
MIN_CORE = 32


def smallest_tile(margin: int) -> int:
    return 2 * margin + MIN_CORE


def check(tile: int, margin: int) -> None:
    """Refuse a tile or margin the tiling cannot use, with the reason."""
    if margin % ALIGN or tile % ALIGN:
        raise ValueError(f"tile ({tile}) and margin ({margin}) must be multiples of {ALIGN}")
    if tile < smallest_tile(margin):
        raise ValueError(
            f"tile ({tile}) must be at least {smallest_tile(margin)} "
            f"(twice the margin {margin} plus {MIN_CORE})"
        )


@dataclass(frozen=True)
class Tile:
    """A window ``[y, y + h) x [x, x + w)`` of the image (may reach outside it: mirrored) and
    the core ``[y0, y1) x [x0, x1)`` of the image that this tile's result is written to."""

    y: int
    x: int
    h: int
    w: int
    y0: int
    y1: int
    x0: int
    x1: int


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


#: Window sides are multiples of this: balanced tiles with few distinct shapes (XLA compiles
#: once per shape).
STEP = 16


def _axis(length: int, tile: int, margin: int) -> tuple[int, list[tuple[int, int, int]]]:
    """Window size and ``(window start, core start, core end)`` along one axis.

    The fewest windows of at most ``tile`` that cover ``length``, shrunk to share it evenly: a
    2048-pixel side takes two 1072-pixel windows, not three of 1024 that mostly overlap.
    """
    count = -(-length // (tile - 2 * margin))
    size = min(tile, _round_up(-(-length // count) + 2 * margin, STEP))
    size = min(size, _round_up(length + 2 * margin, ALIGN))
    core = size - 2 * margin
    spans = []
    start = 0
    while start < length:
        # The last window is pulled back inside the image (on the 4-pixel grid) rather than
        # reaching far past its end, so no tile is mostly mirror.
        c = min(start, max(0, (length - core) // ALIGN * ALIGN))
        # Up to 3 pixels past the last core may be written with a little less margin than asked.
        end = length if c + core >= length - (ALIGN - 1) else c + core
        spans.append((c - margin, start, end))
        start = end
    return size, spans


def plan(
    height: int, width: int, tile: int = DEFAULT_TILE, margin: int = DEFAULT_MARGIN
) -> list[Tile]:
    """Tiles covering a ``height`` x ``width`` image. All have one shape: ``tile`` square, or
    smaller (rounded to 4) along an axis where the image with its margins is smaller than that."""
    check(tile, margin)
    th, rows = _axis(height, tile, margin)
    tw, cols = _axis(width, tile, margin)
    return [Tile(ry, cx, th, tw, y0, y1, x0, x1) for ry, y0, y1 in rows for cx, x0, x1 in cols]


def mirror_index(idx: np.ndarray, n: int) -> np.ndarray:
    """Indices into an axis of length ``n`` with out-of-range ones mirrored (edge not repeated)."""
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    i = np.abs(idx) % period
    return np.where(i >= n, period - i, i)


def extract(img: np.ndarray, y: int, x: int, h: int, w: int) -> np.ndarray:
    """The ``h`` x ``w`` window of ``img`` at ``(y, x)``, mirrored where it leaves the image."""
    if y >= 0 and y + h <= img.shape[0] and x >= 0 and x + w <= img.shape[1]:
        return img[y : y + h, x : x + w]
    rows = mirror_index(np.arange(y, y + h), img.shape[0])
    cols = mirror_index(np.arange(x, x + w), img.shape[1])
    return img[rows[:, None], cols[None, :]]


def core_of(result: np.ndarray, t: Tile, factor: int = 1) -> np.ndarray:
    """The part of a tile's result (at ``1/factor`` of the tile's size) that lies in its core."""
    y0, x0 = (t.y0 - t.y) // factor, (t.x0 - t.x) // factor
    return result[
        y0 : y0 + _round_up(t.y1 - t.y0, factor) // factor,
        x0 : x0 + _round_up(t.x1 - t.x0, factor) // factor,
    ]


def whole_tile(height: int, width: int, margin: int) -> int:
    """The tile that covers a ``height`` x ``width`` image in one window (a whole-image pass)."""
    return _round_up(max(height, width, MIN_CORE) + 2 * margin, ALIGN)
