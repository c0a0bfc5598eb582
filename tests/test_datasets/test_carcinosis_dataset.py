import logging
import math

import cv2
import numpy as np
import pytest
from mmengine.logging import MMLogger
from mmpose.registry import DATASETS

from mmpose_carcinosis.datasets import AnnotationError, DataCheckError

IMAGES = [
    dict(id=1, file_name='a.jpg', width=96, height=64, video_id=3, frame_id=0),
    dict(id=2, file_name='b.jpg', width=96, height=64, video_id=3, frame_id=1),
    dict(id=7, file_name='c.jpg', width=96, height=64),
]
ANNS = [
    dict(id=10, image_id=2, category_id=1, keypoints=[20.5, 30.0, 2], num_keypoints=1),
    dict(id=11, image_id=1, category_id=1, keypoints=[5.0, 6.0, 2], num_keypoints=1),
    dict(id=12, image_id=2, category_id=1, keypoints=[70.0, 40.25, 1], num_keypoints=1),
]
CATS = [dict(id=1, name='carcinosis', keypoints=['carcinosis'], skeleton=[])]


def build(ann_file, **kw):
    # parsing only: these frames have no image files
    kw.setdefault('check_files', False)
    return DATASETS.build(dict(type='CarcinosisDataset', ann_file=ann_file,
                               data_prefix=dict(img='imgs/'), pipeline=[], **kw))


@pytest.mark.parametrize('test_mode', [False, True])
def test_frames_points_and_metainfo(ann_factory, test_mode):
    ds = build(ann_factory(IMAGES, ANNS, categories=CATS), test_mode=test_mode)
    assert len(ds) == 3  # the frame without points is kept in both modes
    a, b, c = (ds.get_data_info(i) for i in range(3))
    assert a['img_id'] == 1 and a['img_path'].endswith('imgs/a.jpg')
    np.testing.assert_allclose(a['keypoints'], [[[5.0, 6.0]]])
    assert b['keypoints'].shape == (2, 1, 2) and b['keypoints'].dtype == np.float32
    np.testing.assert_allclose(b['keypoints'][:, 0], [[20.5, 30.0], [70.0, 40.25]])
    assert b['id'] == [10, 12]
    assert b['group'] == [None, None]
    assert (b['video_id'], b['frame_id']) == (3, 1)
    assert c['keypoints'].shape == (0, 1, 2) and c['keypoints_visible'].shape == (0, 1)
    assert c['video_id'] is None
    assert ds.metainfo['dataset_name'] == 'carcinosis'
    assert ds.metainfo['num_keypoints'] == 1
    assert list(ds.metainfo['flip_indices']) == [0]


def test_pipeline_on_a_frame_without_points(tmp_path, ann_factory):
    (tmp_path / 'imgs').mkdir()
    for im in IMAGES:
        cv2.imwrite(str(tmp_path / 'imgs' / im['file_name']),
                    np.full((64, 96, 3), 128, np.uint8))
    codec = dict(type='MultiInstanceGaussianHeatmap', input_size=(96, 64),
                 heatmap_size=(24, 16), sigma=1.5)
    pipeline = [
        dict(type='LoadImage'),
        dict(type='PointRandomAffine', input_size=(96, 64), scale_type='long'),
        dict(type='PointRandomFlip', direction='horizontal'),
        dict(type='GenerateTarget', encoder=codec),
        dict(type='PackPoseInputs', meta_keys=('img_id', 'video_id', 'frame_id',
                                                 'input_size', 'flip_indices')),
    ]
    ds = DATASETS.build(dict(type='CarcinosisDataset', data_root=str(tmp_path),
                             ann_file=ann_factory(IMAGES, ANNS),
                             data_prefix=dict(img='imgs/'), pipeline=pipeline))
    empty = ds[2]['data_samples']
    assert empty.gt_fields.heatmaps.shape == (1, 16, 24)
    assert float(empty.gt_fields.heatmaps.max()) == 0.0
    # no confirmed negatives: no map (nothing for the loss to do)
    assert 'negatives' not in empty.gt_fields
    full = ds[1]['data_samples']
    assert float(full.gt_fields.heatmaps.max()) > 0.5
    assert full.metainfo['video_id'] == 3 and full.metainfo['frame_id'] == 1


