"""The encoder's 256-channel code, kept compact for display (pure NumPy).

The full code of a large photo does not fit in memory (about 6 GB in float32 for a 12000x8000
output), so tiles add their code into a grid pooled by an integer stride, small enough to show,
and into exact per-channel statistics. The engine pools each tile's code inside its graph and
hands over only the pooled sums (:meth:`FeatureMap.add_pooled`); :meth:`FeatureMap.add` does
the same from a full code array.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Most cells the pooled grid may have (at 256 channels in float32: 128 MB).
MAX_CELLS = 1 << 17


@dataclass
class ChannelStats:
    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray


def stride_for(height: int, width: int) -> int:
    """The pooling stride (a power of 2) that keeps a ``height`` x ``width`` code to at most
    ``MAX_CELLS`` cells."""
    stride = 1
    while -(-height // stride) * -(-width // stride) > MAX_CELLS:
        stride *= 2
    return stride


def pool(code: np.ndarray, y: int, x: int, stride: int) -> np.ndarray:
    """Sums of ``code`` (h x w x channels, its top-left at ``(y, x)`` of the whole code) over the
    cells of the ``stride`` grid it touches. The engine computes the same inside its graph."""
    lead_y, lead_x = y % stride, x % stride
    h, w, c = code.shape
    padded = np.pad(
        code,
        ((lead_y, -(lead_y + h) % stride), (lead_x, -(lead_x + w) % stride), (0, 0)),
    )
    gh, gw = padded.shape[0] // stride, padded.shape[1] // stride
    return padded.reshape(gh, stride, gw, stride, c).sum((1, 3), dtype=np.float32)


def _cell_counts(start: int, length: int, stride: int) -> np.ndarray:
    """How many of the positions ``[start, start + length)`` fall in each stride cell they touch."""
    edges = np.arange(start // stride, -(-(start + length) // stride) + 1) * stride
    return np.diff(np.clip(edges, start, start + length))


class FeatureMap:
    """Accumulates the code of ``height`` x ``width`` positions (1/4 of the output size)."""

    def __init__(self, height: int, width: int, channels: int) -> None:
        self.height, self.width, self.channels = height, width, channels
        self.stride = stride_for(height, width)
        gh, gw = -(-height // self.stride), -(-width // self.stride)
        self._sum = np.zeros((gh, gw, channels), np.float32)
        self._count = np.zeros((gh, gw, 1), np.float32)
        self._s1 = np.zeros(channels, np.float64)
        self._s2 = np.zeros(channels, np.float64)
        self._min = np.full(channels, np.inf, np.float32)
        self._max = np.full(channels, -np.inf, np.float32)

    def add(self, code: np.ndarray, y: int, x: int) -> None:
        """Add the code of the region whose top-left position is ``(y, x)``."""
        flat = code.reshape(-1, self.channels)
        self.add_pooled(
            pool(code, y, x, self.stride),
            y,
            x,
            code.shape[:2],
            np.square(flat, dtype=np.float64).sum(0),
            flat.min(0),
            flat.max(0),
        )

    def add_pooled(
        self,
        sums: np.ndarray,
        y: int,
        x: int,
        shape: tuple[int, int],
        squares: np.ndarray,
        minimum: np.ndarray,
        maximum: np.ndarray,
    ) -> None:
        """Add a region of ``shape`` at ``(y, x)`` given as :func:`pool` sums and its per-channel
        sums of squares, minimum and maximum."""
        self._s1 += sums.sum((0, 1), dtype=np.float64)
        self._s2 += squares
        np.minimum(self._min, minimum, out=self._min)
        np.maximum(self._max, maximum, out=self._max)
        s = self.stride
        counts = np.outer(_cell_counts(y, shape[0], s), _cell_counts(x, shape[1], s))
        gy, gx = y // s, x // s
        self._sum[gy : gy + sums.shape[0], gx : gx + sums.shape[1]] += sums
        self._count[gy : gy + sums.shape[0], gx : gx + sums.shape[1]] += counts[..., None]

    @property
    def grid(self) -> np.ndarray:
        """The pooled code, (H/stride) x (W/stride) x channels, float32."""
        return self._sum / np.maximum(self._count, 1)

    @property
    def stats(self) -> ChannelStats:
        n = max(self.height * self.width, 1)
        mean = self._s1 / n
        std = np.sqrt(np.maximum(self._s2 / n - mean**2, 0))
        return ChannelStats(mean, std, self._min, self._max)

    def mean_activation(self) -> np.ndarray:
        return self.grid.mean(axis=2)

    def channel(self, index: int) -> np.ndarray:
        return self.grid[..., index]

    def principal_components(self, k: int = 3) -> np.ndarray:
        """The first ``k`` principal components of the channels at each position, H x W x k."""
        g = self.grid.reshape(-1, self.channels).astype(np.float64)
        g -= g.mean(0)
        # Eigenvectors of the small channels x channels covariance: cheap for any grid size.
        _, vecs = np.linalg.eigh(g.T @ g)
        comps = g @ vecs[:, ::-1][:, :k]
        return comps.reshape(self.grid.shape[0], self.grid.shape[1], k).astype(np.float32)


def normalise(a: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] by the 1st and 99th percentiles (per channel for H x W x C)."""
    axes = (0, 1)
    lo = np.percentile(a, 1, axis=axes, keepdims=a.ndim == 3)
    hi = np.percentile(a, 99, axis=axes, keepdims=a.ndim == 3)
    return np.clip((a - lo) / np.maximum(hi - lo, 1e-12), 0, 1)


def colormap(a: np.ndarray) -> np.ndarray:
    """A perceptually ordered colour map (viridis-like) of values in [0, 1], as uint8 RGB."""
    stops = np.array(
        [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], np.float64
    )
    pos = np.clip(a, 0, 1) * (len(stops) - 1)
    i = np.minimum(pos.astype(int), len(stops) - 2)
    f = (pos - i)[..., None]
    return np.rint(stops[i] * (1 - f) + stops[i + 1] * f).astype(np.uint8)


def render(fm: FeatureMap, mode: str = "mean", channel: int = 0) -> np.ndarray:
    """An RGB uint8 picture of the code: ``mean`` activation, ``pca`` (3 components) or ``channel``."""
    if mode == "mean":
        return colormap(normalise(fm.mean_activation()))
    if mode == "pca":
        return np.rint(normalise(fm.principal_components(3)) * 255).astype(np.uint8)
    if mode == "channel":
        return colormap(normalise(fm.channel(channel)))
    raise ValueError(f"unknown feature-map view {mode!r}")
