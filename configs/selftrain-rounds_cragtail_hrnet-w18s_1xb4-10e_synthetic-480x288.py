# The demo's stage two in rounds: the teacher replaced by the best student
# every 5 epochs.
_base_ = ['./selftrain-single_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py']
custom_hooks = _base_.custom_hooks + [
    dict(type='TeacherRefreshHook', interval=5, source='best')]
