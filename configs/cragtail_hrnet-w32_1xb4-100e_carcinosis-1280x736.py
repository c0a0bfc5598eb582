# Stage one: HRNet-w32 + the Crag and Tail loss on carcinosis frames, dense
# localization from sparse point labels (arXiv 2507.06643).
_base_ = ['./_base_/models/hrnet-w32_point-heatmap.py',
          './_base_/datasets/carcinosis-1280x736.py', './_base_/schedules/sgd-100e.py']
model = dict(head=dict(decoder=_base_.codec))
