import os

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from mmpose.registry import METRICS

from mmpose_carcinosis.evaluation import match_points


def test_hungarian_beats_greedy():
    # greedy nearest-first would match A-X and leave B and Y unmatched
    pred = np.array([[0., 0.], [5., 0.]])  # A, B
    gt = np.array([[2., 0.], [-3., 0.]])  # X, Y
    assert match_points(pred, gt, 3.2) == 2
    assert match_points(pred, gt, 1.9) == 0
    assert match_points(pred, np.zeros((0, 2)), 5) == 0
    # one-to-one: two predictions on one true point count once
    assert match_points(np.array([[0., 0.], [1., 0.]]), np.array([[0.5, 0.]]), 5) == 1


def sample(pred, scores, gt):
    return dict(pred_instances=dict(
        keypoints=np.asarray(pred, dtype=np.float32).reshape(-1, 1, 2),
        keypoint_scores=np.asarray(scores, dtype=np.float32).reshape(-1, 1)),
        gt_instances=dict(keypoints=np.asarray(gt, dtype=np.float32).reshape(-1, 1, 2),
                          keypoints_visible=np.ones((len(gt), 1))))


FRAMES = [
    sample([[11, 10], [100, 100], [50, 52]], [0.9, 0.8, 0.7], [[10, 10], [50, 50]]),
    sample([[5, 5]], [0.6], []),
    sample([], [], [[30, 30]]),
]


def test_recall_per_group_hand_computed():
    # frame 1: three true points, groups a, b, a; the two best predictions
    # hit the first two; frame 2: one true point (b), missed
    frames = [sample([[10, 10], [51, 50], [200, 200]], [0.9, 0.8, 0.7],
                     [[10, 10], [50, 50], [90, 90]]),
              sample([], [], [[30, 30]])]
    frames[0]['group'] = ['a', 'b', 'a']
    frames[1]['group'] = ['b']
    m = evaluate(frames)
    assert m['recall_a'] == pytest.approx(50.0) and m['num_gt_a'] == 2
    assert m['recall_b'] == pytest.approx(50.0) and m['num_gt_b'] == 2
    # at a headline threshold of 0.85 only the first prediction counts
    m = evaluate(frames, score_thr=0.85)
    assert m['recall_a'] == pytest.approx(50.0)
    assert m['recall_b'] == pytest.approx(0.0)
    # the matching is one-to-one: the point matched is the one assigned
    frames = [sample([[20, 10]], [0.9], [[10, 10], [21, 10]])]
    frames[0]['group'] = ['far', 'near']  # any names
    m = evaluate(frames)
    assert m['recall_near'] == pytest.approx(100.0) and m['recall_far'] == 0.0
    # invisible points and their groups are dropped together
    frames = [sample([[10, 10]], [0.9], [[10, 10], [50, 50]])]
    frames[0]['gt_instances']['keypoints_visible'] = np.array([[0.], [1.]])
    frames[0]['group'] = ['x', 'y']
    m = evaluate(frames)
    assert 'recall_x' not in m and m['recall_y'] == 0.0
    # no groups: no group keys
    assert not any(k.startswith('recall_') for k in evaluate(FRAMES))


def test_group_count_mismatch_is_an_error():
    frames = [sample([[10, 10]], [0.9], [[10, 10], [50, 50]])]
    frames[0]['group'] = ['x']
    frames[0]['img_path'] = 'v1/f3.jpg'
    with pytest.raises(ValueError, match='v1/f3.jpg: 1 groups for 2 true points'):
        evaluate(frames)


def evaluate(frames, **kw):
    metric = METRICS.build(dict(type='PointLocalizationMetric', radii=(1., 5.),
                                radius=5., **kw))
    metric.process({}, frames)
    return metric.compute_metrics(metric.results)


