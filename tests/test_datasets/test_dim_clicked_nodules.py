"""DimClickedNodules: clicked nodules keep a fraction of their contrast,
the rest of the frame and the labels stay."""
import numpy as np
import pytest
from mmpose.registry import TRANSFORMS

import mmpose_carcinosis  # noqa: F401


def frame():
    """60x100 grey 50, two discs of 250 (radius 4) at (20, 20) and (70, 30)."""
    img = np.full((60, 100, 3), 50, np.uint8)
    yy, xx = np.mgrid[:60, :100]
    for x, y in ((20, 20), (70, 30)):
        img[np.hypot(xx - x, yy - y) <= 4] = 250
    return img


def results(img, pts):
    pts = np.asarray(pts, np.float32).reshape(-1, 1, 2)
    return dict(img=img, keypoints=pts, keypoints_visible=np.ones(pts.shape[:2], np.float32))


def test_a_clicked_nodule_keeps_its_fraction_of_contrast():
    t = TRANSFORMS.build(dict(type='DimClickedNodules', radius=4, prob=1.0,
                              factor=(0.25, 0.25)))
    img = frame()
    r = t(results(img.copy(), [[20, 20]]))
    out = r['img']
    # the ring (8 to 12 px away) is background 50: the centre 50 + 0.25 * 200
    assert out.dtype == np.uint8 and (out[20, 20] == 100).all()
    # the disc edge at 4 px is still inside radius: the same value
    assert (out[20, 24] == 100).all()
    # the unclicked nodule, the background and the labels are untouched
    assert (out[30, 70] == 250).all() and (out[45, 20] == 50).all()
    changed = np.nonzero((out != img).any(2))
    assert np.hypot(changed[1] - 20, changed[0] - 20).max() <= 8  # within 2 radii
    np.testing.assert_array_equal(r['keypoints'], [[[20, 20]]])


def test_the_fade_between_one_and_two_radii():
    # a bright plateau of radius 12 around (50, 30) on 0: at 6 px
    # (1.5 radii of 4) half the dimming: 200 -> 200 - 0.5 * 0.5 * 200 = 150
    img = np.zeros((60, 100), np.float32)
    yy, xx = np.mgrid[:60, :100]
    img[np.hypot(xx - 50, yy - 30) < 8] = 200.0
    t = TRANSFORMS.build(dict(type='DimClickedNodules', radius=4, prob=1.0,
                              factor=(0.5, 0.5)))
    out = t.dim(img, np.array([[50.0, 30.0]]), np.array([0.5]))
    # the ring 8 to 12 px is 0: bg 0
    assert out[30, 50] == pytest.approx(100.0)
    assert out[30, 56] == pytest.approx(150.0)
    assert out[30, 58] == pytest.approx(0.0)  # outside the plateau


def test_probability_and_invisible_points():
    img = frame()
    never = TRANSFORMS.build(dict(type='DimClickedNodules', radius=4, prob=0.0))
    assert (never(results(img.copy(), [[20, 20]]))['img'] == img).all()
    always = TRANSFORMS.build(dict(type='DimClickedNodules', radius=4, prob=1.0))
    r = results(img.copy(), [[20, 20]])
    r['keypoints_visible'][:] = 0
    assert (always(r)['img'] == img).all()
    np.random.seed(0)
    # about half of 400 clicks dimmed at prob 0.5
    half = TRANSFORMS.build(dict(type='DimClickedNodules', radius=4, prob=0.5))
    dimmed = sum((half(results(img.copy(), [[20, 20]]))['img'][20, 20] < 250).all()
                 for _ in range(400))
    assert 160 < dimmed < 240
    # a nodule at the frame's corner: its ring is partly outside, still fine
    corner = always(results(img.copy(), [[0, 0]]))['img']
    assert corner.shape == img.shape
    with pytest.raises(ValueError, match='factor'):
        TRANSFORMS.build(dict(type='DimClickedNodules', radius=4, factor=(0.6, 0.2)))
    with pytest.raises(ValueError, match='radius'):
        TRANSFORMS.build(dict(type='DimClickedNodules', radius=0))
