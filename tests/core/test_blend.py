"""Blend modes against pixels computed by hand from the W3C compositing formulas."""

import numpy as np
import pytest

from editor.core.blend import BLEND_MODES, blend_rgb, composite_over
from editor.core.document import Document, Layer


def px(*rgb):
    return np.array([[rgb]], dtype=np.float32)


@pytest.mark.parametrize("mode, b, s, expected", [
    ("normal", (0.2, 0.4, 0.6), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ("multiply", (0.2, 0.4, 0.6), (0.5, 0.5, 0.5), (0.1, 0.2, 0.3)),
    ("screen", (0.2, 0.4, 0.6), (0.5, 0.5, 0.5), (0.6, 0.7, 0.8)),
    # overlay = hard light with operands swapped: b<=.5 -> 2bs, else screen(s, 2b-1)
    ("overlay", (0.2, 0.8, 0.5), (0.5, 0.5, 0.25), (0.2, 0.8, 0.25)),
    ("overlay", (0.25, 0.75, 0.75), (0.4, 0.4, 1.0), (0.2, 1 - 2 * 0.25 * 0.6, 1.0)),
    # soft light, s<=.5: b - (1-2s) b (1-b); s>.5 with b>.25: b + (2s-1)(sqrt(b) - b)
    ("soft_light", (0.5, 0.36, 0.81), (0.25, 0.75, 1.0),
     (0.5 - 0.5 * 0.5 * 0.5, 0.36 + 0.5 * (0.6 - 0.36), 0.81 + 1.0 * (0.9 - 0.81))),
    ("darken", (0.2, 0.8, 0.5), (0.5, 0.5, 0.5), (0.2, 0.5, 0.5)),
    ("lighten", (0.2, 0.8, 0.5), (0.5, 0.5, 0.5), (0.5, 0.8, 0.5)),
    ("difference", (0.2, 0.8, 0.5), (0.5, 0.5, 0.5), (0.3, 0.3, 0.0)),
])
def test_blend_formulas(mode, b, s, expected):
    out = blend_rgb(px(*b), px(*s), mode)
    np.testing.assert_allclose(out[0, 0], expected, atol=1e-6)


def test_luminosity_takes_source_lightness_keeps_backdrop_hue():
    # Grey source of luminosity 0.5 over a mid red: Lum(b)=0.3*0.6=0.18; add 0.32 to all.
    out = blend_rgb(px(0.6, 0.0, 0.0), px(0.5, 0.5, 0.5), "luminosity")[0, 0]
    np.testing.assert_allclose(out, (0.92, 0.32, 0.32), atol=1e-6)
    lum = out @ np.array([0.3, 0.59, 0.11])
    assert lum == pytest.approx(0.5, abs=1e-6)


def test_every_mode_keeps_range_and_shape():
    rng = np.random.default_rng(0)
    b, s = rng.random((8, 9, 3), dtype=np.float32), rng.random((8, 9, 3), dtype=np.float32)
    for mode in BLEND_MODES:
        out = blend_rgb(b, s, mode)
        assert out.shape == b.shape and out.dtype == np.float32
        assert out.min() >= -1e-6 and out.max() <= 1 + 1e-6, mode


def test_unknown_mode_is_refused_by_name():
    with pytest.raises(ValueError, match="bogus"):
        blend_rgb(px(0, 0, 0), px(1, 1, 1), "bogus")


def test_half_opacity_normal_layer_is_an_average():
    doc = Document.from_image(np.full((2, 2, 3), 0.2, np.float32))
    top = Layer(np.full((2, 2, 3), 0.8, np.float32), "top", opacity=0.5)
    doc.insert_layer(top, 1)
    np.testing.assert_allclose(doc.composite()[..., :3], 0.5, atol=1e-6)
    np.testing.assert_allclose(doc.composite()[..., 3], 1.0)


def test_multiply_layer_with_mask_only_changes_masked_half():
    doc = Document.from_image(np.full((2, 2, 3), 0.5, np.float32))
    mask = np.array([[1, 0], [1, 0]], np.float32)
    doc.insert_layer(Layer(np.full((2, 2, 3), 0.5, np.float32), "mul", blend_mode="multiply",
                           mask=mask), 1)
    out = doc.composite()
    np.testing.assert_allclose(out[:, 0, :3], 0.25, atol=1e-6)
    np.testing.assert_allclose(out[:, 1, :3], 0.5, atol=1e-6)


def test_blend_over_transparent_backdrop_shows_source_colour():
    dst = np.zeros((1, 1, 4), np.float32)
    src = np.array([[[0.3, 0.6, 0.9, 1.0]]], np.float32)
    out = composite_over(dst, src, np.array([[0.5]], np.float32), "multiply")
    np.testing.assert_allclose(out[0, 0], (0.3, 0.6, 0.9, 0.5), atol=1e-6)


def test_hidden_layer_does_not_show():
    doc = Document.from_image(np.zeros((2, 2, 3), np.float32))
    doc.insert_layer(Layer(np.ones((2, 2, 3), np.float32), "white", visible=False), 1)
    assert doc.composite()[..., :3].max() == 0.0
