"""benchmarks/pseudo_label_edges.py: distances to the frame edge and the
per-band tally of true and false pseudo labels, on constructed frames."""
import json
import os.path as osp
import sys

import numpy as np

from helpers import ROOT

sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
import pseudo_label_edges as ple  # noqa: E402


def test_edge_distance_is_negative_outside():
    from common import edge_distance
    pts = np.array([[0.0, 50.0], [99.0, 50.0], [50.0, 3.0], [-7.5, 20.0], [50.0, 30.0]])
    np.testing.assert_allclose(edge_distance(pts, 60, 100), [0, 0, 3, -7.5, 29])


def test_tally_counts_true_and_false_pseudo_labels_per_band():
    # a 100 x 60 frame, truth at (30, 30) (clicked), (70, 30), (2, 40);
    # predictions: on the click (not a pseudo label), on (70, 30) (true,
    # 29 px from the edge), on (2, 40) (true, 2 px), an unlabeled one at
    # (97, 10) (false, 2 px), one in the padding at (-8, 20) (false,
    # outside), one below the threshold
    truth = {'f': np.array([[30.0, 30.0], [70.0, 30.0], [2.0, 40.0]])}
    clicks = {'f': np.array([[30.0, 30.0]])}
    pts = np.array([[30.5, 30.0], [71.0, 31.0], [3.0, 40.0], [97.0, 10.0], [-8.0, 20.0],
                    [50.0, 50.0]])
    scores = np.array([0.9, 0.8, 0.5, 0.6, 0.7, 0.01])
    n, false = ple.tally({'f': (pts, scores)}, clicks, truth, {'f': (60, 100)}, 0.1, 14.0, 14.0)
    # bands (-inf, 0), [0, 5), [5, 10), [10, 15), [15, 20), [20, inf)
    assert n.tolist() == [1, 2, 0, 0, 0, 1]
    assert false.tolist() == [1, 1, 0, 0, 0, 0]


def test_recall_by_edge_splits_each_group():
    import recall_by_edge as rbe
    # a 100 x 60 frame: a faint point 3 px from the edge (found), a faint
    # one inside (missed: its prediction is below the threshold), an
    # obvious one inside (found)
    sample = dict(ori_shape=(60, 100), group=['faint', 'faint', 'obvious'],
                  gt_instances=dict(keypoints=np.array([[[3.0, 30.0]], [[50.0, 30.0]],
                                                        [[80.0, 40.0]]])),
                  pred_instances=dict(keypoints=np.array([[[4.0, 31.0]], [[50.0, 31.0]],
                                                          [[79.0, 40.0]]]),
                                      keypoint_scores=np.array([[0.9], [0.2], [0.8]])))
    counts = rbe.found_by_edge([sample], thr=0.5, radius=5.0, edge=15.0)
    assert counts == {('faint', True): [1, 1], ('faint', False): [0, 1],
                      ('obvious', False): [1, 1]}


def test_points_by_image_reads_through_the_dataset_parser(tmp_path):
    # a negative (a reviewer's rejection) is no point; sizes are (height, width)
    coco = dict(images=[dict(id=1, file_name='a.png', width=100, height=60),
                        dict(id=2, file_name='b.png', width=80, height=40)],
                annotations=[dict(id=1, image_id=1, keypoints=[10, 20, 2]),
                             dict(id=2, image_id=1, keypoints=[30, 40, 2], negative=True),
                             dict(id=3, image_id=2, keypoints=[5, 6, 2])],
                categories=[dict(id=1, name='carcinosis')])
    path = tmp_path / 'train.json'
    path.write_text(json.dumps(coco))
    points, sizes = ple.points_by_image(str(path))
    np.testing.assert_array_equal(points['a.png'], [[10, 20]])
    np.testing.assert_array_equal(points['b.png'], [[5, 6]])
    assert sizes == {'a.png': (60, 100), 'b.png': (40, 80)}
