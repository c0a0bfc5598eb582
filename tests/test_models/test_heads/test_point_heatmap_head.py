import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

CODEC = dict(type='MultiInstanceGaussianHeatmap', input_size=(128, 64),
             heatmap_size=(32, 16), sigma=1.5, decode_nms_kernel=3,
             decode_topk=5, decode_thr=0.5)


def build_head(**kw):
    # identity "network": the features are the output logits
    cfg = dict(type='PointHeatmapHead', in_channels=1, out_channels=1,
               deconv_out_channels=None, final_layer=None,
               loss=dict(type='CragTailLoss'), decoder=CODEC)
    cfg.update(kw)
    return MODELS.build(cfg)


def planted_logits():
    logits = torch.full((2, 1, 16, 32), -6.0)
    logits[0, 0, 4, 5] = 4.0  # score 0.982 at input (20, 16)
    logits[0, 0, 10, 20] = 2.0  # 0.881 at (80, 40)
    logits[0, 0, 12, 28] = -1.0  # 0.269: below the threshold
    return logits


def data_samples(n=2):
    return [PoseDataSample(metainfo=dict(flip_indices=[0])) for _ in range(n)]


def test_predict_planted_peaks():
    head = build_head()
    preds = head.predict((planted_logits(), ), data_samples())
    assert len(preds) == 2
    kpts, scores = preds[0].keypoints, preds[0].keypoint_scores
    assert kpts.shape == (2, 1, 2) and scores.shape == (2, 1)
    np.testing.assert_allclose(kpts[:, 0], [[20, 16], [80, 40]], atol=1e-4)
    np.testing.assert_allclose(scores[:, 0], torch.sigmoid(torch.tensor([4., 2.])).numpy(),
                               rtol=1e-5)
    assert preds[1].keypoints.shape == (0, 1, 2)


def test_flip_test_and_heatmap_output():
    head = build_head()
    logits = planted_logits()
    test_cfg = dict(flip_test=True, flip_mode='heatmap', shift_heatmap=False,
                    output_heatmaps=True)
    # the flipped image's features are the mirrored logits
    preds, fields = head.predict([(logits, ), (logits.flip(-1), )],
                                 data_samples(), test_cfg)
    np.testing.assert_allclose(preds[0].keypoints[:, 0], [[20, 16], [80, 40]], atol=1e-4)
    assert isinstance(fields[0], PixelData)
    hm = fields[0].heatmaps
    assert hm.shape == (1, 16, 32) and 0 <= float(hm.min()) and float(hm.max()) <= 1
    assert float(hm[0, 4, 5]) == pytest.approx(float(torch.sigmoid(torch.tensor(4.))))


def test_raw_scores_without_activation():
    head = build_head(score_activation=None,
                      loss=dict(type='KeypointMSELoss', use_target_weight=False))
    hm = torch.zeros(1, 1, 16, 32)
    hm[0, 0, 8, 16] = 0.7
    pred = head.predict((hm, ), data_samples(1))[0]
    assert pred.keypoint_scores[0, 0] == pytest.approx(0.7)


def test_loss_matches_loss_module():
    head = build_head()
    logits = planted_logits()
    samples = data_samples()
    targets = torch.zeros(2, 1, 16, 32)
    targets[0, 0, 4, 5] = 1.0
    targets[1, 0, 2, 2] = 0.9
    for s, t in zip(samples, targets):
        s.gt_fields = PixelData(heatmaps=t)
    losses = head.loss((logits, ), samples)
    expect = MODELS.build(dict(type='CragTailLoss'))(logits, targets)
    assert set(losses) == {'loss_kpt'}
    assert losses['loss_kpt'].item() == pytest.approx(expect.item(), rel=1e-6)


def _first_step_weight_grad(bias_prob):
    """Gradient of the shipped demo head's final 1x1 conv weights at
    initialisation, on non-negative (post-ReLU) features and a batch of four
    480x288 frames with three clicks each."""
    from mmengine.config import Config

    from helpers import CONFIG
    cfg = Config.fromfile(CONFIG)
    head_cfg = cfg.model.head
    head_cfg.init_cfg[0].override.bias_prob = bias_prob
    torch.manual_seed(0)
    head = MODELS.build(head_cfg)
    head.init_weights()
    codec = head.decoder
    w, h = codec.heatmap_size
    samples = []
    for i in range(4):
        pts = np.array([[[100. + 40 * i], [60.]], [[300.], [200.]], [[420.], [100. + 30 * i]]])
        pts = pts.reshape(3, 1, 2)
        enc = codec.encode(pts, np.ones((3, 1)))
        s = PoseDataSample(metainfo=dict(flip_indices=[0]))
        s.gt_fields = PixelData(heatmaps=torch.from_numpy(enc['heatmaps']))
        samples.append(s)
    feats = torch.rand(4, head_cfg.in_channels, h, w)
    head.loss((feats, ), samples)['loss_kpt'].backward()
    return head.final_layer.weight.grad.flatten()


def test_init_prior_lets_positives_lead():
    # The shipped prior P = 0.01: at the first step the few positives
    # outweigh the tail of the ~34,000 unlabeled pixels, so descent raises
    # every weight on the (non-negative) features.
    assert (_first_step_weight_grad(0.01) < 0).all()
    # P = 0.1 (measured: the output stayed capped at 0.1, F1 20): the tail
    # wins and descent turns every weight negative, the dead-ReLU trap.
    assert (_first_step_weight_grad(0.1) > 0).all()


