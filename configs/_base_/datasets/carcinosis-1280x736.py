# Carcinosis frames (COCO-style points, docs/data.md): 1280x720 frames fitted
# into 1280x736 (HRNet needs sides that are multiples of 32); all points of a
# frame in one Gaussian heatmap at stride 4, decoded with max-pool NMS, a
# score threshold and top-k (k = 30 nodules per frame).
dataset_type = 'CarcinosisDataset'
data_mode = 'bottomup'  # read by MMPose's inferencer: whole frames, no person boxes
data_root = 'data/carcinosis/'
input_size = (1280, 736)
codec = dict(
    type='MultiInstanceGaussianHeatmap',
    input_size=input_size,
    heatmap_size=(input_size[0] // 4, input_size[1] // 4),
    sigma=2.0,
    merge='max',
    decode_nms_kernel=5,
    decode_topk=30,
    decode_thr=0.1)
meta_keys = ('id', 'img_id', 'img_path', 'ori_shape', 'img_shape',
             'input_size', 'input_center', 'input_scale', 'flip',
             'flip_direction', 'flip_indices', 'dataset_name', 'video_id',
             'frame_id', 'group')
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='PointRandomAffine', input_size=input_size,
         shift_factor=0.1, scale_factor=(0.8, 1.25), scale_type='long',
         rotate_factor=15.),
    dict(type='PointRandomFlip', direction='horizontal'),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs', meta_keys=meta_keys),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='BottomupResize', input_size=input_size, size_factor=32,
         resize_mode='fit'),
    dict(type='PackPoseInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/train.json',
        data_prefix=dict(img='images/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/val.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = dict(
    val_dataloader,
    dataset=dict(val_dataloader['dataset'], ann_file='annotations/test.json'))
# one-to-one matching of points within a radius in original-frame pixels
val_evaluator = dict(type='PointLocalizationMetric', radii=(10., 20., 40.),
                     radius=20.)
test_evaluator = val_evaluator
