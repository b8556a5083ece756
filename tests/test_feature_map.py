import numpy as np
import pytest

from carsr_gui import feature_map
from carsr_gui.feature_map import FeatureMap


def test_pooled_grid_is_the_block_mean_when_the_code_is_large(monkeypatch):
    monkeypatch.setattr(feature_map, "MAX_CELLS", 40)
    code = np.random.default_rng(0).random((21, 18, 5)).astype(np.float32)
    fm = FeatureMap(21, 18, 5)
    assert fm.stride == 4
    # Added in uneven pieces, as tiles are.
    for y0, y1, x0, x1 in [(0, 8, 0, 12), (0, 8, 12, 18), (8, 21, 0, 18)]:
        fm.add(code[y0:y1, x0:x1], y0, x0)
    for gy in range(fm.grid.shape[0]):
        for gx in range(fm.grid.shape[1]):
            block = code[gy * 4 : gy * 4 + 4, gx * 4 : gx * 4 + 4]
            np.testing.assert_allclose(fm.grid[gy, gx], block.mean((0, 1)), rtol=1e-5)
    s = fm.stats
    np.testing.assert_allclose(s.mean, code.mean((0, 1)), rtol=1e-5)
    np.testing.assert_allclose(s.std, code.std((0, 1)), rtol=1e-4)
    np.testing.assert_array_equal(s.max, code.max((0, 1)))
    np.testing.assert_array_equal(s.min, code.min((0, 1)))


@pytest.mark.parametrize("mode", ["mean", "pca", "channel"])
def test_render_gives_rgb(mode):
    fm = FeatureMap(10, 12, 8)
    fm.add(np.random.default_rng(1).random((10, 12, 8)).astype(np.float32), 0, 0)
    img = feature_map.render(fm, mode, channel=3)
    assert img.shape == (10, 12, 3) and img.dtype == np.uint8
    assert img.std() > 0


def test_principal_components_order_by_variance():
    rng = np.random.default_rng(2)
    strong = rng.normal(0, 10, (16, 16, 1))
    code = np.concatenate([strong, rng.normal(0, 0.1, (16, 16, 3))], axis=2).astype(np.float32)
    fm = FeatureMap(16, 16, 4)
    fm.add(code, 0, 0)
    pcs = fm.principal_components(3)
    assert abs(np.corrcoef(pcs[..., 0].ravel(), strong.ravel())[0, 1]) > 0.99


def test_unknown_view_is_refused():
    with pytest.raises(ValueError):
        feature_map.render(FeatureMap(2, 2, 2), "max")
