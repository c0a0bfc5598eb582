# Baseline: plain heatmap regression (MMPose's KeypointMSELoss on the
# Gaussian heatmap), the output read directly as scores.
_base_ = ['./cragtail_hrnet-w32_1xb4-100e_carcinosis-1280x736.py']
model = dict(
    head=dict(
        score_activation=None,
        loss=dict(_delete_=True, type='KeypointMSELoss', use_target_weight=False),
        init_cfg=[
            dict(type='Normal', layer=['Conv2d', 'ConvTranspose2d'], std=0.001),
            dict(type='Constant', layer='BatchNorm2d', val=1),
        ]))
