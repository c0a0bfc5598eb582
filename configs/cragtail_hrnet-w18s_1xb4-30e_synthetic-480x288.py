# The CPU demo (make demo): stage one on the generator's frames with a slim
# HRNet, no pretrained weights, about 8 minutes of training on 2 cores.
_base_ = ['./_base_/models/hrnet-w18s_point-heatmap.py',
          './_base_/datasets/synthetic-480x288.py', './_base_/schedules/adam-30e.py']
model = dict(head=dict(decoder=_base_.codec))
default_hooks = dict(logger=dict(interval=5))
