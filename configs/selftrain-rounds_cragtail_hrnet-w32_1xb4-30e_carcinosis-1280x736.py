# Stage two in rounds: every 10 epochs the teacher is replaced by the best
# student so far and the thresholds are recalibrated for it.
_base_ = ['./selftrain-single_cragtail_hrnet-w32_1xb4-30e_carcinosis-1280x736.py']
custom_hooks = _base_.custom_hooks + [
    dict(type='TeacherRefreshHook', interval=10, source='best')]