@pytest.mark.parametrize('images,anns,message', [
    (IMAGES, [dict(id=5, image_id=1, category_id=1)],
     r'annotations\[0\] \(id=5\): missing key\(s\) \[\'keypoints\'\]'),
    (IMAGES, ANNS + [dict(id=6, image_id=99, keypoints=[1, 2, 2])],
     r'annotations\[3\] \(id=6\): image_id 99 is not in "images"'),
    (IMAGES, [dict(id=8, image_id=1, keypoints=[1, 'x', 2])],
     r'annotations\[0\] \(id=8\): keypoints must be \[x, y, v\]'),
    (IMAGES, [dict(id=9, image_id=1, keypoints=[1, math.nan, 2])],
     r'annotations\[0\] \(id=9\): keypoints must be \[x, y, v\] with finite'),
    (IMAGES, [dict(id=4, image_id=1, keypoints=[1, 2, 2, 3, 4, 2])],
     r'one keypoint per annotation'),
    ([dict(id=1, file_name='a.jpg', width=96)], [],
     r'images\[0\] \(id=1\): missing key\(s\) \[\'height\'\]'),
    (IMAGES + [dict(IMAGES[0])], [], r'images\[3\] \(id=1\): duplicate image id'),
    (IMAGES, [dict(id=3, image_id=1, keypoints=[1, 2, 2], group=2)],
     r'annotations\[0\] \(id=3\): group must be a string .*got 2'),
])
def test_malformed_files_name_file_and_record(ann_factory, images, anns, message):
    path = ann_factory(images, anns, name='bad.json')
    with pytest.raises(AnnotationError, match=message) as e:
        build(path)
    assert 'bad.json' in str(e.value)


def test_not_json_and_missing_file(tmp_path):
    bad = tmp_path / 'broken.json'
    bad.write_text('{"images": [')
    with pytest.raises(AnnotationError, match='broken.json: not valid JSON'):
        build(str(bad))
    with pytest.raises(FileNotFoundError, match='nope.json'):
        build(str(tmp_path / 'nope.json'))
    top = tmp_path / 'top.json'
    top.write_text('{"images": []}')
    with pytest.raises(AnnotationError, match=r"top.json: top level: missing key\(s\) \['annotations'\]"):
        build(str(top))


def test_points_outside_frames_are_counted_and_dropped(ann_factory):
    anns = ANNS + [dict(id=20, image_id=1, keypoints=[200.0, 5.0, 2]),
                   dict(id=21, image_id=1, keypoints=[-1.0, 5.0, 2]),
                   dict(id=22, image_id=7, keypoints=[3.0, 3.0, 0])]
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        ds = build(ann_factory(IMAGES, anns))
    finally:
        logger.removeHandler(handler)
    assert ds.get_data_info(0)['keypoints'].shape == (1, 1, 2)
    assert ds.get_data_info(2)['keypoints'].shape == (0, 1, 2)
    text = '\n'.join(r.getMessage() for r in records)
    assert 'dropped 2 point(s) outside their frame (first: annotation id 20)' in text
    assert 'ignored 1 annotation(s) with visibility 0' in text


def test_groups_are_kept_per_point_and_packed(tmp_path, ann_factory):
    # the optional "group" follows its point through the grouping by frame
    # and reaches the data sample as a meta key, aligned with the points
    anns = [dict(a, group=g) for a, g in zip(ANNS, ['faint', 'obvious', 'medium'])]
    (tmp_path / 'imgs').mkdir()
    for im in IMAGES:
        cv2.imwrite(str(tmp_path / 'imgs' / im['file_name']),
                    np.full((64, 96, 3), 128, np.uint8))
    pipeline = [dict(type='LoadImage'),
                dict(type='BottomupResize', input_size=(96, 64), size_factor=32,
                     resize_mode='fit'),
                dict(type='PackPoseInputs', meta_keys=('img_id', 'group'))]
    ds = DATASETS.build(dict(type='CarcinosisDataset', data_root=str(tmp_path),
                             ann_file=ann_factory(IMAGES, anns), test_mode=True,
                             data_prefix=dict(img='imgs/'), pipeline=pipeline))
    assert ds.get_data_info(1)['group'] == ['faint', 'medium']
    assert ds.get_data_info(0)['group'] == ['obvious']
    sample = ds[1]['data_samples']
    assert sample.metainfo['group'] == ['faint', 'medium']
    np.testing.assert_allclose(sample.gt_instances.keypoints[:, 0],
                               [[20.5, 30.0], [70.0, 40.25]])


