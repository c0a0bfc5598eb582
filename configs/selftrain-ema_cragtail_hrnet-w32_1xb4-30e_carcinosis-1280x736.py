# Stage two with an EMA teacher (MMDetection's MeanTeacherHook) instead of a
# frozen one.
_base_ = ['./selftrain-single_cragtail_hrnet-w32_1xb4-30e_carcinosis-1280x736.py']
custom_imports = dict(imports=['mmpose_carcinosis', 'mmdet.engine.hooks'],
                      allow_failed_imports=False)
custom_hooks = _base_.custom_hooks + [dict(type='mmdet.MeanTeacherHook', momentum=0.001)]
