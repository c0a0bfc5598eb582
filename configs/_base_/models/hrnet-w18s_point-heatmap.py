# The CPU demo's network: HRNet with w18 widths, one module per stage and a
# lighter stem stage, no pretrained weights; no flip test.
_base_ = ['./hrnet-w32_point-heatmap.py']
model = dict(
    backbone=dict(
        init_cfg=None,
        extra=dict(
            stage1=dict(num_blocks=(2, ), num_channels=(32, )),
            stage2=dict(num_channels=(18, 36)),
            stage3=dict(num_modules=1, num_channels=(18, 36, 72)),
            stage4=dict(num_modules=1, num_channels=(18, 36, 72, 144)))),
    head=dict(in_channels=18),
    test_cfg=dict(flip_test=False))
