import numpy as np
import pytest
import torch
from mmpose.codecs.utils import generate_gaussian_heatmaps
from mmpose.registry import KEYPOINT_CODECS


def build(**kw):
    cfg = dict(type='MultiInstanceGaussianHeatmap', input_size=(256, 128),
               heatmap_size=(64, 32), sigma=2.0)
    cfg.update(kw)
    return KEYPOINT_CODECS.build(cfg)


def test_subpixel_values_hand_computed():
    codec = build()
    # input (41, 22) -> heatmap (10.25, 5.5)
    hm = codec.encode(np.array([[[41.0, 22.0]]]))['heatmaps']
    assert hm.shape == (1, 32, 64) and hm.dtype == np.float32
    expect = np.exp(-((10 - 10.25)**2 + (5 - 5.5)**2) / 8)
    assert hm[0, 5, 10] == pytest.approx(expect, rel=1e-6)
    assert hm[0, 6, 12] == pytest.approx(
        np.exp(-((12 - 10.25)**2 + (6 - 5.5)**2) / 8), rel=1e-6)
    assert hm.max() < 1.0  # centre is between pixels
    # nothing outside the 3-sigma window around the nearest pixel (10, 6)
    assert hm[0, :, 17:].max() == 0 and hm[0, :, :4].max() == 0


def test_integer_centres_match_mmpose():
    codec = build(merge='max')
    pts = np.array([[[40., 20.]], [[48., 24.]], [[200., 100.]]],
                   dtype=np.float32)
    ours = codec.encode(pts)['heatmaps']
    # MMPose draws one heatmap per keypoint of all instances, merged by max
    ref, _ = generate_gaussian_heatmaps((64, 32), pts / 4,
                                        np.ones((3, 1)), sigma=2.0)
    np.testing.assert_allclose(ours, ref, atol=1e-6)


@pytest.mark.parametrize('region', ['inside', 'border'])
def test_vectorised_encode_matches_mmpose_loop(region):
    # integer centres (where MMPose's generator is exact): the fast path
    # (every window inside) and the padded path (windows cut by the border)
    # against MMPose's loop per point, merged by max, one and two classes
    rng = np.random.default_rng(3)
    lo, hi = ((7, 7), (56, 24)) if region == 'inside' else ((0, 0), (63, 31))
    pts = rng.integers(lo, np.add(hi, 1), size=(40, 2, 2)).astype(np.float32)
    pts[0, 0] = [0, 31] if region == 'border' else pts[0, 0]
    vis = (rng.random((40, 2)) > 0.2).astype(np.float32)
    ours = build().encode(pts * 4, vis)['heatmaps']
    ref, _ = generate_gaussian_heatmaps((64, 32), pts, vis, sigma=2.0)
    assert ours.shape == (2, 32, 64) and ours.flags.c_contiguous
    np.testing.assert_allclose(ours, ref, atol=1e-6)


@pytest.mark.parametrize('kernel', [1, 3, 5, 7, 9])
def test_heatmap_nms_equals_mmpose(kernel):
    from mmpose.codecs.utils.post_processing import batch_heatmap_nms

    from mmpose_carcinosis.codecs import heatmap_nms
    torch.manual_seed(kernel)
    maps = torch.rand(2, 3, 23, 41).round(decimals=1)  # many ties
    maps[0, 0, :4, :4] = 0.7
    assert torch.equal(heatmap_nms(maps, kernel), batch_heatmap_nms(maps, kernel))
    small = torch.rand(1, 1, 2, 3)  # smaller than the window
    assert torch.equal(heatmap_nms(small, kernel), batch_heatmap_nms(small, kernel))
    with pytest.raises(ValueError, match='odd'):
        heatmap_nms(maps, 4)


def test_sum_merge_clips_to_one_and_max_keeps_peaks():
    pts = np.array([[[40., 20.]], [[44., 20.]]])
    hm_max = build(merge='max').encode(pts)['heatmaps']
    hm_sum = build(merge='sum').encode(pts)['heatmaps']
    assert hm_max[0, 5, 10] == pytest.approx(1.0)
    # between the two centres the sum of two Gaussians exceeds 1 -> clipped
    assert hm_sum[0, 5, 10] == pytest.approx(1.0)
    # away from both: exact sum of two Gaussians
    v = np.exp(-(9 + 4) / 8) + np.exp(-(4 + 4) / 8)
    assert hm_sum[0, 7, 13] == pytest.approx(v, rel=1e-6)
    assert hm_max[0, 7, 13] == pytest.approx(np.exp(-(4 + 4) / 8), rel=1e-6)


