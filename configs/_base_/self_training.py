# Stage two (self-training): what a pseudo label is and when thresholds are
# chosen. A leaf config wraps its stage-one model:
#   model = dict(_base_.self_training, _delete_=True, detector=_base_.model)
#   custom_hooks = _base_.custom_hooks + _base_.stage_two_hooks
semi_train_cfg = dict(
    # a pseudo label: a teacher peak at or above high_thr farther than
    # click_radius frame pixels from every click; peaks in [low_thr, high_thr)
    # are left out of the loss. PseudoThresholdHook sets both (and
    # max_pseudo_per_frame) on the validation split before training; these
    # values are used only without it.
    high_thr=0.3,
    low_thr=0.1,
    max_pseudo_per_frame=None,
    click_radius=10.,
    ramp_iters=500,
    student_noise=dict(brightness=0.2, contrast=0.2, noise=0.05),
    # the teacher's heatmap is the mean over the frame and its mirror
    # (MMPose's flip test): far fewer confident false peaks
    teacher_flip=True)
self_training = dict(
    type='PointSelfTraining',
    semi_train_cfg=semi_train_cfg,
    semi_test_cfg=dict(predict_on='student'),
    # the stage-one checkpoint: --cfg-options model.init_cfg.checkpoint=CKPT
    init_cfg=dict(type='Pretrained', checkpoint=None))
# precision 0.9 on the dense validation split, low a third of high; a frame
# with more than twice the confident peaks of any validation frame has them
# ignored (docs/stage_two.md)
stage_two_hooks = [
    dict(type='PseudoThresholdHook', precision=0.9, low_ratio=1 / 3, frame_cap=2.0)]
# the easy-to-hard rounds (selftrain_* configs) add to it: the first
# teacher's threshold the lowest at which its validation peaks as a whole
# are 0.9 precise, every refreshed teacher's at 0.95 (it is bolder on the
# training frames it learned from than on validation), the ignored band
# [low_thr, high_thr) down to where the validation peaks below high_thr stop
# being half precise (docs/stage_two.md, "The ignored band and refreshed
# teachers")
rounds_threshold = dict(precision_scan='lowest', refresh_precision=0.95, band_precision=0.5)
