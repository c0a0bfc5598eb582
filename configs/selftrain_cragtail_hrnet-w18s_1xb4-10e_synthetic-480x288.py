# Stage two of the CPU demo (tools/train_two_stage.sh runs both stages), in
# easy-to-hard rounds: the student learns from the clicks and from its
# teacher's confident peaks; every 3 epochs the teacher is replaced by the
# best student so far (4 teachers in 10 epochs) and recalibrated, and the
# pseudo labels two successive teachers agree on are frozen as labels
# (FreezePseudoLabelsHook; they follow each sample's affine and flip, so the
# training pipeline packs 'warp_mat'). Start it from the shipped stage one
# (cragtail-paste_...):
#   python tools/train.py CONFIG --cfg-options model.init_cfg.checkpoint=STAGE_ONE.pth
# One teacher for the whole run: selftrain-single_... (docs/stage_two.md).
_base_ = ['./selftrain-single_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py']

train_dataloader = dict(dataset=dict(pipeline=_base_.train_pipeline[:-1] + [
    dict(type='PackPoseInputs', meta_keys=_base_.meta_keys + ('warp_mat', ))]))
# each teacher's thresholds: the rounds' rule of _base_/self_training.py
custom_hooks = [dict(h, **_base_.rounds_threshold) if h['type'] == 'PseudoThresholdHook' else h
                for h in _base_.custom_hooks] + [
    dict(type='TeacherRefreshHook', interval=3, source='best'),
    dict(type='FreezePseudoLabelsHook')]
