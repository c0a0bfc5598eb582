"""tools/masks_to_points.py: instance label images -> point data set, on
small constructed label stacks with hand-checked centres, contrasts,
groups, clicks, tiles, the time split and every input error."""
import json

import cv2
import numpy as np
import pytest
import tifffile

from helpers import load_script


@pytest.fixture(scope='module')
def m2p():
    return load_script('tools/masks_to_points.py')


def _stack(frames=5, h=40, w=60):
    """Frames (T, H, W) uint16 and labels: per frame
    1: a bright 6x6 square at x 27..32, y 17..22 (centre 29.5, 19.5), value 220
    2: a dim 2x3 block at x 1..3, y 1..2 (centre 2, 1.5), value 70
    3: a medium 4x4 square at x 45..48, y 30..33 (centre 46.5, 31.5), value 120
    background 20."""
    img = np.full((frames, h, w), 20, np.uint16)
    lab = np.zeros((frames, h, w), np.uint16)
    for i, (x0, y0, x1, y1, v) in enumerate([(27, 17, 33, 23, 220), (1, 1, 4, 3, 70),
                                             (45, 30, 49, 34, 120)], 1):
        img[:, y0:y1, x0:x1] = v
        lab[:, y0:y1, x0:x1] = i
    return img, lab


def _write(tmp_path, img, lab):
    tmp_path.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(tmp_path / 'img.tif', img)
    tifffile.imwrite(tmp_path / 'lab.tif', lab)
    return str(tmp_path / 'img.tif'), str(tmp_path / 'lab.tif')


def _load(out, split):
    with open(out / 'annotations' / f'{split}.json') as f:
        return json.load(f)


def _convert(m2p, tmp_path, img, lab, **kw):
    i, l_ = _write(tmp_path, img, lab)
    out = tmp_path / 'out'
    kw = dict(dict(percentiles=(0, 100), min_area=1, clicks=(2, 2), empty_prob=0.0), **kw)
    summary = m2p.convert(str(out), [i], [l_], log=lambda *a: None, **kw)
    return out, summary


