"""What a pseudo label is: targets from a teacher's heatmap, the same rule on
decoded points, and the count rule (models/utils/pseudo_labels.py)."""
import math

import numpy as np
import pytest
import torch

from mmpose_carcinosis.models import make_pseudo_targets

from helpers import gaussian


def test_pseudo_targets_on_a_constructed_frame():
    h = w = 20
    sigma = 1.5
    clicks = gaussian(h, w, 5, 5, sigma)[None, None]  # one click at (5, 5)
    t = torch.full((1, 1, h, w), 0.01)
    t[0, 0, 6, 5] = 0.9    # (x 5, y 6): the clicked nodule itself -> stays the click's
    t[0, 0, 15, 15] = 0.8  # far, confident -> pseudo label
    t[0, 0, 4, 15] = 0.3   # (x 15, y 4): far, in the band -> ignored
    t[0, 0, 15, 3] = 0.1   # below the band -> nothing
    target, mask, stats = make_pseudo_targets(t, clicks, sigma, high_thr=0.5, low_thr=0.2,
                                              click_radius=2.5, nms_kernel=3, weight=0.5)
    # the click stays a positive with its own Gaussian
    assert target[0, 0, 5, 5] == 1.0
    # a pseudo Gaussian of height 0.5 at (15, 15), spread sigma
    assert target[0, 0, 15, 15] == pytest.approx(0.5)
    assert target[0, 0, 15, 16] == pytest.approx(0.5 * math.exp(-1 / (2 * sigma**2)))
    assert target[0, 0, 15, 19] == pytest.approx(0.5 * math.exp(-16 / (2 * sigma**2)))
    # nothing at the clicked nodule's teacher peak beyond the click's Gaussian
    assert target[0, 0, 6, 5] == pytest.approx(float(clicks[0, 0, 6, 5]))
    # the band peak: a disk of radius 2.5 masked out, nothing added
    assert target[0, 0, 4, 15] == 0.0
    assert mask[0, 0, 4, 15] == 0 and mask[0, 0, 4, 17] == 0 and mask[0, 0, 6, 16] == 0
    assert mask[0, 0, 4, 18] == 1 and mask[0, 0, 7, 15] == 1   # 3 px away
    # everything else is valid, including the low peak and the click
    assert mask.sum() == h * w - int((torch.arange(-2, 3)[:, None]**2 +
                                      torch.arange(-2, 3)[None]**2 <= 6.25).sum())
    assert mask[0, 0, 15, 3] == 1 and target[0, 0, 15, 3] == 0
    assert stats['pseudo_per_frame'] == 1 and stats['ignored_per_frame'] == 1
    # no band (low == high): nothing ignored; weight 0: no pseudo labels yet
    _, mask, stats = make_pseudo_targets(t, clicks, sigma, 0.5, 0.5, 2.5, 3, 0.0)
    assert mask.min() == 1 and stats['ignored_per_frame'] == 0
    target0, _, _ = make_pseudo_targets(t, clicks, sigma, 0.5, 0.2, 2.5, 3, 0.0)
    assert torch.equal(target0, clicks)


def test_a_frame_over_the_cap_has_its_pseudo_peaks_ignored():
    # frame 0: two confident peaks, frame 1: four; a cap of 3 keeps frame
    # 0's as pseudo labels and turns frame 1's into ignored disks
    h = w = 24
    sigma = 1.5
    clicks = torch.zeros(2, 1, h, w)
    t = torch.full((2, 1, h, w), 0.01)
    for x, y in ((4, 4), (16, 16)):
        t[0, 0, y, x] = 0.8
    for x, y in ((4, 4), (16, 4), (4, 16), (16, 16)):
        t[1, 0, y, x] = 0.8
    target, mask, stats = make_pseudo_targets(t, clicks, sigma, 0.5, 0.2, 2.5, 3, 1.0,
                                              max_per_frame=3)
    assert target[0, 0, 4, 4] == 1.0 and target[0, 0, 16, 16] == 1.0
    assert mask[0].min() == 1
    assert target[1].max() == 0
    disk = int((torch.arange(-2, 3)[:, None]**2 + torch.arange(-2, 3)[None]**2 <= 6.25).sum())
    assert mask[1].sum() == h * w - 4 * disk and mask[1, 0, 16, 4] == 0
    assert stats['pseudo_per_frame'] == 1.0  # (2 + 0) / 2
    assert stats['ignored_per_frame'] == 2.0  # (0 + 4) / 2
    assert stats['doubtful_frames'] == 0.5
    # at the cap a frame keeps its pseudo labels; no cap: both frames keep them
    for cap in (4, None):
        target, mask, stats = make_pseudo_targets(t, clicks, sigma, 0.5, 0.2, 2.5, 3, 1.0,
                                                  max_per_frame=cap)
        assert target[1, 0, 16, 4] == 1.0 and mask.min() == 1
        assert stats['doubtful_frames'] == 0


