# Stage two (self-training) for the study's setup: a student initialised from
# the stage-one HRNet-w32 Crag and Tail model learns from the clicks and from
# the frozen stage-one teacher's confident predictions.
#   python tools/train.py configs/hrnet_cragtail_stage2.py \
#       --cfg-options model.stage_one=work_dirs/hrnet_cragtail/best_point_f1_epoch_N.pth
# EMA teacher: custom_hooks = custom_hooks_ema; rounds (the teacher replaced
# by the best student every 10 epochs): custom_hooks = custom_hooks_rounds.
# PseudoThresholdHook sets high_thr / low_thr on the dense validation split
# before training (docs/stage_two.md).
_base_ = ['./hrnet_cragtail.py']
custom_imports = dict(imports=['mmpose_carcinosis', 'mmdet.engine.hooks'],
                      allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='PointSelfTraining',
    detector={{_base_.model}},
    stage_one=None,
    high_thr=0.3,
    low_thr=0.1,
    click_radius=2.5,
    ramp_iters=500,
    student_noise=dict(brightness=0.2, contrast=0.2, noise=0.05),
    predict_on='student',
    teacher_flip=True)

train_cfg = dict(max_epochs=30, val_interval=5)
optim_wrapper = dict(optimizer=dict(lr=0.001))
param_scheduler = [
    dict(type='CosineAnnealingLR', begin=0, end=30, T_max=30, by_epoch=True, eta_min=1e-5),
]
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='EpochSeedHook'),
    dict(type='ScoreThresholdHook'),
    dict(type='PseudoThresholdHook', precision=0.9, low_ratio=1 / 3, frame_cap=2.0),
    # where the training frames have dense truth (e.g. a densely annotated subset)
    # dict(type='PseudoLabelQualityHook', dense_ann_file='annotations/train_dense.json'),
]
custom_hooks_ema = custom_hooks + [dict(type='mmdet.MeanTeacherHook', momentum=0.001)]
custom_hooks_rounds = custom_hooks + [dict(type='TeacherRefreshHook', interval=10, source='best')]
