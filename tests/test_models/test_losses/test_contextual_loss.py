"""PA-Seg's contextual regularisation for heatmaps (issue 22, candidate 6):
hand-computed energies, gradients, a brute-force reference, the transform
that supplies the appearance and the head that adds the loss."""
import itertools
import math

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmpose.registry import MODELS, TRANSFORMS
from mmpose.structures import PoseDataSample

from mmpose_carcinosis.models.losses.contextual_loss import gated_crf_term, variance_term


def brute_force_crf(p, a, v, radius, sxy, srgb):
    """The gated CRF energy over every ordered pixel pair, by loops."""
    b_, k_, h, w = p.shape
    total = 0.0
    for b, k, y, x, yy, xx in itertools.product(range(b_), range(k_), range(h), range(w),
                                                range(h), range(w)):
        if (y, x) == (yy, xx) or abs(y - yy) > radius or abs(x - xx) > radius:
            continue
        kern = math.exp(-((y - yy) ** 2 + (x - xx) ** 2) / (2 * sxy ** 2)
                        - float(((a[b, :, y, x] - a[b, :, yy, xx]) ** 2).sum()) / (2 * srgb ** 2))
        pi, pj = float(p[b, k, y, x]), float(p[b, k, yy, xx])
        total += kern * (pi * (1 - pj) + (1 - pi) * pj) * float(v[b, k, y, x] * v[b, k, yy, xx])
    return total / float(v.sum())


def test_crf_hand_computed():
    # 1 x 3 map: scores 1, 0, 1; same look everywhere; radius 1: pairs (0,1), (1,2)
    p = torch.tensor([1.0, 0.0, 1.0]).view(1, 1, 1, 3)
    a = torch.zeros(1, 3, 1, 3)
    v = torch.ones_like(p)
    k = math.exp(-1 / (2 * 2.0 ** 2))
    # each pair disagrees fully (1), counted from both ends, over 3 pixels
    assert float(gated_crf_term(p, a, v, 1, 2.0, 0.1)) == pytest.approx(2 * 2 * k / 3)
    # pixel 2 looks different by 0.1 in one channel: its pair is gated by e^-0.5
    a[0, 0, 0, 2] = 0.1
    expected = 2 * (k + k * math.exp(-0.01 / (2 * 0.1 ** 2))) / 3
    assert float(gated_crf_term(p, a, v, 1, 2.0, 0.1)) == pytest.approx(expected)
    # pixel 2 masked out: one pair left, two valid pixels
    v[0, 0, 0, 2] = 0
    assert float(gated_crf_term(p, a, v, 1, 2.0, 0.1)) == pytest.approx(2 * k / 2)


def test_crf_matches_brute_force():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(2, 2, 5, 6, generator=g)
    a = torch.rand(2, 3, 5, 6, generator=g)
    v = (torch.rand(2, 2, 5, 6, generator=g) > 0.2).float()
    for radius in (1, 2, 4):
        assert float(gated_crf_term(p, a, v, radius, 1.5, 0.3)) == pytest.approx(
            brute_force_crf(p, a, v, radius, 1.5, 0.3), rel=1e-5)


def test_variance_hand_computed_and_gradient():
    a = torch.tensor([0.0, 1.0]).view(1, 1, 1, 2)
    v = torch.ones(1, 1, 1, 2)
    # the regions split the look exactly: nothing unexplained
    assert float(variance_term(torch.tensor([1.0, 0.0]).view(1, 1, 1, 2), a, v)) == \
        pytest.approx(0.0, abs=1e-5)
    # no split: each region's mean is the frame's, all variance unexplained
    half = torch.full((1, 1, 1, 2), 0.5)
    assert float(variance_term(half, a, v)) == pytest.approx(1.0, abs=1e-5)
    # the gradient is (|a - mu1|^2 - |a - mu0|^2) / total (the means' terms cancel)
    g = torch.Generator().manual_seed(1)
    p = torch.rand(1, 1, 4, 5, generator=g).requires_grad_()
    app = torch.rand(1, 3, 4, 5, generator=g)
    vv = torch.ones(1, 1, 4, 5)
    variance_term(p, app, vv, eps=0.0).backward()
    w1, w0 = p.detach()[0, 0], 1 - p.detach()[0, 0]
    mu1 = (app[0] * w1).sum((1, 2)) / w1.sum()
    mu0 = (app[0] * w0).sum((1, 2)) / w0.sum()
    total = ((app[0] - app[0].mean((1, 2), keepdim=True)) ** 2).sum()
    expected = (((app[0] - mu1[:, None, None]) ** 2).sum(0)
                - ((app[0] - mu0[:, None, None]) ** 2).sum(0)) / total
    torch.testing.assert_close(p.grad[0, 0], expected, rtol=1e-4, atol=1e-6)


def test_variance_pulls_up_unlabelled_look_alikes():
    """A pixel that looks like the scored foreground but scores low gets a
    negative gradient (pushed up); a background-looking one a positive."""
    a = torch.zeros(1, 1, 1, 6)
    a[0, 0, 0, [0, 3]] = 1.0  # two bright nodules
    p = torch.tensor([0.9, 0.05, 0.05, 0.05, 0.05, 0.05]).view(1, 1, 1, 6).requires_grad_()
    variance_term(p, a, torch.ones_like(p)).backward()
    assert p.grad[0, 0, 0, 3] < 0 < p.grad[0, 0, 0, 1]


