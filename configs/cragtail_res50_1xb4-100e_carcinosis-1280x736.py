# A new backbone in a few lines: ResNet-50 (stride 32) with MMPose's usual
# three deconvolutions back to stride 4; loss, codec and data unchanged.
_base_ = ['./cragtail_hrnet-w32_1xb4-100e_carcinosis-1280x736.py']
model = dict(
    backbone=dict(
        _delete_=True, type='ResNet', depth=50,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    head=dict(in_channels=2048, deconv_out_channels=(256, 256, 256),
              deconv_kernel_sizes=(4, 4, 4)))