@pytest.mark.parametrize('config', ['mse', 'cragtail'])
def test_the_head_passes_confirmed_negatives_to_losses_that_take_them(config):
    # the pipeline always packs gt_fields.negatives; MMPose's MSE loss does
    # not take them (it pushes every unlabeled pixel to zero already)
    from mmengine.config import Config
    from mmengine.structures import PixelData
    from mmpose.registry import MODELS
    from mmpose.structures import PoseDataSample

    from helpers import CONFIG, ROOT
    cfg = Config.fromfile(CONFIG if config == 'cragtail' else
                          f'{ROOT}/configs/mse_hrnet-w32_1xb4-100e_carcinosis-1280x736.py')
    head = MODELS.build(cfg.model.head)
    torch.manual_seed(0)
    feats = (torch.randn(2, head.in_channels, 8, 12), )
    samples = []
    for i in range(2):
        s = PoseDataSample()
        heat = torch.zeros(1, 8, 12)
        heat[0, 3, 4 + i] = 1.0
        s.gt_fields = PixelData(heatmaps=heat, negatives=torch.zeros(1, 8, 12))
        samples.append(s)
    zero = head.loss(feats, samples)['loss_kpt']
    for s in samples:
        s.gt_fields.negatives = torch.ones(1, 8, 12)
    dense = head.loss(feats, samples)['loss_kpt']
    assert head.loss_takes_negatives == (config == 'cragtail')
    assert (float(dense) != float(zero)) == (config == 'cragtail')


def test_a_batch_mixes_frames_with_and_without_negatives():
    # the codec writes a negatives map only for frames that have any: the
    # others count as zeros; a missing mask counts as all valid
    from mmpose_carcinosis.models.heads.point_heatmap_head import stacked_field
    samples = [PoseDataSample(gt_fields=PixelData(heatmaps=torch.rand(1, 4, 6)))
               for _ in range(3)]
    assert stacked_field(samples, 'negatives', 0.0) is None
    samples[1].gt_fields.negatives = torch.ones(1, 4, 6)
    neg = stacked_field(samples, 'negatives', 0.0)
    assert neg.shape == (3, 1, 4, 6) and neg.sum() == 24 and neg[1].min() == 1
    samples[2].gt_fields.heatmap_mask = torch.zeros(1, 4, 6)
    mask = stacked_field(samples, 'heatmap_mask', 1.0)
    assert mask[0].min() == 1 and mask[2].max() == 0


def letterboxed(columns, frame_margin=1.0):
    """Isolated peaks at heatmap ``columns`` of a 100 x 64 frame fitted
    into the 128 x 64 input: 14 input pixels of padding each side, so the
    frame spans input x 13.5 .. 113.5 (pixel edges)."""
    head = build_head(frame_margin=frame_margin, decoder=dict(CODEC, decode_topk=10))
    logits = torch.full((1, 1, 16, 32), -6.0)
    for i, c in enumerate(columns):
        logits[0, 0, 1 + 3 * i, c] = 4.0
    meta = dict(flip_indices=[0], ori_shape=(64, 100), input_size=(128, 64),
                input_center=np.array([50.0, 32.0]), input_scale=np.array([128.0, 64.0]))
    pred = head.predict((logits, ), [PoseDataSample(metainfo=meta)])[0]
    return sorted(pred.keypoints[:, 0, 0].tolist())


def test_points_in_the_padding_are_dropped():
    # input x = 4 * column; one heatmap pixel (4 input pixels) of margin
    # keeps 12 (1.5 outside) and 116 (2.5 outside), moved to the frame's
    # first and last pixel centres (frame x 0 and 99: input 14 and 113),
    # drops 8 (5.5) and 120 (6.5)
    cols = [2, 3, 10, 29, 30]
    assert letterboxed(cols) == [14, 40, 113]
    assert letterboxed(cols, frame_margin=0.0) == [40]
    assert letterboxed(cols, frame_margin=None) == [8, 12, 40, 116, 120]


def test_the_frame_box_follows_mmpose_bottomup_resize():
    # MMPose's own transform letterboxes a 100 x 64 frame; the head keeps
    # exactly the points that map (MMPose's formula) to within the margin
    # of the frame
    from mmpose.datasets.transforms import BottomupResize
    from mmpose_carcinosis.models.heads.point_heatmap_head import inside_frame
    from mmengine.structures import InstanceData
    meta = BottomupResize(input_size=(128, 64), resize_mode='fit', size_factor=32)(
        dict(img=np.zeros((64, 100, 3), np.uint8), ori_shape=(64, 100), img_shape=(64, 100)))
    assert meta['img'].shape[:2] == (64, 128)
    xs = np.arange(0.0, 128.0, 0.5)
    pred = InstanceData(keypoints=np.stack([xs, np.full_like(xs, 30.0)], -1)[:, None],
                        keypoint_scores=np.ones((len(xs), 1)))
    kept = inside_frame(pred, meta, np.array([4.0, 4.0])).keypoints[:, 0, 0]
    frame_x = (xs / meta['input_size'][0] * meta['input_scale'][0] + meta['input_center'][0]
               - 0.5 * meta['input_scale'][0])
    per_px = meta['input_scale'][0] / meta['input_size'][0]
    inside = (frame_x >= -0.5 - 4 * per_px) & (frame_x <= 99.5 + 4 * per_px)
    assert 0 < inside.sum() < len(xs)
    kept_frame = (kept / meta['input_size'][0] * meta['input_scale'][0] +
                  meta['input_center'][0] - 0.5 * meta['input_scale'][0])
    np.testing.assert_allclose(kept_frame, np.clip(frame_x[inside], 0, 99), atol=1e-6)
