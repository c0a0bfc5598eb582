# The demo's stage one with dimmed, smaller, blurred copies of clicked
# nodules pasted on the background as labelled points (PasteDimmedNodules):
# the network sees faint nodules with a label, against the annotators' pull
# to the obvious ones. radius: the nodule radius in frame pixels (0.7 x the
# metric's matching radius, as benchmarks/sparse_to_dense.py cragtail_paste).
_base_ = ['./cragtail_hrnet-w18s_1xb4-30e_synthetic-480x288.py']
paste = dict(type='PasteDimmedNodules', radius=7.0, prob=0.5, factor=(0.2, 0.6),
             scale=(0.6, 1.0), blur=(0.0, 1.0))
train_dataloader = dict(dataset=dict(
    pipeline=_base_.train_pipeline[:1] + [paste] + _base_.train_pipeline[1:]))