def test_loss_module_weights_mask_and_checks():
    loss = MODELS.build(dict(type='ContextualRegularisationLoss', crf_weight=0.5,
                             variance_weight=2.0, radius=1, sigma_xy=2.0, sigma_rgb=0.1,
                             loss_weight=3.0))
    g = torch.Generator().manual_seed(2)
    p = torch.rand(2, 1, 6, 7, generator=g)
    a = torch.rand(2, 3, 6, 7, generator=g)
    mask = (torch.rand(2, 1, 6, 7, generator=g) > 0.3).float()
    expected = 3.0 * (0.5 * gated_crf_term(p, a, mask, 1, 2.0, 0.1)
                      + 2.0 * variance_term(p, a, mask))
    assert float(loss(p, a, mask)) == pytest.approx(float(expected), rel=1e-6)
    # half precision in, float32 out; a regressed heatmap is clipped to [0, 1]
    assert loss(p.half(), a).dtype == torch.float32
    assert float(loss(p * 3 - 1, a)) == pytest.approx(float(loss((p * 3 - 1).clamp(0, 1), a)))
    with pytest.raises(ValueError, match='does not match'):
        loss(p, a[..., :5])
    with pytest.raises(ValueError, match='radius'):
        MODELS.build(dict(type='ContextualRegularisationLoss', radius=0))


def test_appearance_map_packs_rgb_at_heatmap_size():
    img = np.zeros((64, 128, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 10, 20, 30  # B, G, R
    img[:32, :64] = 255  # top-left quarter white
    results = dict(img=img, heatmaps=np.zeros((1, 16, 32), np.float32),
                   field_mapping_table=dict(heatmaps='heatmaps'))
    results = TRANSFORMS.build(dict(type='AppearanceMap'))(results)
    app = results['appearance']
    assert app.shape == (3, 16, 32) and app.dtype == np.float32
    np.testing.assert_allclose(app[:, 15, 31], [30 / 255, 20 / 255, 10 / 255], rtol=1e-6)
    np.testing.assert_allclose(app[:, 0, 0], 1.0)
    assert results['field_mapping_table'] == dict(heatmaps='heatmaps', appearance='appearance')
    packed = TRANSFORMS.build(dict(type='PackPoseInputs'))(
        dict(results, img=img, keypoints=np.zeros((0, 1, 2)), keypoints_visible=np.zeros((0, 1))))
    assert packed['data_samples'].gt_fields.appearance.shape == (3, 16, 32)
    with pytest.raises(KeyError, match='after GenerateTarget'):
        TRANSFORMS.build(dict(type='AppearanceMap'))(dict(img=img, img_path='f.png'))


def test_head_adds_the_context_loss():
    codec = dict(type='MultiInstanceGaussianHeatmap', input_size=(32, 16),
                 heatmap_size=(8, 4), sigma=1.0)
    cfg = dict(type='PointHeatmapHead', in_channels=1, out_channels=1,
               deconv_out_channels=None, final_layer=None,
               loss=dict(type='CragTailLoss'), decoder=codec,
               context_loss=dict(type='ContextualRegularisationLoss', radius=1))
    head = MODELS.build(cfg)
    logits = torch.randn(2, 1, 4, 8, requires_grad=True)
    app = torch.rand(2, 3, 4, 8)
    samples = []
    for i in range(2):
        s = PoseDataSample()
        s.gt_fields = PixelData(heatmaps=torch.zeros(1, 4, 8), appearance=app[i])
        samples.append(s)
    losses = head.loss((logits, ), samples)
    expected = head.context_module(torch.sigmoid(logits), app)
    assert float(losses['loss_context']) == pytest.approx(float(expected), rel=1e-6)
    losses['loss_context'].backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    for s in samples:
        s.gt_fields = PixelData(heatmaps=torch.zeros(1, 4, 8))
    with pytest.raises(KeyError, match='AppearanceMap'):
        head.loss((logits, ), samples)
    # without context_loss nothing changes
    plain = MODELS.build({k: v for k, v in cfg.items() if k != 'context_loss'})
    assert set(plain.loss((logits, ), samples)) == {'loss_kpt'}


def test_context_config_trains_a_step_on_generated_frames(data_root):
    """The shipped context config's pipeline and model on generated frames:
    one training step gives both losses, finite, and gradients."""
    import os.path as osp
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner
    from helpers import ROOT
    init_default_scope('mmpose')
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs', 'cragtail-paste-context_hrnet-w18s_1xb4-30e_synthetic-480x288.py'))
    cfg.train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.model.backbone.init_cfg = None  # no download
    model = MODELS.build(cfg.model)
    batch = next(iter(Runner.build_dataloader(cfg.train_dataloader, seed=0)))
    data = model.data_preprocessor(batch, True)
    appearance = data['data_samples'][0].gt_fields.appearance
    assert appearance.shape[-2:] == data['data_samples'][0].gt_fields.heatmaps.shape[-2:]
    losses = model.loss(data['inputs'], data['data_samples'])
    assert set(losses) == {'loss_kpt', 'loss_context'}
    assert all(torch.isfinite(v) for v in losses.values())
    losses['loss_context'].backward()
    assert model.head.final_layer.weight.grad.abs().sum() > 0