def test_masked_pixels_carry_no_gradient():
    from mmpose_carcinosis.models import CragTailLoss
    logits = torch.randn(1, 1, 8, 8, requires_grad=True)
    target = torch.zeros(1, 1, 8, 8)
    target[0, 0, 2, 2] = 1.0
    mask = torch.ones(1, 1, 8, 8)
    mask[0, 0, 5:, 5:] = 0
    CragTailLoss()(logits, target, None, mask).backward()
    assert logits.grad[0, 0, 5:, 5:].abs().max() == 0
    assert logits.grad[0, 0, :5, :5].abs().max() > 0


def test_score_pseudo_labels_on_a_constructed_frame():
    from mmpose_carcinosis.models.utils import score_pseudo_labels
    # truth: (10, 10) clicked, (50, 50), (90, 90), (130, 130); predictions:
    # the click .9, near (50, 50) .6, near (90, 90) .2 (below thr), nothing .5
    pts = np.array([[11., 10.], [52., 50.], [90., 91.], [200., 200.]])
    scores = np.array([0.9, 0.6, 0.2, 0.5])
    truth = np.array([[10., 10.], [50., 50.], [90., 90.], [130., 130.]])
    clicks = np.array([[10., 10.]])
    keep, unclicked, found, over = score_pseudo_labels(pts, scores, truth, clicks, 0.3, 10.0)
    assert keep.tolist() == [False, True, False, True]
    assert unclicked.tolist() == [False, True, True, True]
    assert found.tolist() == [False, True, False, False] and not over
    # two pseudo labels: a cap of 2 keeps them, a cap of 1 drops both
    assert score_pseudo_labels(pts, scores, truth, clicks, 0.3, 10.0, cap=2)[0].sum() == 2
    keep, unclicked, found, over = score_pseudo_labels(pts, scores, truth, clicks, 0.3, 10.0,
                                                       cap=1)
    assert not keep.any() and not found.any() and over and unclicked.sum() == 3


def test_threshold_for_count():
    from mmpose_carcinosis.models.utils import threshold_for_count
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.3])
    # 2 frames x 1.5 per frame = 3 kept: .9 .7 .5
    thr = threshold_for_count(scores, 3.0, 0.02)
    assert thr == 0.5 and (scores >= thr).sum() == 3
    assert threshold_for_count(scores, 2.6, 0.02) == 0.5  # rounded
    assert threshold_for_count(scores, 5, 0.02) == 0.1
    assert threshold_for_count(scores, 6, 0.02) == 0.02  # fewer peaks than asked: all
    assert threshold_for_count(scores, 0.4, 0.02) == 1.0  # none asked
    assert threshold_for_count(np.zeros(0), 2, 0.05) == 0.05


def test_no_pseudo_label_at_a_confirmed_negative():
    # the codec's negatives map (a disk around a rejected point): a
    # confident teacher peak inside it is neither a pseudo label nor
    # ignored; one just outside still is a pseudo label
    h = w = 20
    sigma = 1.5
    clicks = torch.zeros(1, 1, h, w)
    t = torch.full((1, 1, h, w), 0.01)
    t[0, 0, 5, 5] = 0.9
    t[0, 0, 15, 15] = 0.9
    negatives = torch.zeros(1, 1, h, w)
    negatives[0, 0, 3:8, 4:9] = 1.0    # covers (5, 5)
    negatives[0, 0, 13:18, 10:15] = 1.0  # ends 1 px left of (15, 15)
    target, mask, stats = make_pseudo_targets(t, clicks, sigma, 0.5, 0.2, 2.5, 3, 1.0,
                                              negatives=negatives)
    assert target[0, 0, 5, 5] == 0 and mask[0, 0, 5, 5] == 1
    assert target[0, 0, 15, 15] == 1.0
    assert stats['pseudo_per_frame'] == 1 and stats['ignored_per_frame'] == 0
    # a dense frame (negatives everywhere): no pseudo labels at all
    _, _, stats = make_pseudo_targets(t, clicks, sigma, 0.5, 0.2, 2.5, 3, 1.0,
                                      negatives=torch.ones(1, 1, h, w))
    assert stats['pseudo_per_frame'] == 0


