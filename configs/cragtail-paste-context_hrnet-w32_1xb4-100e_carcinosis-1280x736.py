# The pasted stage one with PA-Seg's contextual regularisation (issue 22,
# candidate 6): a label-free loss on the scores and the frame's look at
# heatmap size, a gated CRF term (nearby pixels that look alike should score
# alike) and a variance term (pixels that look like the scored foreground
# should score like it); see docs/loss.md. AppearanceMap packs the look.
_base_ = ['./cragtail-paste_hrnet-w32_1xb4-100e_carcinosis-1280x736.py']
train_dataloader = dict(dataset=dict(
    pipeline=_base_.train_dataloader.dataset.pipeline[:-1] + [dict(type='AppearanceMap')] +
    _base_.train_dataloader.dataset.pipeline[-1:]))
model = dict(head=dict(context_loss=dict(type='ContextualRegularisationLoss')))
