"""tools/import_clicks.py: CVAT, LabelMe and CSV samples round-trip into
files the dataset loads, with exact coordinates; splits by video; errors
name the file and the record."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
from mmpose.registry import DATASETS

from helpers import load_script

# (relative image path, [(x, y), ...]); frames of two videos, one without clicks
CLICKS = {'v01/f2.jpg': [(10.25, 20.5), (30.0, 5.75)],
          'v01/f10.jpg': [(1.5, 2.5)],
          'v02/f1.jpg': [],
          'v02/f3.jpg': [(47.0, 31.0)]}
W, H = 48, 32


@pytest.fixture(scope='module')
def tool():
    return load_script('tools/import_clicks.py')


@pytest.fixture
def images(tmp_path):
    root = tmp_path / 'frames'
    for name in CLICKS:
        (root / osp.dirname(name)).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / name), np.zeros((H, W, 3), np.uint8))
    return root


def write_cvat(path):
    parts = ['<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version>']
    for i, (name, pts) in enumerate(CLICKS.items()):
        parts.append(f'<image id="{i}" name="{name}" width="{W}" height="{H}">')
        if pts:
            text = ';'.join(f'{x:.2f},{y:.2f}' for x, y in pts)
            parts.append(f'<points label="nodule" source="manual" occluded="0" '
                         f'points="{text}" z_order="0"/>')
        parts.append('<box label="instrument" xtl="1" ytl="1" xbr="5" ybr="5"/></image>')
    parts.append('</annotations>')
    path.write_text('\n'.join(parts))


def write_labelme(folder, images):
    for name, pts in CLICKS.items():
        shapes = [dict(label='nodule', points=[[x, y]], shape_type='point') for x, y in pts]
        shapes.append(dict(label='fat', points=[[0, 0], [3, 3]], shape_type='rectangle'))
        json_path = folder / (name.replace('/', '_') + '.json')
        rel = osp.relpath(images / name, folder)
        json_path.write_text(json.dumps(dict(version='5.0.1', imagePath=rel, shapes=shapes,
                                             imageHeight=H, imageWidth=W)))


def write_csv(path):
    lines = ['image,x,y']
    for name, pts in CLICKS.items():
        lines += [f'{name},{x},{y}' for x, y in pts] or [f'{name},,']
    path.write_text('\n'.join(lines) + '\n')


def loaded_points(out, split='train'):
    ds = DATASETS.build(dict(type='CarcinosisDataset', data_root=str(out) + '/',
                             ann_file=f'annotations/{split}.json',
                             data_prefix=dict(img='images/'), pipeline=[]))
    got = {}
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        name = osp.relpath(info['img_path'], str(out / 'images'))
        got[name] = [tuple(map(float, p)) for p in info['keypoints'][:, 0]]
        assert (info['width'], info['height']) == (W, H)
    return got, ds


@pytest.mark.parametrize('fmt', ['cvat', 'labelme', 'csv'])
def test_round_trip_exact_points(tool, tmp_path, images, fmt):
    src = tmp_path / 'src'
    src.mkdir()
    if fmt == 'cvat':
        write_cvat(src / 'annotations.xml')
    elif fmt == 'labelme':
        write_labelme(src, images)
    else:
        write_csv(src / 'clicks.csv')
    out = tmp_path / 'data'
    logs = []
    tool.import_clicks(fmt, [str(src)], str(images), str(out), log=logs.append)
    got, ds = loaded_points(out)
    assert got == {k: [tuple(p) for p in v] for k, v in CLICKS.items()}
    assert osp.islink(out / 'images')  # referenced, not copied
    # videos by folder; frames in natural order (f2 before f10)
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    order = [(i['video_id'], i['frame_id'], osp.basename(i['img_path'])) for i in infos]
    assert order == [(1, 0, 'f2.jpg'), (1, 1, 'f10.jpg'), (2, 0, 'f1.jpg'), (2, 1, 'f3.jpg')]
    if fmt != 'csv':  # the box / rectangle was skipped with a count
        assert any('skipped' in line for line in logs)


def test_split_by_video_with_seed(tool, tmp_path):
    frames = tmp_path / 'frames'
    rows = ['image,x,y']
    for v in range(10):
        for f in range(3):
            name = f'case{v}/img_{f}.png'
            (frames / f'case{v}').mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(frames / name), np.zeros((H, W, 3), np.uint8))
            rows.append(f'{name},{v + 1},{f + 1}')
    (tmp_path / 'c.csv').write_text('\n'.join(rows) + '\n')
    splits = {}
    for run in ('a', 'b'):
        out = tmp_path / run
        tool.import_clicks('csv', [str(tmp_path / 'c.csv')], str(frames), str(out),
                           split=(0.6, 0.2, 0.2), seed=3, log=lambda *a: None)
        splits[run] = {s: json.loads((out / 'annotations' / f'{s}.json').read_text())
                       for s in ('train', 'val', 'test')}
    assert splits['a'] == splits['b']  # reproducible per seed
    videos = {s: {i['video'] for i in d['images']} for s, d in splits['a'].items()}
    assert [len(v) for v in videos.values()] == [6, 2, 2]
    assert not (videos['train'] & videos['val'] or videos['train'] & videos['test']
                or videos['val'] & videos['test'])
    assert sum(len(d['images']) for d in splits['a'].values()) == 30
    # the size of CSV frames is read from the image
    assert splits['a']['train']['images'][0]['width'] == W


@pytest.mark.parametrize('fmt,content,message', [
    ('csv', 'image,x,y\nv01/f2.jpg,3,abc\n', r'bad.csv: line 2: y .abc. is not a number'),
    ('csv', 'image,x\nv01/f2.jpg,3\n', r"bad.csv: header: missing column\(s\) \['y'\]"),
    ('cvat', '<annotations><image id="0" name="v01/f2.jpg" width="48" height="32">'
             '<points label="n" points="1,2;3"/></image></annotations>',
     r"bad.xml: image\[0\] \(name='v01/f2.jpg'\): points '1,2;3' is not"),
    ('cvat', '<annotations><image', r'bad.xml: not valid XML'),
    ('labelme', json.dumps(dict(imagePath='frames/v01/f2.jpg', imageWidth=48, imageHeight=32,
                                shapes=[dict(label='n', points=[[1, 2], [3, 4]],
                                             shape_type='point')])),
     r"bad.json: shapes\[0\] \(label='n'\): a point shape needs points"),
])
def test_malformed_input_names_file_and_record(tool, tmp_path, images, fmt, content, message):
    ext = dict(csv='csv', cvat='xml', labelme='json')[fmt]
    bad = tmp_path / f'bad.{ext}'
    bad.write_text(content)
    with pytest.raises(tool.ClickImportError, match=message):
        tool.import_clicks(fmt, [str(bad)], str(images), str(tmp_path / 'out'),
                           log=lambda *a: None)
