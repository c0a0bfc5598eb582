"""benchmarks/score_profile.py: the best score at each true point and the
background peaks by score band, on constructed frames."""
import json
import os.path as osp
import pickle
import sys

import numpy as np
import pytest

from helpers import ROOT

sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
import score_profile as sp  # noqa: E402


def frame(pred, scores, gt, groups):
    return dict(pred_instances=dict(keypoints=np.asarray(pred, np.float32).reshape(-1, 1, 2),
                                    keypoint_scores=np.asarray(scores).reshape(-1, 1)),
                gt_instances=dict(keypoints=np.asarray(gt, np.float32).reshape(-1, 1, 2)),
                group=groups)


# frame 1: an obvious nucleus found at 0.9 (and a weaker duplicate 3 px off),
# a faint one whose nearest peak scores 0.3, a faint one with no peak near;
# background peaks 40 px (0.1) and 20 px (0.6) from the nearest truth.
# frame 2: no truth, one peak at 0.25
FRAMES = [frame([[10, 10], [13, 10], [50, 10], [130, 10], [90, 30]],
                [0.9, 0.4, 0.3, 0.1, 0.6],
                [[10, 10], [50, 10], [90, 10]], ['obvious', 'faint', 'faint']),
          frame([[5, 5]], [0.25], [], [])]


def test_score_profile_takes_the_best_score_near_each_true_point():
    groups, best, bg_score, bg_dist = sp.score_profile(FRAMES, radius=14.0)
    assert groups.tolist() == ['obvious', 'faint', 'faint']
    np.testing.assert_allclose(best, [0.9, 0.3, 0.0])
    np.testing.assert_allclose(bg_score, [0.1, 0.6, 0.25])
    np.testing.assert_allclose(bg_dist, [40.0, 20.0, np.inf])


def test_summarize_and_main_write_the_table(tmp_path):
    row = sp.summarize(FRAMES, thr=0.5, radius=14.0, bands=[0.05, 0.2, 0.5])
    assert row['groups']['faint'] == dict(n=2, median=pytest.approx(0.15), below_thr=100.0,
                                          below_low=50.0)
    assert row['groups']['obvious']['below_thr'] == 0.0
    bg = row['background']
    assert bg['0.05-0.2'] == dict(per_frame=0.5, median_distance=40.0)
    assert bg['0.2-0.5'] == dict(per_frame=0.5, median_distance=None)  # no truth: no distance
    assert bg['0.5-1'] == dict(per_frame=0.5, median_distance=20.0)
    run = tmp_path / 'run'
    run.mkdir()
    with open(run / 'test_predictions.pkl', 'wb') as f:
        pickle.dump(FRAMES, f)
    (run / 'result.json').write_text(json.dumps(dict(row=dict(val_thr=0.5))))
    sp.main([str(run), '--out', str(tmp_path / 'out')])
    with open(tmp_path / 'out.json') as f:
        assert json.load(f)['runs'][0]['groups']['faint']['below_low'] == 50.0
    assert '0.150 / 100% / 50%' in (tmp_path / 'out.md').read_text()
    with pytest.raises(SystemExit):
        sp.parse_args(['x', '--bands', '0.5', '0.2'])


def test_draw_puts_the_runs_side_by_side(tmp_path):
    import cv2
    img = tmp_path / 'f1.png'
    cv2.imwrite(str(img), np.zeros((40, 150, 3), np.uint8))
    frames = [dict(FRAMES[0], img_path=str(img)), dict(FRAMES[1], img_path='other.png')]
    run = tmp_path / 'run'
    run.mkdir()
    with open(run / 'test_predictions.pkl', 'wb') as f:
        pickle.dump(frames, f)
    (run / 'result.json').write_text(json.dumps(dict(row=dict(val_thr=0.5))))
    sp.main([str(run), str(run), '--draw', 'f1.png', '--out', str(tmp_path / 'out')])
    drawn = cv2.imread(str(tmp_path / 'out.jpg'))
    assert drawn.shape == (40, 300, 3) and drawn.max() > 0
    with pytest.raises(SystemExit, match='no test frame'):
        sp.main([str(run), '--draw', 'f9.png', '--out', str(tmp_path / 'out')])
