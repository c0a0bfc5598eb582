# Ablation baseline: plain heatmap regression (MSE on the Gaussian heatmap,
# MMPose's KeypointMSELoss), the output read directly as scores.
_base_ = ['./hrnet_cragtail.py']
model = dict(
    head=dict(
        score_activation=None,
        loss=dict(_delete_=True, type='KeypointMSELoss',
                  use_target_weight=False),
        init_cfg=[
            dict(type='Normal', layer=['Conv2d', 'ConvTranspose2d'],
                 std=0.001),
            dict(type='Constant', layer='BatchNorm2d', val=1),
        ]))
