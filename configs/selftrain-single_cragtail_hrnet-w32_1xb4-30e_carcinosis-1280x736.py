# Stage two (self-training) with one teacher for the whole run: a student
# initialised from the stage-one model learns from the clicks and from the
# frozen stage-one teacher's confident predictions (the shipped stage two,
# selftrain_..., refreshes the teacher in rounds and freezes labels). Give the
# stage-one checkpoint:
#   python tools/train.py CONFIG --cfg-options model.init_cfg.checkpoint=STAGE_ONE.pth
_base_ = ['./cragtail_hrnet-w32_1xb4-100e_carcinosis-1280x736.py',
          './_base_/self_training.py']
model = dict(_base_.self_training, _delete_=True, detector=_base_.model)
custom_hooks = _base_.custom_hooks + _base_.stage_two_hooks

train_cfg = dict(max_epochs=30, val_interval=5)
optim_wrapper = dict(optimizer=dict(lr=0.001))
param_scheduler = [
    dict(type='CosineAnnealingLR', begin=0, end=30, T_max=30, by_epoch=True, eta_min=1e-5),
]
