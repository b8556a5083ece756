"""Cutting an image into overlapping tiles and stitching the results (pure NumPy).

Every tile sees ``margin`` pixels of context on each side of the region it writes (its core)
inside the image; at the image's borders it sees what a pass of the network over the whole image
sees there, the convolutions' own zero padding, so the margins add no pixels at the borders. The
image is only mirrored by up to 3 pixels at its far ends, to a multiple of 4. Tile windows start
on multiples of 4, the grid of the network's two 2x2 max-pools, so a tile computes exactly what a
whole-image pass computes wherever the margin covers the network's receptive field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The network's grid: its two 2x2 max-pools make the code 1/4 of the input's size, so inputs
#: are multiples of 4 and tiles start on multiples of 4. The one definition, for every module.
GRID = 4
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
    if margin % GRID or tile % GRID:
        raise ValueError(f"tile ({tile}) and margin ({margin}) must be multiples of {GRID}")
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


def _axis(length: int, tile: int, margin: int) -> tuple[int, list[tuple[int, int, int]]]:
    """Window size and ``(window start, core start, core end)`` along one axis.

    The fewest windows of at most ``tile`` that cover ``length`` (rounded up to 4), shrunk to
    share it evenly: a 2048-pixel side takes two 1048-pixel windows. The first window starts at
    0 and the last ends at the rounded length, so neither reaches outside the image.
    """
    padded = _round_up(length, GRID)
    count = max(1, -(-(padded - 2 * margin) // (tile - 2 * margin)))
    size = min(tile, _round_up(-(-(padded + 2 * margin * (count - 1)) // count), GRID))
    spans = []
    start = window = 0
    while start < length:
        if spans:
            window = min(start - margin, padded - size)
        end = length if window + size >= padded else window + size - margin
        spans.append((window, start, end))
        start = end
    return size, spans


def plan(
    height: int, width: int, tile: int = DEFAULT_TILE, margin: int = DEFAULT_MARGIN
) -> list[Tile]:
    """Tiles covering a ``height`` x ``width`` image. All have one shape: at most ``tile``
    square, as small as covers the image evenly along each axis (a multiple of 4)."""
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
    return max(_round_up(max(height, width), GRID), smallest_tile(margin))
