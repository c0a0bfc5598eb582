# The CPU demo (make demo): the main config on small synthetic frames with a
# slimmer HRNet (w18 widths, one module per stage, a lighter stem stage), no
# pretrained weights, about 8 minutes of training on 2 cores. Trained from
# scratch in that budget, SGD barely moves (no point above the threshold
# after 10 epochs); Adam gets there, so the demo uses Adam.
_base_ = ['./hrnet_cragtail.py']

input_size = (480, 288)  # 480x270 frames fitted, multiples of 32
codec = dict(
    type='MultiInstanceGaussianHeatmap',
    input_size=input_size,
    heatmap_size=(input_size[0] // 4, input_size[1] // 4),
    sigma=1.5,
    merge='max',
    decode_nms_kernel=3,
    decode_topk=30,
    decode_thr=0.1)

model = dict(
    backbone=dict(
        init_cfg=None,
        extra=dict(
            stage1=dict(num_blocks=(2, ), num_channels=(32, )),
            stage2=dict(num_channels=(18, 36)),
            stage3=dict(num_modules=1, num_channels=(18, 36, 72)),
            stage4=dict(num_modules=1, num_channels=(18, 36, 72, 144)))),
    head=dict(in_channels=18, decoder=codec),
    test_cfg=dict(flip_test=False))

train_cfg = dict(max_epochs=30, val_interval=10)
param_scheduler = [
    dict(type='LinearLR', begin=0, end=30, start_factor=0.01, by_epoch=False),
    dict(type='CosineAnnealingLR', begin=0, end=30, T_max=30, by_epoch=True,
         eta_min=1e-5),
]
optim_wrapper = dict(
    _delete_=True,
    optimizer=dict(type='Adam', lr=2e-3),
    clip_grad=dict(max_norm=35., norm_type=2))
default_hooks = dict(logger=dict(interval=5))

data_root = 'data/synthetic/'
meta_keys = ('id', 'img_id', 'img_path', 'ori_shape', 'img_shape',
             'input_size', 'input_center', 'input_scale', 'flip',
             'flip_direction', 'flip_indices', 'dataset_name', 'video_id',
             'frame_id', 'group')
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='PointRandomAffine', input_size=input_size,
         shift_factor=0.1, scale_factor=(0.8, 1.25), scale_type='long',
         rotate_factor=15.),
    dict(type='RandomFlip', direction='horizontal'),
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
    batch_size=4, num_workers=1,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=1,
    dataset=dict(data_root=data_root, pipeline=val_pipeline))
test_dataloader = dict(
    batch_size=4, num_workers=1,
    dataset=dict(data_root=data_root, pipeline=val_pipeline))

# radii for 480x270 frames (nodules 3-7 px in radius)
val_evaluator = dict(radii=(5., 10., 20.), radius=10.)
test_evaluator = val_evaluator
