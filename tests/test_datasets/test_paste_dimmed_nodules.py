"""PasteDimmedNodules: dimmed, smaller, blurred copies of clicked nodules
pasted on the background as new labelled points."""
import numpy as np
import pytest
from mmpose.registry import TRANSFORMS

import mmpose_carcinosis  # noqa: F401


def frame(radius=4, dtype=np.uint8, centre=(20, 20)):
    """60x100 grey 50 with one disc of 250 of ``radius`` at ``centre``."""
    img = np.full((60, 100, 3), 50, dtype)
    yy, xx = np.mgrid[:60, :100]
    img[np.hypot(xx - centre[0], yy - centre[1]) <= radius] = 250
    return img


def results(img, pts, **extra):
    pts = np.asarray(pts, np.float32).reshape(-1, 1, 2)
    return dict(img=img, keypoints=pts, keypoints_visible=np.ones(pts.shape[:2], np.float32),
                **extra)


def build(**kw):
    cfg = dict(type='PasteDimmedNodules', radius=4, prob=1.0, factor=(0.25, 0.25),
               scale=(1.0, 1.0), blur=(0.0, 0.0))
    cfg.update(kw)
    return TRANSFORMS.build(cfg)


def test_a_copy_keeps_its_fraction_of_contrast_and_is_labelled():
    np.random.seed(0)
    img = frame()
    r = build()(results(img.copy(), [[20, 20]], category_id=np.ones(1, np.int64), id=[7],
                        group=['obvious']))
    out = r['img']
    assert r['keypoints'].shape == (2, 1, 2)
    np.testing.assert_array_equal(r['keypoints'][0], [[20, 20]])
    x, y = r['keypoints'][1, 0].astype(int)
    assert np.hypot(x - 20, y - 20) >= 16  # min_distance 4 radii
    # the source disc's 200 above its ring's 50, a quarter of it: 50 + 50
    assert out.dtype == np.uint8 and (out[y, x] == 100).all()
    # exactly the disc of radius 4 around the new point changed, to 100
    yy, xx = np.mgrid[:60, :100]
    changed = (out != img).any(2)
    np.testing.assert_array_equal(changed, np.hypot(xx - x, yy - y) <= 4)
    assert (out[changed] == 100).all()
    np.testing.assert_array_equal(r['keypoints_visible'], [[1], [1]])
    np.testing.assert_array_equal(r['category_id'], [1, 1])
    assert r['id'] == [7, None] and r['group'] == ['obvious', 'pasted']


def test_the_profile_and_the_size_factor():
    # a disc of radius 6 (the nodule radius is 4): at 5 px the profile
    # weighs (2 * 4 - 5) / 4 = 0.75: 50 + 0.25 * 0.75 * 200 = 87.5
    img = frame(radius=6, dtype=np.float32)
    t = build()
    dev = t.nodules(img, np.array([[20.0, 20.0]]))
    assert dev.shape == (1, 17, 17, 3)  # 2 * ceil(2 * 4) + 1
    assert dev[0, 8, 8, 0] == pytest.approx(200.0)
    assert dev[0, 8, 13, 0] == pytest.approx(150.0)
    assert dev[0, 8, 16, 0] == pytest.approx(0.0)  # 8 px: the profile's end
    full = t.paste(np.full((60, 100, 3), 50, np.float32), dev, np.array([[60.0, 30.0]]),
                   np.array([0.25], np.float32))
    assert full[30, 60, 0] == pytest.approx(100.0)
    assert full[30, 65, 0] == pytest.approx(87.5)
    # half the size: 9 px across, the centre kept, nothing at 5 px
    half = t.shape(dev, 0.5, 0.0)
    assert half.shape == (1, 9, 9, 3) and half[0, 4, 4, 0] == pytest.approx(200.0)
    small = t.paste(np.full((60, 100, 3), 50, np.float32), half, np.array([[60.0, 30.0]]),
                    np.array([0.25], np.float32))
    assert small[30, 60, 0] == pytest.approx(100.0) and small[30, 65, 0] == 50.0


def test_the_blur_keeps_the_nodule_mass_and_lowers_its_peak():
    img = frame(dtype=np.float32)
    t = build()
    dev = t.nodules(img, np.array([[20.0, 20.0]]))
    blurred = t.shape(dev, 1.0, 1.0)
    assert blurred.shape == dev.shape
    # the window's border is 0 (beyond the profile): the Gaussian moves
    # mass, it does not lose any
    assert blurred.sum() == pytest.approx(dev.sum(), rel=1e-5)
    assert blurred[0, 8, 8, 0] < dev[0, 8, 8, 0]


def test_copies_keep_away_from_clicks_negatives_and_each_other():
    np.random.seed(1)
    img = np.full((200, 300, 3), 50, np.uint8)
    clicks = [[40, 40], [150, 100], [260, 160]]
    negatives = np.array([[100, 150], [200, 50]], np.float32)
    t = build(max_pastes=2)
    for _ in range(20):
        r = t(results(img.copy(), clicks, negative_keypoints=negatives))
        new = r['keypoints'][3:, 0]
        assert 1 <= len(new) <= 2
        others = np.concatenate([np.asarray(clicks, np.float32), negatives])
        assert (np.linalg.norm(new[:, None] - others[None], axis=-1) >= 16).all()
        if len(new) == 2:
            assert np.linalg.norm(new[0] - new[1]) >= 16


def test_no_room_no_copy_and_nothing_else_changes():
    img = frame()
    r = build(min_distance=500)(results(img.copy(), [[20, 20]]))
    assert (r['img'] == img).all() and r['keypoints'].shape == (1, 1, 2)
    r = build(prob=0.0)(results(img.copy(), [[20, 20]]))
    assert (r['img'] == img).all() and r['keypoints'].shape == (1, 1, 2)
    # an invisible keypoint is not copied
    res = results(img.copy(), [[20, 20]])
    res['keypoints_visible'][:] = 0
    assert build()(res)['keypoints'].shape == (1, 1, 2)


def test_a_nodule_at_the_frame_edge_uses_the_ring_inside_the_frame():
    img = frame(centre=(2, 30))
    img[:, 50:] = 90  # the far half is brighter: not part of the ring
    dev = build().nodules(img.astype(np.float32), np.array([[2.0, 30.0]]))
    # bg 50 from the ring's pixels inside the frame; outside the frame 0
    assert dev[0, 8, 8, 0] == pytest.approx(200.0)
    assert (dev[0, :, :6] == 0).all()


@pytest.mark.parametrize('kw', [dict(radius=0), dict(prob=1.5), dict(factor=(0.6, 0.2)),
                                dict(scale=(0.0, 1.0)), dict(blur=(-1, 0)),
                                dict(max_pastes=-1), dict(tries=0),
                                dict(min_distance=-1)])
def test_bad_options_are_named(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        build(**kw)