def test_metric_values_on_constructed_frames():
    m = evaluate(FRAMES)
    # radius 5: 2 matches of 4 predictions, 3 true points
    assert m['precision'] == pytest.approx(50.0)
    assert m['recall'] == pytest.approx(200 / 3)
    assert m['f1'] == pytest.approx(100 * 2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    # radius 1: only (11, 10) ~ (10, 10) matches
    assert m['precision@1'] == pytest.approx(25.0)
    assert m['recall@1'] == pytest.approx(100 / 3)
    # |3 - 2|, |1 - 0|, |0 - 1| points per frame
    assert m['count_error'] == pytest.approx(1.0)
    assert m['num_gt'] == 3 and m['num_pred'] == 4
    # thresholds .9 .8 .7 .6 -> (P, R) = (1, 1/3) (1/2, 1/3) (2/3, 2/3) (1/2, 2/3)
    # AP = 1/3 * 1 + 1/3 * 2/3
    assert m['ap'] == pytest.approx(100 * (1 / 3 + 2 / 9))
    assert m['best_f1'] == pytest.approx(100 * 2 / 3)
    assert m['best_thr'] == pytest.approx(0.7, abs=1e-6)


def test_score_threshold():
    m = evaluate(FRAMES, score_thr=0.75)
    assert m['precision'] == pytest.approx(50.0)  # 1 of 2
    assert m['recall'] == pytest.approx(100 / 3)
    assert m['count_error'] == pytest.approx((0 + 0 + 1) / 3)


def test_perfect_and_empty():
    gt = [[10, 10], [40, 40]]
    m = evaluate([sample(gt, [0.9, 0.8], gt)])
    assert m['f1'] == pytest.approx(100.0) and m['ap'] == pytest.approx(100.0)
    # nothing to find and nothing predicted: perfect, not undefined
    m = evaluate([sample([], [], [])])
    assert m['f1'] == 100.0 and m['count_error'] == 0.0
    # something to find, nothing predicted
    m = evaluate([sample([], [], gt)])
    assert m['f1'] == 0.0 and m['recall'] == 0.0 and m['count_error'] == 2.0


def test_radius_must_be_listed():
    with pytest.raises(ValueError, match='radii'):
        METRICS.build(dict(type='PointLocalizationMetric', radii=(5.,), radius=10.))


def _dist_worker(rank, world, port, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.distributed.init_process_group('gloo', rank=rank, world_size=world)
    metric = METRICS.build(dict(type='PointLocalizationMetric', radii=(1., 5.),
                                radius=5.))
    # rank r gets frames r, r + world, ... like MMEngine's DefaultSampler
    metric.process({}, FRAMES[rank::world])
    m = metric.evaluate(len(FRAMES))
    if rank == 0:
        torch.save(m, out)
    torch.distributed.destroy_process_group()


def test_two_processes_agree_with_one(tmp_path):
    out = str(tmp_path / 'm.pt')
    port = 29600 + os.getpid() % 300
    mp.spawn(_dist_worker, args=(2, port, out), nprocs=2, join=True)
    dist = torch.load(out)
    single = {f'point/{k}': v for k, v in evaluate(FRAMES).items()}
    assert dist.keys() == single.keys()
    for k in single:
        assert dist[k] == pytest.approx(single[k]), k


def test_prefix_counts_from_one_assignment_equal_per_prefix_matchings():
    # one assignment (matroid greedy basis) against one Hungarian matching
    # per prefix, on random crowded frames with many ties in reach
    from scipy.optimize import linear_sum_assignment

    from mmpose_carcinosis.evaluation.metrics.point_metric import prefix_matches

    def reference(pred, gt, radius, c):
        if c == 0 or not len(gt):
            return 0
        dist = np.linalg.norm(pred[:c, None] - gt[None], axis=-1)
        ok = dist <= radius
        rows, cols = linear_sum_assignment(np.where(ok, dist, radius * (min(dist.shape) + 1) + 1))
        return int(ok[rows, cols].sum())

    rng = np.random.default_rng(0)
    for trial in range(300):
        m, n = rng.integers(0, 25), rng.integers(0, 25)
        pred = rng.uniform(0, 40, (m, 2))
        gt = rng.uniform(0, 40, (n, 2))
        radius = rng.uniform(2, 12)
        counts = list(range(m + 1))
        got = prefix_matches(pred, gt, radius, counts)
        assert got == {c: reference(pred, gt, radius, c) for c in counts}, trial


def test_threshold_at_precision_scans_from_the_top():
    from mmpose_carcinosis.evaluation import threshold_at_precision
    thr = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    n = np.array([10, 20, 30, 40, 50, 60])
    # precision dips below 0.9 at 0.6 and comes back at 0.4: the dip counts
    prec = np.array([1.0, 0.95, 0.92, 0.85, 0.88, 0.93])
    assert threshold_at_precision(thr, prec, n, 0.9) == 0.7
    # every threshold reaches it: the lowest
    assert threshold_at_precision(thr, np.full(6, 0.95), n, 0.9) == 0.4
    # the first threshold already misses: the highest
    assert threshold_at_precision(thr, np.full(6, 0.5), n, 0.9) == 0.9
    # a miss on too few predictions (the top two, under min_predictions) is noise
    assert threshold_at_precision(thr, [0.0, 0.5, 0.95, 0.95, 0.95, 0.8], [1, 2, 30, 40, 50, 60],
                                  0.9) == 0.5
    assert threshold_at_precision([], [], [], 0.9) == 1.0


def test_threshold_at_precision_lowest_keeps_the_largest_set_at_the_target():
    from mmpose_carcinosis.evaluation import threshold_at_precision
    thr = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    n = np.array([10, 20, 30, 40, 50, 60])
    # the dip at 0.6 and 0.5 is averaged in: all 60 predictions together
    # are 93% precise, so 0.4 (from the top the scan stops at 0.7)
    prec = np.array([1.0, 0.95, 0.92, 0.85, 0.88, 0.93])
    assert threshold_at_precision(thr, prec, n, 0.9, scan='lowest') == 0.4
    # a real fall at the end: the last threshold still at the target
    prec = np.array([1.0, 0.95, 0.85, 0.91, 0.88, 0.8])
    assert threshold_at_precision(thr, prec, n, 0.9, scan='lowest') == 0.6
    assert threshold_at_precision(thr, prec, n, 0.9) == 0.8
    # nothing reaches it, or too few predictions: the highest threshold
    assert threshold_at_precision(thr, np.full(6, 0.5), n, 0.9, scan='lowest') == 0.9
    assert threshold_at_precision(thr, [1.0, 1.0, 0.5, 0.5, 0.5, 0.5], [1, 2, 30, 40, 50, 60],
                                  0.9, scan='lowest') == 0.9
    with pytest.raises(ValueError, match="precision scan must be one of"):
        threshold_at_precision(thr, prec, n, 0.9, scan='bottom')


def test_band_threshold_is_where_the_band_below_stays_precise_enough():
    from mmpose_carcinosis.evaluation import band_threshold
    thr = np.array([0.9, 0.5, 0.4, 0.3, 0.2, 0.1])
    n = np.array([10, 20, 30, 40, 50, 60])
    tp = np.array([10, 16, 24, 30, 32, 33])
    # band below 0.5 (16 true of 20 kept there): [0.4, 0.5) 8/10, [0.3, 0.5)
    # 14/20, [0.2, 0.5) 16/30 = 0.53, [0.1, 0.5) 17/40 = 0.43
    assert band_threshold(thr, tp, n, 0.5, 0.5) == 0.2
    assert band_threshold(thr, tp, n, 0.5, 0.7) == 0.3
    assert band_threshold(thr, tp, n, 0.5, 0.81) == 0.5  # none: no band
    # a band of fewer than min_predictions does not count: [0.4, 0.5) holds 10
    assert band_threshold(thr, tp, n, 0.5, 0.8, min_predictions=11) == 0.5
    assert band_threshold(thr, tp, n, 0.5, 0.8, min_predictions=10) == 0.4
    # high below every swept threshold, or none swept: no band
    assert band_threshold(thr, tp, n, 0.05, 0.5) == 0.05
    assert band_threshold([], [], [], 0.3, 0.5) == 0.3
    # high above every threshold: the band starts at the top
    assert band_threshold(thr, tp, n, 0.95, 0.9) == 0.9


def test_metric_reports_the_band_below_the_precision_threshold():
    # 20 frames, each: a true point at 0.9, a peak at 0.3 (true in frames
    # 0-9 only), a false peak at 0.2. From the top: 20/20 at 0.9, 30/40 at
    # 0.3, so thr@p0.9 = 0.9; below it [0.3, 0.9) holds 10 true of 20,
    # [0.2, 0.9) 10 of 40
    frames = [sample([[10, 10], [50, 50], [90, 90]], [0.9, 0.3, 0.2],
                     [[10, 10], [50, 50]] if i < 10 else [[10, 10]]) for i in range(20)]
    m = evaluate(frames, precision_targets=[0.9], band_precision=0.5)
    assert m['thr@p0.9'] == pytest.approx(0.9)
    assert m['band_thr@p0.9'] == pytest.approx(0.3)
    assert evaluate(frames, precision_targets=[0.9], band_precision=0.25)[
        'band_thr@p0.9'] == pytest.approx(0.2)
    assert evaluate(frames, precision_targets=[0.9], band_precision=0.6)[
        'band_thr@p0.9'] == pytest.approx(0.9)  # no band is precise enough
    assert 'band_thr@p0.9' not in evaluate(frames, precision_targets=[0.9])
    with pytest.raises(ValueError, match='band_precision'):
        evaluate(frames, band_precision=1.5)


def test_metric_reports_either_scan():
    # 20 frames, each: a true point found at 0.9, a false peak at 0.8 in
    # the first 4 frames only, a true point found at 0.3. Precision from the
    # top: 1.0 at 0.9 (20 kept), 20/24 = 0.83 at 0.8, 40/44 = 0.91 at 0.3
    frames = [sample([[10, 10], [50, 50], [90, 90]] if i < 4 else [[10, 10], [90, 90]],
                     [0.9, 0.8, 0.3] if i < 4 else [0.9, 0.3], [[10, 10], [90, 90]])
              for i in range(20)]
    top = evaluate(frames, precision_targets=[0.9])
    low = evaluate(frames, precision_targets=[0.9], precision_scan='lowest')
    assert top['thr@p0.9'] == pytest.approx(0.9) and top['max_count@p0.9'] == 1
    assert low['thr@p0.9'] == pytest.approx(0.3) and low['max_count@p0.9'] == 3
    with pytest.raises(ValueError, match='precision scan'):
        evaluate(frames, precision_scan='x')


def test_exclude_top_and_threshold_at_precision_on_constructed_frames():
    # frame 1: true (10, 10) (40, 40) (70, 70); predictions (10, 10) .9,
    # (41, 40) .6, (100, 100) .5. exclude_top=1 drops (10, 10) and its true
    # point: left (41, 40) .6 matched, (100, 100) .5 not, truth 2
    frames = [sample([[10, 10], [41, 40], [100, 100]], [0.9, 0.6, 0.5],
                     [[10, 10], [40, 40], [70, 70]])]
    m = evaluate(frames, exclude_top=1, precision_targets=[0.9])
    assert m['num_gt'] == 2 and m['num_pred'] == 2
    assert m['precision'] == pytest.approx(50.0) and m['recall'] == pytest.approx(50.0)
    # too few predictions for precision to count (min 10): the lowest threshold
    assert m['thr@p0.9'] == pytest.approx(0.5)
    assert m['max_count@p0.9'] == 2  # the frame keeps both at 0.5
    m = evaluate(frames, precision_targets=[0.9])
    assert m['num_gt'] == 3 and m['num_pred'] == 3
    # two frames: the most predictions one frame keeps at the threshold
    more = frames + [sample([[5, 5], [20, 20], [60, 60], [90, 90]], [0.95, 0.9, 0.85, 0.3],
                            [[5, 5], [20, 20], [60, 60]])]
    m = evaluate(more, precision_targets=[1.0])
    # 7 predictions, under the 10 a precision needs: the lowest threshold,
    # where frame 1 keeps 3 and frame 2 keeps 4
    assert m['thr@p1'] == pytest.approx(0.3)
    assert m['max_count@p1'] == 4
    m = evaluate(more, precision_targets=[1.0], score_thr=None, exclude_top=2)
    assert m['thr@p1'] == pytest.approx(0.3) and m['max_count@p1'] == 2
    with pytest.raises(ValueError, match='exclude_top'):
        evaluate(frames, exclude_top=-1)
