import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carsr_gui import tiling


@settings(max_examples=200, deadline=None)
@given(
    h=st.integers(1, 700),
    w=st.integers(1, 700),
    tile=st.sampled_from([96, 128, 256, 512]),
    margin=st.sampled_from([8, 16, 28, 32]),
)
def test_cores_cover_every_pixel_once_with_full_context(h, w, tile, margin):
    if tile < tiling.smallest_tile(margin):
        return
    tiles = tiling.plan(h, w, tile, margin)
    hits = np.zeros((h, w), np.int32)
    shapes = {(t.h, t.w) for t in tiles}
    assert len(shapes) == 1, "one tile shape: TensorFlow traces once"
    for t in tiles:
        hits[t.y0 : t.y1, t.x0 : t.x1] += 1
        # Windows start on the max-pool grid and stay inside the image rounded up to 4.
        assert t.y % 4 == 0 and t.x % 4 == 0 and t.y >= 0 and t.x >= 0
        assert t.h % 4 == 0 and t.w % 4 == 0 and t.h <= tile and t.w <= tile
        assert t.y + t.h <= -(-h // 4) * 4 and t.x + t.w <= -(-w // 4) * 4
        # Context around the core: the full margin, or the image's border, where a whole-image
        # pass has none either.
        assert t.y0 == t.y == 0 or t.y0 - t.y >= margin
        assert t.x0 == t.x == 0 or t.x0 - t.x >= margin
        assert (t.y1 == h and t.y + t.h == -(-h // 4) * 4) or t.y + t.h - t.y1 >= margin
        assert (t.x1 == w and t.x + t.w == -(-w // 4) * 4) or t.x + t.w - t.x1 >= margin
        assert (t.y0 % 4, t.x0 % 4) == (0, 0)
    assert (hits == 1).all()


def test_small_images_use_a_smaller_window_and_large_ones_the_tile():
    assert {(t.h, t.w) for t in tiling.plan(10, 30, 512, 28)} == {(12, 32)}
    tiles = tiling.plan(2000, 1500, 512, 28)
    # The fewest windows of at most 512 (5 x 4), shrunk to share the image evenly.
    assert {(t.h, t.w) for t in tiles} == {(448, 420)}
    assert len(tiles) == 5 * 4
    # A 2048-pixel side takes two windows of the default size, 4.8% more pixels than the image.
    assert {(t.h, t.w) for t in tiling.plan(2048, 2048, 1088, 24)} == {(1048, 1048)}


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_mirror_index_matches_numpy_reflect(n):
    a = np.arange(n)
    pad = 3 * n + 5
    expected = np.pad(a, pad, mode="reflect") if n > 1 else np.zeros(n + 2 * pad, int)
    got = a[tiling.mirror_index(np.arange(-pad, n + pad), n)]
    np.testing.assert_array_equal(got, expected)


def test_extract_equals_reflect_padding():
    img = np.random.default_rng(0).integers(0, 255, (9, 13, 3), dtype=np.uint8)
    padded = np.pad(img, ((8, 8), (8, 8), (0, 0)), mode="reflect")
    np.testing.assert_array_equal(tiling.extract(img, -8, -8, 25, 29), padded)
    np.testing.assert_array_equal(tiling.extract(img, 2, 3, 4, 5), img[2:6, 3:8])


def test_core_of_crops_result_and_code():
    t = tiling.Tile(y=-8, x=-8, h=32, w=32, y0=0, y1=13, x0=0, x1=16)
    result = np.arange(32 * 32).reshape(32, 32)
    np.testing.assert_array_equal(tiling.core_of(result, t), result[8:21, 8:24])
    assert tiling.core_of(result[::4, ::4], t, 4).shape == (4, 4)


@pytest.mark.parametrize(("tile", "margin"), [(100, 30), (64, 32), (66, 16), (84, 28)])
def test_bad_tile_settings_are_refused(tile, margin):
    with pytest.raises(ValueError):
        tiling.plan(100, 100, tile, margin)


def test_whole_tile_covers_the_image_in_one_window():
    for h, w in [(1, 1), (300, 460), (2048, 1000)]:
        tile = tiling.whole_tile(h, w, 24)
        assert len(tiling.plan(h, w, tile, 24)) == 1
