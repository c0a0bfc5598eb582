# Stage one with dimmed, smaller, blurred copies of clicked nodules pasted on
# the background as labelled points (PasteDimmedNodules; docs/loss.md): the
# network sees faint nodules with a label. radius: the nodule radius in
# original-frame pixels (0.7 x the metric's 20 px matching radius); set it
# for your frames.
_base_ = ['./cragtail_hrnet-w32_1xb4-100e_carcinosis-1280x736.py']
paste = dict(type='PasteDimmedNodules', radius=14.0, prob=0.5, factor=(0.2, 0.6),
             scale=(0.6, 1.0), blur=(0.0, 1.0))
train_dataloader = dict(dataset=dict(
    pipeline=_base_.train_pipeline[:1] + [paste] + _base_.train_pipeline[1:]))
