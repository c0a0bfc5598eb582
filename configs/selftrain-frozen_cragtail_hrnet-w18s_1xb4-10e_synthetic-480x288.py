# The demo's stage two in easy-to-hard rounds: the teacher replaced by the
# best student every 3 epochs (4 teachers in 10 epochs), each recalibrated,
# and the pseudo labels two successive teachers agree on frozen as labels
# (FreezePseudoLabelsHook; they follow each sample's affine and flip, so the
# training pipeline packs 'warp_mat').
_base_ = ['./selftrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py']

# the frozen labels follow each sample's affine and flip: pack 'warp_mat'
train_dataloader = dict(dataset=dict(pipeline=_base_.train_pipeline[:-1] + [
    dict(type='PackPoseInputs', meta_keys=_base_.meta_keys + ('warp_mat', ))]))
custom_hooks = _base_.custom_hooks + [
    dict(type='TeacherRefreshHook', interval=3, source='best'),
    dict(type='FreezePseudoLabelsHook')]
