"""Clicks carried through a video: frame registration, local matching,
merging, and the tool that writes the carried points."""
import json
import os.path as osp

import numpy as np
import pytest
from helpers import ROOT, load_script
from mmpose_carcinosis.datasets.propagation import (confirm_in_video, frame_shift, match_points,
                                                    propagate_video, read_frames, suppress_points,
                                                    videos_of)


def scene(h=200, w=260, seed=0):
    """A textured background with bright blobs (nodules) at known places."""
    import cv2
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32) * 60, (0, 0), 2.5)
    yy, xx = np.mgrid[:h, :w]
    blobs = np.array([[70.0, 60.0], [150.0, 100.0], [200.0, 60.0], [110.0, 150.0]])
    for x, y in blobs:
        img += 120 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 4.0 ** 2))
    return img.astype(np.float32), blobs


def crop(img, ox, oy, h=140, w=200):
    return img[oy:oy + h, ox:ox + w].copy()


def test_frame_shift_sign_size_and_occluders():
    import cv2
    img, blobs = scene()
    a, b = crop(img, 20, 20), crop(img, 27, 16)  # b's view moved by (+7, -4)
    shift, fit = frame_shift(a, b)
    # what is at p in a is at p - (7, -4) in b
    assert shift.tolist() == [-7, 4]
    assert fit > 0.99
    with pytest.raises(ValueError, match='different sizes'):
        frame_shift(a, b[:-1])
    # a patch pasted into the second frame (an instrument, a hidden nodule)
    # leads the highest phase-correlation peak astray, not the shift
    c = crop(img, 34, 24)
    x, y = (blobs[1] - [34, 24]).astype(int)
    c[y - 8:y + 9, x - 8:x + 9] = img[2:19, 2:19]
    (dx, dy), _ = cv2.phaseCorrelate(a, c)
    assert abs(dx + 14) > 20  # OpenCV's single peak
    assert frame_shift(a, c)[0].tolist() == [-14, -4]
    # a still camera: no shift
    assert frame_shift(a, a + 1.0)[0].tolist() == [0, 0]


def test_match_points_follows_local_motion_and_rejects():
    img, blobs = scene()
    a, b = crop(img, 20, 20), crop(img, 27, 16)
    p = blobs[:3] - [20, 20]  # in a
    truth = blobs[:3] - [27, 16]  # in b
    # a guess 3 px off in x and 2 px in y (the search is 6 px) is corrected
    matched, ncc = match_points(a, b, p + 0.25, truth + [3, -2] + 0.25, half=6, search=6)
    np.testing.assert_allclose(matched, truth + 0.25)  # sub-pixel offset kept
    assert (ncc > 0.99).all()
    # a patch leaving the source frame, and a flat target (the nodule hidden)
    matched, ncc = match_points(a, b, np.array([[3.0, 50.0]]), np.array([[10.0, 50.0]]), 6, 6)
    assert ncc[0] == -1
    flat = b.copy()
    flat[:] = 5.0
    assert match_points(a, flat, p, truth, 6, 6)[1] == pytest.approx([0, 0, 0], abs=1e-3)
    assert match_points(a, b, np.zeros((0, 2)), np.zeros((0, 2)))[0].shape == (0, 2)


def test_suppress_points_is_greedy():
    pts = np.array([[0.0, 0.0], [3.0, 0.0], [6.0, 0.0], [20.0, 0.0]])
    # 0.9 at x = 3 suppresses both neighbours; the lone point stays
    assert suppress_points(pts, np.array([0.5, 0.9, 0.8, 0.1]), 4).tolist() == \
        [False, True, False, True]
    # a chain: 0 suppresses 3, so 6 (only near 3) is kept
    assert suppress_points(pts[:3], np.array([0.9, 0.8, 0.7]), 4).tolist() == \
        [True, False, True]
    # ties: the earlier point wins
    assert suppress_points(pts[:2], np.array([0.5, 0.5]), 4).tolist() == [True, False]


def test_propagate_video_carries_clicks_where_the_nodule_is():
    img, blobs = scene()
    views = [(20, 20), (27, 16), (34, 24)]
    frames = [crop(img, ox, oy) for ox, oy in views]
    # blob 1 hidden in frame 2 under a patch of nodule-free background
    x, y = (blobs[1] - views[2]).astype(int)
    frames[2][y - 8:y + 9, x - 8:x + 9] = img[2:19, 2:19]
    clicks = [blobs[:3] - views[0], np.zeros((0, 2)), blobs[2:3] - views[2]]
    # (the hiding patch still matches blob 1's at NCC 0.57)
    out = propagate_video(frames, clicks, radius=5, half=6, search=6, min_ncc=0.8)
    # frame 1: all three clicks of frame 0, and frame 2's click (the same
    # nodule as one of them) merged into one point
    np.testing.assert_allclose(np.sort(out[1]['points'], 0),
                               np.sort(blobs[:3] - views[1], 0), atol=0.5)
    assert len(out[1]['points']) == 3
    # frame 2: blob 1 is hidden there (not carried), blob 2 is its own click
    np.testing.assert_allclose(out[2]['points'], blobs[:1] - views[2], atol=0.5)
    assert out[2]['source'].tolist() == [0]
    # frame 0: frame 2's click is already a click of frame 0
    assert len(out[0]['points']) == 0
    # a confirmed negative blocks, a frame that is not a target gets nothing,
    # and a one-frame gap does not reach from frame 0 to frame 2
    neg = [np.zeros((0, 2)), blobs[:1] - views[1], np.zeros((0, 2))]
    out = propagate_video(frames, clicks, radius=5, negatives=neg, targets=[True, False, True],
                          max_gap=1, half=6, search=6)
    assert len(out[1]['points']) == 0 and len(out[2]['points']) == 0
    out = propagate_video(frames, clicks, radius=5, negatives=neg, half=6, search=6)
    assert len(out[1]['points']) == 2


