# The demo's stage two with cross distillation (PA-Seg):
#   --cfg-options model.init_cfg.checkpoint=A.pth model.partner_load_from=B.pth
_base_ = ['./selftrain-single_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py']
model = dict(type='PointCrossTraining', partner_load_from=None,
             semi_train_cfg=dict(cross_weight=0.5, cross_temperature=4.0))
