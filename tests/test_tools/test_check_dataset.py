"""tools/check_dataset.py finds every planted fault of a generated set in
one run, and training refuses to start on the cheap ones."""
import json
import os.path as osp
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from mmpose.registry import DATASETS

from mmpose_carcinosis.datasets import DataCheckError

from helpers import ROOT  # noqa: E402
CONFIG = osp.join(ROOT, 'configs', 'cragtail_hrnet-w18s_1xb4-30e_synthetic-480x288.py')


def _edit(root, split, fn):
    path = osp.join(root, 'annotations', f'{split}.json')
    with open(path) as f:
        d = json.load(f)
    fn(d)
    with open(path, 'w') as f:
        json.dump(d, f)
    return d


@pytest.fixture
def planted(tmp_path):
    root = str(tmp_path / 'data')
    subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'make_synthetic_dataset.py'),
                    root, '--videos', '2', '1', '1', '--frames-per-video', '3',
                    '--size', '96', '64', '--nodule-radius', '2', '3'],
                   check=True, capture_output=True)
    img = osp.join(root, 'images')
    # missing: a training frame deleted
    (tmp_path / 'data' / 'images' / 'train' / 'v001_f0001.jpg').unlink()
    # truncated: a validation JPEG cut in half
    path = osp.join(img, 'val', 'v003_f0000.jpg')
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:len(data) // 2])
    # wrong size: a test frame rewritten at another size
    cv2.imwrite(osp.join(img, 'test', 'v004_f0002.jpg'), np.zeros((32, 48, 3), np.uint8))
    # duplicate: a training frame copied into the test split under a new name
    shutil.copy(osp.join(img, 'train', 'v002_f0000.jpg'), osp.join(img, 'test', 'extra.jpg'))

    def add_copy(d):
        d['images'].append(dict(d['images'][0], id=999, file_name='test/extra.jpg'))
    _edit(root, 'test', add_copy)

    # leakage: a validation frame claims a training video; listed twice:
    # a training frame appears in two records
    def leak(d):
        d['images'][1]['video_id'] = 1
    _edit(root, 'val', leak)

    def twice(d):
        d['images'].append(dict(d['images'][2], id=998))
    _edit(root, 'train', twice)
    return root


def test_every_planted_fault_in_one_run(planted):
    opts = [f'{s}_dataloader.dataset.data_root={planted}/' for s in ('train', 'val', 'test')]
    p = subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'check_dataset.py'), CONFIG,
                        '--cfg-options', *opts], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 1, p.stdout + p.stderr
    lines = [l for l in p.stdout.splitlines() if l.startswith('error: ')]
    expected = {  # kind: (annotation file, record, text)
        'missing': ('train.json', 'images[1] (id=2)', 'v001_f0001.jpg does not exist'),
        'listed-twice': ('train.json', 'images[6] (id=998)', 'is already listed by images[2]'),
        'truncated': ('val.json', 'images[0] (id=7)', 'v003_f0000.jpg is truncated'),
        'video-leak': ('val.json', 'images[1] (id=8)', "video_id 1 is in splits train and val"),
        'size': ('test.json', 'images[2] (id=12)', 'v004_f0002.jpg is 48x32, the record says 96x64'),
        'duplicate': ('test.json', 'images[3] (id=999)', 'extra.jpg has the same bytes as'),
    }
    for kind, (ann, record, text) in expected.items():
        hits = [l for l in lines if f'{ann}: {record}: ' in l and text in l]
        assert len(hits) == 1, (kind, '\n'.join(lines))
    assert len(lines) == len(expected), lines
    assert p.stdout.strip().endswith('fix them before training')


def test_clean_set_passes_and_training_refuses_planted(planted, tmp_path):
    clean = str(tmp_path / 'clean')
    subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'make_synthetic_dataset.py'),
                    clean, '--videos', '1', '1', '1', '--frames-per-video', '2',
                    '--size', '96', '64'], check=True, capture_output=True)
    opts = [f'{s}_dataloader.dataset.data_root={clean}/' for s in ('train', 'val', 'test')]
    p = subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'check_dataset.py'), CONFIG,
                        '--cfg-options', *opts], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0 and 'data set OK' in p.stdout, p.stdout + p.stderr
    # the training set, built as the Runner builds it, refuses the planted
    # faults it can see cheaply, all at once
    cfg = dict(type='CarcinosisDataset', data_root=planted + '/',
               ann_file='annotations/train.json', data_prefix=dict(img='images/'),
               pipeline=[])
    with pytest.raises(DataCheckError) as e:
        DATASETS.build(cfg)
    text = str(e.value)
    assert 'v001_f0001.jpg does not exist' in text and 'already listed by' in text