def test_confirm_in_video_weak_peaks_where_a_confident_one_lands():
    # frame 0's teacher is confident on blobs 0 and 1; frame 1's sees them
    # weakly (plus a weak peak on plain texture): blob 0 is confirmed, the
    # texture peak is not, and blob 1 is already a label of frame 1
    img, blobs = scene()
    views = [(20, 20), (27, 16)]
    frames = [crop(img, ox, oy) for ox, oy in views]
    confident = [blobs[:2] - views[0], np.zeros((0, 2))]
    weak = [np.zeros((0, 2)), np.array([blobs[0] - views[1] + [1.5, -1.0], [20.0, 110.0]])]
    known = [np.zeros((0, 2)), blobs[1:2] - views[1]]
    masks = confirm_in_video(frames, confident, weak, known, radius=5, half=6, search=6)
    assert masks[0].shape == (0, ) and masks[1].tolist() == [True, False]
    # the weak peak 6 px off is not the carried nodule
    weak[1][0] = blobs[0] - views[1] + [6.0, 0.0]
    assert confirm_in_video(frames, confident, weak, known, 5, half=6,
                            search=6)[1].tolist() == [False, False]


def test_videos_of_and_read_frames(tmp_path):
    # videos in frame order, frames without a video counted; frames of
    # several sizes cannot be registered; a missing image names its path
    import cv2
    infos = [dict(img_id=1, video_id=2, frame_id=1), dict(img_id=2, video_id=1, frame_id=0),
             dict(img_id=3, video_id=2, frame_id=0), dict(img_id=4, video_id=None)]
    videos, alone = videos_of(infos)
    assert [[i['img_id'] for i in v] for v in videos] == [[2], [3, 1]] and alone == 1
    for name, size in (('a', (20, 30)), ('b', (20, 30)), ('c', (21, 30))):
        cv2.imwrite(str(tmp_path / f'{name}.png'), np.full(size + (3, ), 9, np.uint8))
    two = read_frames([dict(img_path=str(tmp_path / n)) for n in ('a.png', 'b.png')])
    assert [f.shape for f in two] == [(20, 30), (20, 30)] and two[0].dtype == np.float32
    assert read_frames([dict(img_path=str(tmp_path / n)) for n in ('a.png', 'c.png')]) is None
    with pytest.raises(FileNotFoundError, match='nope.png'):
        read_frames([dict(img_id=5, img_path=str(tmp_path / 'nope.png'))])


def test_propagate_clicks_tool(data_root, tmp_path):
    tool = load_script('tools/propagate_clicks.py')
    out = str(tmp_path / 'prop.json')
    data, counts = tool.propagate_file(data_root, 10, out=out, log=lambda m: None,
                                       truth='annotations/train_dense.json')
    with open(osp.join(data_root, 'annotations', 'train.json')) as f:
        base = json.load(f)
    carried = [a for a in data['annotations'] if 'propagated' in a]
    assert data['annotations'][:len(base['annotations'])] == base['annotations']
    assert counts['carried'] == len(carried) > 0
    assert counts['clicks'] == sum(a['keypoints'][2] > 0 for a in base['annotations'])
    videos = {im['id']: im['video_id'] for im in base['images']}
    for a in carried:  # from another frame of the same video
        assert a['propagated']['image_id'] != a['image_id']
        assert videos[a['propagated']['image_id']] == videos[a['image_id']]
        assert a['propagated']['ncc'] >= 0.5
    # the carried points are nodules of the generated frames' full truth
    with open(osp.join(data_root, 'annotations', 'train_dense.json')) as f:
        dense = json.load(f)
    truth = {}
    for a in dense['annotations']:
        truth.setdefault(a['image_id'], []).append(a['keypoints'][:2])
    hits = [np.linalg.norm(np.array(truth[a['image_id']]) - a['keypoints'][:2], axis=1).min()
            <= 10 for a in carried]
    assert np.mean(hits) >= 0.9
    # the tool's own check says the same
    assert counts['checked'] == len(carried) and counts['correct'] == sum(hits)
    assert sum(v for k, v in counts.items() if k.startswith('correct ')) == sum(hits)
    # never over an existing file; the dataset reads it
    with pytest.raises(SystemExit, match='exists'):
        tool.propagate_file(data_root, 10, out=out, log=lambda m: None)
    from mmpose_carcinosis.datasets import CarcinosisDataset
    ds = CarcinosisDataset(ann_file=out, data_root=data_root, data_prefix=dict(img='images/'),
                           pipeline=[], test_mode=False)
    assert sum(len(ds[i]['keypoints']) for i in range(len(ds))) == \
        counts['clicks'] + counts['carried']
    assert osp.isfile(osp.join(ROOT, 'tools', 'propagate_clicks.py'))
