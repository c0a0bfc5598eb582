# HRNet-w32 (ImageNet-pretrained; offline: --cfg-options
# model.backbone.init_cfg=None) + a one-channel point heatmap head at stride 4
# with the Crag and Tail loss. The leaf config sets head.decoder (the codec of
# its data).
model = dict(
    type='BottomupPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='HRNet',
        in_channels=3,
        extra=dict(
            stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK',
                        num_blocks=(4, ), num_channels=(64, )),
            stage2=dict(num_modules=1, num_branches=2, block='BASIC',
                        num_blocks=(4, 4), num_channels=(32, 64)),
            stage3=dict(num_modules=4, num_branches=3, block='BASIC',
                        num_blocks=(4, 4, 4), num_channels=(32, 64, 128)),
            stage4=dict(num_modules=3, num_branches=4, block='BASIC',
                        num_blocks=(4, 4, 4, 4),
                        num_channels=(32, 64, 128, 256))),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmpose/'
            'pretrain_models/hrnet_w32-36af842e.pth')),
    head=dict(
        type='PointHeatmapHead',
        in_channels=32,
        out_channels=1,
        deconv_out_channels=None,
        score_activation='sigmoid',
        loss=dict(type='CragTailLoss', gamma=2.0, lam=1.5, margin=1.0,
                  pos_thr=0.0, pos_weight='target', reinforce_weight=1.0),
        # Start from a low prior P = 0.01 (RetinaNet/CenterNet). Measured:
        # with P = 0.1 the tail gradient of the many unlabeled pixels
        # outweighs the few positives at the first step, every final-layer
        # weight turns negative, nodule features die behind the ReLU and the
        # output stays capped at sigmoid(bias) (benchmark F1 20, AP 4). At
        # P = 0.01 the positives dominate the first steps.
        init_cfg=[
            dict(type='Normal', layer=['Conv2d', 'ConvTranspose2d'],
                 std=0.001,
                 override=dict(type='Normal', name='final_layer', std=0.001,
                               bias_prob=0.01)),
            dict(type='Constant', layer='BatchNorm2d', val=1),
        ]),
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=False))
