# Stage two with cross distillation (PA-Seg): a second pair from another
# stage-one model (another seed's or backbone's):
#   --cfg-options model.init_cfg.checkpoint=A.pth model.partner_load_from=B.pth
_base_ = ['./selftrain-single_cragtail_hrnet-w32_1xb4-30e_carcinosis-1280x736.py']
model = dict(type='PointCrossTraining', partner_load_from=None,
             semi_train_cfg=dict(cross_weight=0.5, cross_temperature=4.0))
