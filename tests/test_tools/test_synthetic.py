"""The synthetic data generator (tools/make_synthetic_dataset.py): the
presets, determinism, nested click budgets and the annotator model."""
import hashlib
import json

import numpy as np
import pytest

from helpers import load_script

SMALL = dict(num_videos=(2, 1, 1), frames_per_video=3, size=(96, 64),
             nodules=(8, 12), nodule_radius=(2.0, 3.0), seed=5)


@pytest.fixture(scope='module')
def gen():
    return load_script('tools/make_synthetic_dataset.py')


def _load(out, split):
    with open(out / 'annotations' / f'{split}.json') as f:
        return json.load(f)


def _generate(gen, out, clicks, **kw):
    gen.generate(str(out), **dict(SMALL, **kw), clicks=clicks, log=lambda *a: None)
    points = {split: sorted((a['image_id'], tuple(a['keypoints']))
                            for a in _load(out, split)['annotations'])
              for split in ('train', 'val', 'test')}
    images = {p.name: p.read_bytes() for p in sorted((out / 'images').rglob('*.jpg'))}
    return points, images


@pytest.mark.parametrize('preset', ['varied', 'classic'])
def test_click_budgets_share_frames_and_nest(gen, tmp_path, preset):
    # the sparse-to-dense sweep compares budgets on the same frames, with the
    # same val/test truth, and fewer clicks are a subset of more clicks
    runs = {c: _generate(gen, tmp_path / str(i), c, preset=preset)
            for i, c in enumerate([(1, 1), (3, 3), (1, 5), None])}
    dense_pts, dense_imgs = runs[None]
    train_counts = []
    for clicks, (pts, imgs) in runs.items():
        assert imgs == dense_imgs
        assert pts['val'] == dense_pts['val'] and pts['test'] == dense_pts['test']
        assert set(pts['train']) <= set(dense_pts['train'])
        train_counts.append(len(pts['train']))
    assert set(runs[(1, 1)][0]['train']) <= set(runs[(3, 3)][0]['train'])
    assert train_counts[0] < train_counts[1] < train_counts[3]


def test_varied_is_deterministic_per_seed(gen, tmp_path):
    a = _generate(gen, tmp_path / 'a', (1, 5))
    b = _generate(gen, tmp_path / 'b', (1, 5))
    c = _generate(gen, tmp_path / 'c', (1, 5), seed=6)
    assert a == b
    assert a[0]['test'] != c[0]['test'] and a[1] != c[1]
    # the click bias changes the clicks only, not the frames or the truth
    u = _generate(gen, tmp_path / 'u', (1, 5), click_bias='uniform')
    assert u[1] == a[1] and u[0]['test'] == a[0]['test']
    assert u[0]['train'] != a[0]['train']


def test_classic_preset_reproduces_the_first_generator(gen, tmp_path):
    # digest of the annotation files the first generator (commit e96bfb8)
    # wrote with these arguments: the classic preset must not drift, so
    # that earlier benchmark results can be reproduced
    gen.generate(str(tmp_path), **SMALL, clicks=(1, 5), preset='classic',
                 log=lambda *a: None)
    h = hashlib.sha256()
    for split in ('train', 'val', 'test'):
        h.update((tmp_path / 'annotations' / f'{split}.json').read_bytes())
    assert h.hexdigest() == ('8b9fd1ade1fdcfe4ed43718acb3a2ceb'
                             '91ba93356dd91df56cbc8dec78bc6fcd')
    assert 'group' not in _load(tmp_path, 'test')['annotations'][0]
    with pytest.raises(ValueError, match='uniform clicks only'):
        gen.generate(str(tmp_path / 'x'), **SMALL, preset='classic',
                     click_bias='salient')


def _click_salience(out):
    """Salience of clicked and unclicked training nodules."""
    dense = _load(out, 'train_dense')['annotations']
    clicked = {(a['image_id'], tuple(a['keypoints'])) for a in _load(out, 'train')['annotations']}
    hit = np.array([(a['image_id'], tuple(a['keypoints'])) in clicked for a in dense])
    sal = np.array([a['salience'] for a in dense])
    return sal[hit], sal[~hit]


def test_annotator_clicks_the_obvious(gen, tmp_path):
    kw = dict(num_videos=(6, 1, 1), frames_per_video=4, size=(160, 96),
              nodule_radius=(1.5, 5.0), clicks=(1, 5), seed=3, log=lambda *a: None)
    gen.generate(str(tmp_path / 's'), **kw)
    gen.generate(str(tmp_path / 'u'), **kw, click_bias='uniform')
    s_click, s_rest = _click_salience(tmp_path / 's')
    u_click, u_rest = _click_salience(tmp_path / 'u')
    assert len(s_click) >= 20 and len(s_rest) >= 100
    # salient annotators click clearly more salient nodules than they skip,
    # and more salient ones than uniform annotators do
    assert s_click.mean() > s_rest.mean() + 0.1
    assert s_click.mean() > u_click.mean() + 0.05
    assert abs(u_click.mean() - u_rest.mean()) < 0.06
    # clicked nodules are mostly "obvious", rarely "faint"
    groups = [a['group'] for a in _load(tmp_path / 's', 'train')['annotations']]
    assert groups.count('obvious') > 0.5 * len(groups) > groups.count('faint')


def test_groups_are_salience_terciles(gen, tmp_path):
    gen.generate(str(tmp_path), **dict(SMALL, num_videos=(3, 2, 2)), log=lambda *a: None)
    anns = [a for s in ('train_dense', 'val', 'test') for a in _load(tmp_path, s)['annotations']]
    sal = np.array([a['salience'] for a in anns])
    grp = np.array([a['group'] for a in anns])
    assert set(grp) == {'faint', 'medium', 'obvious'}
    # ordered and about a third each (cut points from all nodules)
    assert sal[grp == 'faint'].max() <= sal[grp == 'medium'].min() + 1e-4
    assert sal[grp == 'medium'].max() <= sal[grp == 'obvious'].min() + 1e-4
    for g in ('faint', 'medium', 'obvious'):
        assert abs((grp == g).mean() - 1 / 3) < 0.05


def test_videos_written_on_request_without_changing_frames(gen, tmp_path):
    import cv2
    plain = _generate(gen, tmp_path / 'plain', (1, 5))
    gen.generate(str(tmp_path / 'vid'), **SMALL, clicks=(1, 5), video_fps=5,
                 log=lambda *a: None)
    assert {p.name: p.read_bytes() for p in sorted((tmp_path / 'vid' / 'images').rglob('*.jpg'))} \
        == plain[1]
    videos = sorted((tmp_path / 'vid' / 'videos').rglob('*.mp4'), key=lambda v: v.name)
    assert [v.parent.name for v in videos] == ['train', 'train', 'val', 'test']
    cap = cv2.VideoCapture(str(videos[-1]))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == SMALL['frames_per_video']
    assert cap.get(cv2.CAP_PROP_FPS) == 5