def test_teacher_weighted_negatives():
    # negative_gamma 2: an unlabeled pixel weighs (1 - teacher)^2; positives
    # (the click's and the pseudo label's Gaussians), ignored disks and
    # confirmed negatives keep their weight
    h = w = 20
    sigma = 1.5
    clicks = gaussian(h, w, 5, 5, sigma)[None, None]
    t = torch.full((1, 1, h, w), 0.1)
    t[0, 0, 15, 15] = 0.8  # pseudo label
    t[0, 0, 4, 15] = 0.3   # band: ignored disk
    t[0, 0, 16, 4] = 0.15  # below the band: a weak foreground guess
    neg = torch.zeros(1, 1, h, w)
    neg[0, 0, 18, 18] = 1
    t[0, 0, 18, 18] = 0.5
    plain, m0, _ = make_pseudo_targets(t, clicks, sigma, 0.5, 0.2, 2.5, 3, 1.0, negatives=neg)
    target, mask, _ = make_pseudo_targets(t, clicks, sigma, 0.5, 0.2, 2.5, 3, 1.0,
                                          negatives=neg, negative_gamma=2.0)
    assert torch.equal(target, plain)
    assert mask[0, 0, 16, 4] == pytest.approx(0.85**2)
    assert mask[0, 0, 0, 19] == pytest.approx(0.9**2)
    assert mask[0, 0, 5, 5] == 1 and mask[0, 0, 15, 15] == 1 and mask[0, 0, 15, 16] == 1
    assert mask[0, 0, 4, 15] == 0  # ignored stays ignored
    assert mask[0, 0, 18, 18] == 1  # a confirmed negative pushes fully
    assert torch.equal(mask > 0, m0 > 0)


def test_stable_points_same_frame_within_the_radius():
    from mmpose_carcinosis.models.utils import stable_points
    prev_ids = np.array([1, 1, 2])
    prev = np.array([[10.0, 10.0], [50.0, 50.0], [10.0, 10.0]])
    ids = np.array([1, 1, 2, 3, 2])
    pts = np.array([[13.0, 14.0],    # 5 px from (10, 10) of frame 1: stable
                    [50.0, 56.0],    # 6 px: not within 5
                    [90.0, 90.0],    # frame 2, far from its point
                    [10.0, 10.0],    # frame 3 had no candidate
                    [10.0, 5.0]])    # frame 2, 5 px: stable
    np.testing.assert_array_equal(stable_points(ids, pts, prev_ids, prev, 5.0),
                                  [True, False, False, False, True])
    assert stable_points(ids, pts, np.zeros(0), np.zeros((0, 2)), 5.0).sum() == 0


@pytest.mark.parametrize('flip', [0.0, 1.0])
def test_frame_points_follow_the_training_augmentation(flip):
    # frozen labels in frame pixels, carried into a sample's augmented view
    # by its packed warp_mat and flip, land where the pipeline put the same
    # points as keypoints (and so encode to the same target)
    from mmcv.transforms import Compose
    from mmengine.config import Config
    from mmpose.registry import TRANSFORMS

    import mmpose_carcinosis  # noqa: F401
    from mmpose_carcinosis.models.utils import frame_to_input
    from helpers import ROOT
    import os.path as osp
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'selftrain_cragtail_hrnet-w18s_'
                                   '1xb4-10e_synthetic-480x288.py'))
    steps = [dict(t, prob=flip) if t['type'] == 'PointRandomFlip' else t
             for t in cfg.train_dataloader.dataset.pipeline[1:]]
    pipeline = Compose([TRANSFORMS.build(t) for t in steps])
    np.random.seed(3)
    pts = np.array([[100.0, 60.0], [300.5, 200.25], [470.0, 20.0]], np.float32)
    results = dict(img=np.random.randint(0, 255, (270, 480, 3), np.uint8), img_shape=(270, 480),
                   ori_shape=(270, 480), img_id=5, id=[1, 2, 3], img_path='x.png',
                   keypoints=pts[:, None].copy(), keypoints_visible=np.ones((3, 1), np.float32),
                   category_id=np.ones(3, np.int64), negative_keypoints=np.zeros((0, 2)),
                   dense=False, flip_indices=[0], dataset_name='t')
    packed = pipeline(results)['data_samples']
    assert bool(packed.metainfo['flip']) == bool(flip)
    moved = frame_to_input(pts, packed.metainfo)
    np.testing.assert_allclose(moved, np.asarray(packed.gt_instances.keypoints)[:, 0],
                               atol=1e-3)
    codec = TRANSFORMS.build(steps[-2]).encoder
    target = codec.encode(moved[:, None])['heatmaps']
    np.testing.assert_allclose(target, packed.gt_fields.heatmaps.numpy(), atol=1e-5)
    with pytest.raises(KeyError, match='warp_mat'):
        frame_to_input(pts, {})
