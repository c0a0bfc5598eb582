_base_ = ['../default_runtime.py']
# The CPU demo's schedule: trained from scratch in about 8 minutes, SGD barely
# moves (no point above the threshold after 10 epochs); Adam gets there.
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=10)
optim_wrapper = dict(
    optimizer=dict(type='Adam', lr=2e-3),
    clip_grad=dict(max_norm=35., norm_type=2))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=30, start_factor=0.01, by_epoch=False),
    dict(type='CosineAnnealingLR', begin=0, end=30, T_max=30, by_epoch=True,
         eta_min=1e-5),
]
