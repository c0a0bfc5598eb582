# The generator's frames (tools/make_synthetic_dataset.py, make demo): 480x270
# fitted into 480x288, nodules 3-7 px in radius; the carcinosis pipelines at
# this size.
_base_ = ['./carcinosis-1280x736.py']
data_root = 'data/synthetic/'
input_size = (480, 288)
codec = dict(_base_.codec, input_size=input_size,
             heatmap_size=(input_size[0] // 4, input_size[1] // 4), sigma=1.5,
             decode_nms_kernel=3)


def _sized(pipeline):
    return [dict(t, input_size=input_size) if 'input_size' in t else
            dict(t, encoder=codec) if 'encoder' in t else t for t in pipeline]


train_pipeline = _sized(_base_.train_pipeline)
val_pipeline = _sized(_base_.val_pipeline)
train_dataloader = dict(
    num_workers=1, dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=1,
    dataset=dict(data_root=data_root, pipeline=val_pipeline))
test_dataloader = dict(
    batch_size=4, num_workers=1,
    dataset=dict(data_root=data_root, pipeline=val_pipeline))
val_evaluator = dict(radii=(5., 10., 20.), radius=10.)
test_evaluator = val_evaluator