def test_outside_invisible_and_empty_are_ignored():
    codec = build()
    pts = np.array([[[-10., 20.]], [[300., 20.]], [[40., 20.]]])
    vis = np.array([[1.], [1.], [0.]])
    assert codec.encode(pts, vis)['heatmaps'].max() == 0
    assert codec.encode(np.zeros((0, 1, 2)))['heatmaps'].shape == (1, 32, 64)
    # a point near the border is drawn, clipped to the map
    hm = codec.encode(np.array([[[0.0, 0.0]]]))['heatmaps']
    assert hm[0, 0, 0] == pytest.approx(1.0)


def test_round_trip_within_a_pixel():
    rng = np.random.default_rng(0)
    codec = build(decode_topk=50, decode_thr=0.3)
    # well separated random points on a grid with sub-pixel jitter
    gx, gy = np.meshgrid(np.arange(20, 240, 40), np.arange(16, 120, 36))
    pts = np.stack([gx.ravel(), gy.ravel()], -1) + rng.uniform(-6, 6, (gx.size, 2))
    hm = codec.encode(pts[:, None, :])['heatmaps']
    kpts, scores = codec.decode(hm)
    assert kpts.shape == (len(pts), 1, 2) and scores.shape == (len(pts), 1)
    d = np.linalg.norm(kpts[:, None, 0] - pts[None], axis=-1).min(1)
    assert d.max() < 1.0, d.max()  # input pixels (stride 4)
    assert np.all(np.diff(scores[:, 0]) <= 0)  # sorted by score


def test_batch_decode_threshold_topk_and_batch():
    codec = build(decode_topk=2, decode_thr=0.5)
    hm = np.stack([
        codec.encode(np.array([[[40., 20.]], [[120., 60.]], [[200., 100.]]]))['heatmaps'],
        codec.encode(np.zeros((0, 1, 2)))['heatmaps']])
    hm[0, 0, 5, 10] = 0.9  # peak of (40, 20)
    hm[0, 0, 15, 30] = 0.95  # peak of (120, 60)
    kpts, scores = codec.batch_decode(torch.from_numpy(hm))
    assert len(kpts) == 2
    assert kpts[0].shape == (2, 1, 2)  # top-2 of 3 peaks
    np.testing.assert_allclose(scores[0][:, 0], [1.0, 0.95], rtol=1e-6)
    np.testing.assert_allclose(kpts[0][:, 0], [[200, 100], [120, 60]], atol=1e-3)
    assert kpts[1].shape == (0, 1, 2)  # empty map: nothing above threshold


def test_bad_arguments():
    with pytest.raises(ValueError, match='merge'):
        build(merge='mean')
    with pytest.raises(ValueError, match='odd'):
        build(decode_nms_kernel=4)


def test_confirmed_negatives_are_encoded_as_disks():
    from mmpose_carcinosis.codecs import MultiInstanceGaussianHeatmap
    codec = MultiInstanceGaussianHeatmap(input_size=(64, 32), heatmap_size=(16, 8), sigma=1.0,
                                         negative_radius=1.5)
    kp = np.array([[[8.0, 8.0]]], np.float32)
    plain = codec.encode(kp, np.ones((1, 1)))
    assert set(plain) == {'heatmaps'}  # nothing asked: as before
    # a rejected point at input (40, 16) = heatmap (10, 4): the 3x3 block and
    # the four pixels 1 px beyond its edges' centres are within 1.5 px... (d^2 <= 2.25)
    out = codec.encode(kp, np.ones((1, 1)), np.array([[40.0, 16.0]], np.float32), False)
    neg = out['negatives'][0]
    ys, xs = np.nonzero(neg)
    d2 = (xs - 10)**2 + (ys - 4)**2
    assert neg.shape == (8, 16) and d2.max() <= 2.25 and len(xs) == 9
    assert np.array_equal(out['heatmaps'], plain['heatmaps'])
    # a point at the border keeps only its inside pixels; a dense frame is all ones
    edge = codec.encode(kp, None, np.array([[0.0, 0.0]], np.float32), False)['negatives']
    assert int(edge.sum()) == 4  # (0,0), (1,0), (0,1), (1,1)
    assert codec.encode(kp, None, np.zeros((0, 2)), True)['negatives'].min() == 1.0
    # a frame without any: no map at all
    assert 'negatives' not in codec.encode(kp, None, np.zeros((0, 2)), False)
