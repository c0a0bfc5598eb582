# Stage two of the CPU demo with one teacher for the whole run (the shipped
# stage two, selftrain_..., refreshes it in rounds and freezes labels):
#   python tools/train.py CONFIG --cfg-options model.init_cfg.checkpoint=STAGE_ONE.pth
_base_ = ['./cragtail_hrnet-w18s_1xb4-30e_synthetic-480x288.py',
          './_base_/self_training.py']
model = dict(_base_.self_training, _delete_=True, detector=_base_.model,
             semi_train_cfg=dict(_base_.semi_train_cfg, ramp_iters=60))
# the generator writes the training frames' dense truth: pseudo-label
# precision and recall are logged after every epoch
custom_hooks = _base_.custom_hooks + _base_.stage_two_hooks + [
    dict(type='PseudoLabelQualityHook', dense_ann_file='annotations/train_dense.json',
         radius=10.)]

train_cfg = dict(max_epochs=10, val_interval=5)
param_scheduler = [
    dict(type='CosineAnnealingLR', begin=0, end=10, T_max=10, by_epoch=True, eta_min=1e-5),
]
optim_wrapper = dict(optimizer=dict(type='Adam', lr=5e-4))
