_base_ = ['../default_runtime.py']
# SGD, lr 0.01, weight decay 5e-4 as in the study; 100 epochs
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=5)
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4),
    clip_grad=dict(max_norm=35., norm_type=2))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=200, start_factor=0.01, by_epoch=False),
    dict(type='MultiStepLR', begin=0, end=100, milestones=[70, 90], gamma=0.1,
         by_epoch=True),
]