def test_missing_and_twice_listed_frames_refuse_or_skip(tmp_path, ann_factory):
    # every problem at once, each naming the file and the record; with
    # skip_invalid the frames are dropped, counted and listed
    (tmp_path / 'imgs').mkdir()
    cv2.imwrite(str(tmp_path / 'imgs' / 'a.jpg'), np.zeros((64, 96, 3), np.uint8))
    images = [IMAGES[0], IMAGES[1], dict(IMAGES[0], id=9)]  # b.jpg missing; a.jpg twice
    ann = ann_factory(images, ANNS, name='frames.json')
    cfg = dict(type='CarcinosisDataset', ann_file=ann, data_root=str(tmp_path),
               data_prefix=dict(img='imgs/'), pipeline=[])
    with pytest.raises(DataCheckError) as e:
        DATASETS.build(cfg)
    lines = str(e.value).splitlines()
    assert '2 problem(s)' in lines[0]
    assert any('frames.json: images[1] (id=2): image file' in l and 'b.jpg does not exist' in l
               for l in lines)
    assert any('frames.json: images[2] (id=9): a.jpg is already listed by images[0] (id=1)'
               in l for l in lines)
    logger = MMLogger.get_instance('skip-test', log_file=str(tmp_path / 'run.log'))
    MMLogger._instance_dict.move_to_end('skip-test')  # make it the current one
    ds = DATASETS.build(dict(cfg, skip_invalid=True))
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == [1]
    assert len(ds.skipped) == 2
    listed = (tmp_path / 'skipped_frames.jsonl').read_text()
    assert 'b.jpg does not exist' in listed and 'frames.json' in listed
    del logger


@pytest.mark.parametrize('size', [(480, 270), (550, 350)])
def test_flipped_points_stay_on_their_nodules(size):
    # a bright dot with a click on it and a rejected point on another dot:
    # after the bottom-up affine to 480x288 and a horizontal flip, both
    # points are where the image puts their dots. MMPose's RandomFlip reads
    # input_size (w, h) as (h, w) and put the click 192 px off (mmpose#2925)
    from mmpose.registry import TRANSFORMS
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    img[29:32, 19:22] = 255  # 3x3 dots, centred on the points
    img[99:102, 299:302] = 120
    affine = TRANSFORMS.build(dict(type='PointRandomAffine', input_size=(480, 288),
                                   shift_factor=0.0, scale_factor=(1.0, 1.0),
                                   scale_type='long', rotate_factor=0.0))
    for flip_type, expect_ok in (('PointRandomFlip', True), ('RandomFlip', False)):
        flip = TRANSFORMS.build(dict(type=flip_type, direction='horizontal', prob=1.0))
        res = affine(dict(img=img.copy(), img_shape=(h, w), ori_shape=(h, w),
                          keypoints=np.array([[[20.0, 30.0]]], np.float32),
                          keypoints_visible=np.ones((1, 1), np.float32), flip_indices=[0],
                          negative_keypoints=np.array([[300.0, 100.0]], np.float32)))
        res = flip(res)
        ys, xs = np.nonzero(res['img'][..., 0] == res['img'][..., 0].max())
        kp = res['keypoints'][0, 0]
        ok = abs(kp[0] - xs.mean()) <= 1.5 and abs(kp[1] - ys.mean()) <= 1.5
        assert ok == expect_ok, (flip_type, kp, xs.mean(), ys.mean())
        if flip_type == 'PointRandomFlip':
            assert res['input_size'] == (480, 288)
            neg = res['negative_keypoints'][0]
            x0, y0 = int(neg[0]) - 8, int(neg[1]) - 8  # the second dot's window
            grey = res['img'][y0:y0 + 17, x0:x0 + 17, 0].astype(float)
            ys, xs = np.mgrid[y0:y0 + 17, x0:x0 + 17]
            assert grey.sum() > 0  # the dot is there
            dot = np.array([(xs * grey).sum(), (ys * grey).sum()]) / grey.sum()
            assert np.abs(dot - neg).max() <= 1.5, (neg, dot)
