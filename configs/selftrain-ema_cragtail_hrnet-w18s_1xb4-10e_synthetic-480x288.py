# The demo's stage two with an EMA teacher (MMDetection's MeanTeacherHook).
_base_ = ['./selftrain-single_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py']
custom_imports = dict(imports=['mmpose_carcinosis', 'mmdet.engine.hooks'],
                      allow_failed_imports=False)
custom_hooks = _base_.custom_hooks + [dict(type='mmdet.MeanTeacherHook', momentum=0.001)]