def test_centres_contrast_groups_and_time_split(m2p, tmp_path):
    out, summary = _convert(m2p, tmp_path, *_stack())
    # 5 frames, fractions 0.6 / 0.2 / 0.2: frames 0-2 train, 3 val, 4 test
    assert summary['train'] == (3, 6) and summary['val'] == (1, 3) and summary['test'] == (1, 3)
    assert summary['train_dense'] == (3, 9)
    test = _load(out, 'test')
    assert [im['frame_id'] for im in test['images']] == [4]
    assert [im['frame_id'] for im in _load(out, 'train')['images']] == [0, 1, 2]
    pts = {tuple(a['keypoints'][:2]): a for a in test['annotations']}
    assert set(pts) == {(29.5, 19.5), (2.0, 1.5), (46.5, 31.5)}
    assert [pts[(29.5, 19.5)]['area'], pts[(2.0, 1.5)]['area'], pts[(46.5, 31.5)]['area']] \
        == [36, 6, 16]
    # salience: the large bright central square first, the small dim corner
    # block last; one per tercile in every frame
    assert pts[(29.5, 19.5)]['group'] == 'obvious'
    assert pts[(46.5, 31.5)]['group'] == 'medium'
    assert pts[(2.0, 1.5)]['group'] == 'faint'
    # contrast on the written 8-bit image (min-max: 20 -> 0, 220 -> 255):
    # size, contrast and centrality weighted 0.35, 0.35, 0.15 over 0.85
    big = pts[(29.5, 19.5)]
    size = 1.0  # the largest area is above the data set's 95th percentile
    central = 1 - np.hypot(29.5 - 29.5, 19.5 - 19.5) / (0.5 * np.hypot(60, 40))
    assert big['salience'] == pytest.approx((0.35 * size + 0.35 * 1.0 + 0.15 * central) / 0.85,
                                            abs=1e-4)
    png = cv2.imread(str(out / 'images' / test['images'][0]['file_name']), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint8 and png.shape == (40, 60)
    assert png[0, 0] == 0 and png[20, 30] == 255 and png[31, 46] == 128  # (120-20)/200
    # every training frame: exactly 2 clicks among its dense points
    train, dense = _load(out, 'train'), _load(out, 'train_dense')
    per_frame = np.bincount([a['image_id'] for a in train['annotations']])
    assert sorted(per_frame[per_frame > 0]) == [2, 2, 2]
    dense_pts = {(a['image_id'], tuple(a['keypoints'])) for a in dense['annotations']}
    assert {(a['image_id'], tuple(a['keypoints'])) for a in train['annotations']} <= dense_pts


def test_salient_annotator_prefers_obvious_and_empty_frames(m2p, tmp_path):
    img, lab = _stack(frames=100)
    out, _ = _convert(m2p, tmp_path, img, lab, clicks=(1, 1), empty_prob=0.2,
                      fractions=(1, 0, 0))
    train = _load(out, 'train')
    groups = [a['group'] for a in train['annotations']]
    # about 80 frames with a click; exp(15 s) makes the obvious square
    # (salience ~0.8 against ~0.4 and ~0.1) nearly always the one clicked
    assert 65 <= len(groups) <= 95
    assert groups.count('obvious') >= 0.95 * len(groups)
    out_u, _ = _convert(m2p, tmp_path / 'u', img, lab, clicks=(1, 1), empty_prob=0.2,
                        fractions=(1, 0, 0), click_bias='uniform')
    groups_u = [a['group'] for a in _load(out_u, 'train')['annotations']]
    assert 0.2 < groups_u.count('faint') / len(groups_u) < 0.5


def test_tiles_are_frames_of_one_field_each(m2p, tmp_path):
    img, lab = _stack(frames=5)
    out, summary = _convert(m2p, tmp_path, img, lab, tile=(30, 40))
    # two crops per frame: x 0..29 and x 30..59; the bright square (x 27..32)
    # is cut: its parts are 3x6 (centre 28, 19.5) and 3x6 (centre 31 -> 1 in the crop)
    assert summary['test'][0] == 2
    test = _load(out, 'test')
    by_tile = {tuple(im['tile']): im for im in test['images']}
    assert set(by_tile) == {(0, 0), (30, 0)}
    assert all(im['width'] == 30 and im['height'] == 40 for im in test['images'])
    pts = {(tuple(by_tile_im['tile']), tuple(a['keypoints'][:2]))
           for by_tile_im in test['images'] for a in test['annotations']
           if a['image_id'] == by_tile_im['id']}
    assert pts == {((0, 0), (28.0, 19.5)), ((0, 0), (2.0, 1.5)),
                   ((30, 0), (1.0, 19.5)), ((30, 0), (16.5, 31.5))}
    # one video per tile position, the frame id is the time index
    videos = {(im['video_id'], tuple(im['tile'])) for s in ('train', 'val', 'test')
              for im in _load(out, s)['images']}
    assert len(videos) == 2 and len({v for v, _ in videos}) == 2
    assert sorted(im['frame_id'] for im in _load(out, 'train')['images']) == [0, 0, 1, 1, 2, 2]
    assert m2p.tile_origins(70, 40, (30, 40)) == [(0, 0), (20, 0), (40, 0)]


def test_crop_border_leaves_out_the_frame_edge(m2p, tmp_path):
    # 4 px off every side of the 60x40 frames: x 4..55, y 4..35 kept; the
    # dim block at x 1..3 is gone; two 26x32 tiles at x 4 and 30 cut the
    # bright square (x 27..32) into x 27..29 (centre 28 -> 24 in the first
    # crop) and x 30..32 (centre 31 -> 1 in the second)
    img, lab = _stack(frames=5)
    out, _ = _convert(m2p, tmp_path, img, lab, tile=(26, 32), crop_border=4)
    test = _load(out, 'test')
    assert all(im['width'] == 26 and im['height'] == 32 for im in test['images'])
    pts = {(tuple(im['tile']), tuple(a['keypoints'][:2]))
           for im in test['images'] for a in test['annotations'] if a['image_id'] == im['id']}
    assert pts == {((4, 4), (24.0, 15.5)), ((30, 4), (1.0, 15.5)), ((30, 4), (16.5, 27.5))}
    crop = cv2.imread(str(out / 'images' / test['images'][0]['file_name']), cv2.IMREAD_UNCHANGED)
    assert crop.shape[:2] == (32, 26) and test['images'][0]['file_name'].endswith('_x4_y4.png')
    assert _load(out, 'train')['info']['crop_border'] == 4
    # without tiles the whole frame less its border is one frame
    out, _ = _convert(m2p, tmp_path / 'whole', img, lab, crop_border=4)
    test = _load(out, 'test')
    assert (test['images'][0]['width'], test['images'][0]['height']) == (52, 32)
    assert sorted(tuple(a['keypoints'][:2]) for a in test['annotations']
                  if a['image_id'] == test['images'][0]['id']) == [(25.5, 15.5), (42.5, 27.5)]
    with pytest.raises(m2p.ConversionError, match=r'img\.tif: --crop-border 20 leaves nothing'):
        _convert(m2p, tmp_path / 'none', img, lab, crop_border=20)


def test_min_area_and_split_by_video(m2p, tmp_path):
    img, lab = _stack(frames=2)
    paths = []
    for v in range(3):
        d = tmp_path / f'v{v}'
        d.mkdir()
        paths.append(_write(d, img, lab))
    out = tmp_path / 'out'
    summary = m2p.convert(str(out), [p[0] for p in paths], [p[1] for p in paths],
                          split='video', fractions=(1, 1, 1), min_area=10, percentiles=(0, 100), log=lambda *a: None)
    # one video per split; the 6-pixel block left out everywhere
    assert [summary[s][0] for s in ('train', 'val', 'test')] == [2, 2, 2]
    assert summary['test'][1] == 4
    assert {im['source_video'] for im in _load(out, 'val')['images']} == {1}


def test_folder_of_png_frames(m2p, tmp_path):
    img, lab = _stack(frames=5)
    for name, arr in (('img', img.astype(np.uint8)), ('lab', lab)):
        (tmp_path / name).mkdir()
        for t, frame in enumerate(arr):
            cv2.imwrite(str(tmp_path / name / f'{t:03d}.png'), frame)
    out = tmp_path / 'out'
    summary = m2p.convert(str(out), [str(tmp_path / 'img')], [str(tmp_path / 'lab')],
                          percentiles=(0, 100), min_area=1, log=lambda *a: None)
    assert summary['test'] == (1, 3)
    assert _load(out, 'test')['images'][0]['source'] == '004.png'


def test_errors_name_the_file(m2p, tmp_path):
    img, lab = _stack()
    with pytest.raises(m2p.ConversionError, match=r'lab\.tif: label frames are 50x40 \(WxH\)'):
        _convert(m2p, tmp_path / 'a', img, np.zeros((5, 40, 50), np.uint16))
    with pytest.raises(m2p.ConversionError, match=r'lab\.tif: 4 label frames for 5 frames'):
        _convert(m2p, tmp_path / 'b', img, lab[:4])
    with pytest.raises(m2p.ConversionError, match=r'lab\.tif: label images must hold integer'):
        _convert(m2p, tmp_path / 'c', img, lab.astype(np.float32) + 0.5)
    with pytest.raises(m2p.ConversionError, match=r'img\.tif: empty stack'):
        _convert(m2p, tmp_path / 'd', img[:0], lab[:0])
    with pytest.raises(m2p.ConversionError, match='no instance in any label image'):
        _convert(m2p, tmp_path / 'e', img, np.zeros_like(lab))
    # an existing data set is never overwritten
    out, _ = _convert(m2p, tmp_path / 'f', img, lab)
    with pytest.raises(m2p.ConversionError, match='already holds annotations'):
        m2p.convert(str(out), [str(tmp_path / 'f' / 'img.tif')],
                    [str(tmp_path / 'f' / 'lab.tif')], log=lambda *a: None)
    # the command line: one line on stderr, exit status 1
    code = m2p.main([str(tmp_path / 'g'), '--images', str(tmp_path / 'f' / 'img.tif'),
                     '--labels', str(tmp_path / 'missing.tif')])
    assert code == 1
