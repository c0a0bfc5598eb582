# Runtime shared by every config: MMPose's default runtime, plus
_base_ = ['mmpose::_base_/default_runtime.py']
custom_imports = dict(imports=['mmpose_carcinosis'], allow_failed_imports=False)

default_hooks = dict(
    checkpoint=dict(save_best='point/f1', rule='greater', max_keep_ckpts=3),
    logger=dict(interval=10))
# SyncBuffersHook: BN statistics averaged over GPUs after each epoch;
# EpochSeedHook: every training epoch seeded from (seed, epoch, rank), so a
# resumed run repeats the uninterrupted one exactly (MMEngine keeps no random
# state); ScoreThresholdHook: the validation-chosen score threshold stored in
# every checkpoint saved after a validation (tools/infer.py and
# tools/export_onnx.py apply it)
custom_hooks = [dict(type='SyncBuffersHook'), dict(type='EpochSeedHook'),
                dict(type='ScoreThresholdHook')]
# fixed input size in training and testing: let cuDNN pick kernels
env_cfg = dict(cudnn_benchmark=True)
# the schedules' learning rates are for 1 GPU x 4 frames; --auto-scale-lr
# scales them linearly with the total batch (the loss is a mean over the
# positive pixels of all GPUs, so the gradient does not grow with them)
auto_scale_lr = dict(base_batch_size=4)
