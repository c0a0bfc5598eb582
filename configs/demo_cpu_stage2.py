# Stage two of the CPU demo (self-training): a student initialised from the
# stage-one model learns from the clicks and from the frozen stage-one
# teacher's confident predictions. Give the stage-one checkpoint:
#   python tools/train.py configs/demo_cpu_stage2.py \
#       --cfg-options model.stage_one=work_dirs/demo/epoch_30.pth
# (tools/train_two_stage.sh runs both stages). With an EMA teacher instead
# of a frozen one, add MMDetection's MeanTeacherHook, as in
# custom_hooks_ema below; for rounds of self-training (the teacher replaced
# by the best student every 5 epochs), custom_hooks_rounds.
_base_ = ['./demo_cpu.py']
custom_imports = dict(imports=['mmpose_carcinosis', 'mmdet.engine.hooks'],
                      allow_failed_imports=False)

model = dict(
    _delete_=True,
    type='PointSelfTraining',
    detector={{_base_.model}},
    stage_one=None,
    # a pseudo label: a teacher peak at or above high_thr, farther than
    # click_radius heatmap pixels (x4 frame px) from every click; peaks in
    # [low_thr, high_thr) are left out of the loss. PseudoThresholdHook sets
    # both on the validation split before training (precision 0.9, low a
    # third of high); these are used only without it. It also sets
    # max_pseudo_per_frame (frame_cap: a frame with more than twice the
    # confident peaks of any validation frame has them ignored instead).
    high_thr=0.3,
    low_thr=0.1,
    click_radius=2.5,
    ramp_iters=60,
    student_noise=dict(brightness=0.2, contrast=0.2, noise=0.05),
    predict_on='student',
    # the teacher's heatmap is the mean over the frame and its mirror
    # (MMPose's flip test): far fewer confident false peaks
    teacher_flip=True)

train_cfg = dict(max_epochs=10, val_interval=5)
param_scheduler = [
    dict(type='CosineAnnealingLR', begin=0, end=10, T_max=10, by_epoch=True,
         eta_min=1e-5),
]
optim_wrapper = dict(optimizer=dict(type='Adam', lr=5e-4))
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='EpochSeedHook'),
    dict(type='ScoreThresholdHook'),
    dict(type='PseudoThresholdHook', precision=0.9, low_ratio=1 / 3, frame_cap=2.0),
    dict(type='PseudoLabelQualityHook', dense_ann_file='annotations/train_dense.json',
         radius=10.),
]
custom_hooks_ema = custom_hooks + [dict(type='mmdet.MeanTeacherHook', momentum=0.001)]
custom_hooks_rounds = custom_hooks + [dict(type='TeacherRefreshHook', interval=5, source='best')]
