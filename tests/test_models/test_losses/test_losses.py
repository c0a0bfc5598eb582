import math

import pytest
import torch
from mmpose.registry import MODELS


def sig(x):
    return 1 / (1 + math.exp(-x))


def two_pixel_case(loss_cfg, x_pos=2.0, x_neg=0.0):
    """One positive pixel (H = 1) and one negative pixel (H = 0)."""
    loss = MODELS.build(loss_cfg)
    logits = torch.tensor([x_pos, x_neg]).view(1, 1, 1, 2)
    target = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)
    return loss(logits, target).item()


def test_crag_tail_hand_computed():
    # positive, x = 2, margin 1: (1 - s(1))^2 * -log s(1) + (1 - s(2))^2
    #   = 0.2689414^2 * 0.3132617 + 0.1192029^2 = 0.0226581 + 0.0142093
    # negative, x = 0: (1.5 - 0.5) * 0.5^2 = 0.25;  normalised by 1 positive
    assert two_pixel_case(dict(type='CragTailLoss')) == pytest.approx(
        0.2868674, abs=1e-6)
    pos = (1 - sig(1))**2 * -math.log(sig(1)) + (1 - sig(2))**2
    assert two_pixel_case(dict(type='CragTailLoss')) == pytest.approx(
        pos + 0.25, rel=1e-6)


def test_hill_is_crag_tail_without_reinforcement():
    hill = two_pixel_case(dict(type='HillLoss'))
    assert hill == pytest.approx((1 - sig(1))**2 * -math.log(sig(1)) + 0.25,
                                 rel=1e-6)
    assert two_pixel_case(dict(type='CragTailLoss', reinforce_weight=0.)) == \
        pytest.approx(hill, rel=1e-7)


def test_no_tail_uses_focal_negatives():
    v = two_pixel_case(dict(type='CragTailLoss', use_tail=False), x_neg=1.0)
    pos = (1 - sig(1))**2 * -math.log(sig(1)) + (1 - sig(2))**2
    neg = sig(1)**2 * -math.log(1 - sig(1))
    assert v == pytest.approx(pos + neg, rel=1e-6)


def neg_grad(lam, p):
    """d loss / d P on one negative pixel at probability p."""
    loss = MODELS.build(dict(type='CragTailLoss', lam=lam))
    logit = torch.tensor(math.log(p / (1 - p)), dtype=torch.float64,
                         requires_grad=True)
    loss(logit.view(1, 1, 1, 1), torch.zeros(1, 1, 1, 1)).backward()
    return logit.grad.item() / (p * (1 - p))  # chain rule through sigmoid


@pytest.mark.parametrize('lam', [1.0, 1.2])
def test_tail_gradient_vanishes_at_two_lambda_thirds(lam):
    p0 = 2 * lam / 3
    assert neg_grad(lam, p0) == pytest.approx(0.0, abs=1e-5)
    assert neg_grad(lam, p0 - 0.1) > 0  # below: pushed down
    assert neg_grad(lam, p0 + 0.1) < 0  # above: pushed up
    # analytic gradient 2 lam P - 3 P^2
    assert neg_grad(lam, 0.3) == pytest.approx(2 * lam * 0.3 - 3 * 0.09, rel=1e-4)


def test_default_tail_weakens_on_confident_negatives():
    # lambda = 1.5: 3P(1 - P), largest at 0.5, small for a confident 0.95
    assert neg_grad(1.5, 0.5) == pytest.approx(0.75, rel=1e-4)
    assert neg_grad(1.5, 0.95) == pytest.approx(3 * 0.95 * 0.05, rel=1e-3)


def test_reinforcement_gradient_hand_computed():
    # one positive pixel, H = 1, logit 1 (P = 0.731): Crag adds d/dx (H - P)^2
    # = -2 (H - P) P (1 - P) to Hill's focal gradient
    grads = {}
    for type_ in ('CragTailLoss', 'HillLoss'):
        x = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
        MODELS.build(dict(type=type_))(x.view(1, 1, 1, 1),
                                       torch.ones(1, 1, 1, 1)).backward()
        grads[type_] = x.grad.item()
    p = sig(1)
    assert grads['CragTailLoss'] - grads['HillLoss'] == pytest.approx(
        -2 * (1 - p) * p * (1 - p), rel=1e-6)
    # focal with margin: d/dx (1 - q)^2 (-log q), q = s(x - 1) = 0.5
    q = 0.5
    focal = 2 * (1 - q) * q * (1 - q) * math.log(q) - (1 - q)**2 * (1 - q)
    assert grads['HillLoss'] == pytest.approx(focal, rel=1e-6)


def test_lambda_zero_refused():
    with pytest.raises(ValueError, match='push'):
        MODELS.build(dict(type='CragTailLoss', lam=0.0))
    MODELS.build(dict(type='CragTailLoss', lam=0.0,
                      allow_nonpositive_lambda=True))


@pytest.mark.parametrize('type_', ['CragTailLoss', 'HillLoss'])
def test_extreme_logits_finite(type_):
    loss = MODELS.build(dict(type=type_))
    logits = torch.tensor([50., -50., 50., -50.]).view(1, 1, 2, 2).requires_grad_()
    target = torch.tensor([1., 1., 0., 0.]).view(1, 1, 2, 2)
    value = loss(logits, target)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(logits.grad).all()
    # positive at -50: -log sigmoid(-51) = 51 (+1 reinforcement for Crag);
    # negative at 50: (1.5 - 1) * 1 = 0.5; divided by the 2 positives
    expect = (51 + 0.5 + (1 if type_ == 'CragTailLoss' else 0)) / 2
    assert value.item() == pytest.approx(expect, abs=1e-3)


def test_bf16_autocast_finite_and_close():
    torch.manual_seed(0)
    loss = MODELS.build(dict(type='CragTailLoss'))
    conv = torch.nn.Conv2d(3, 1, 3, padding=1)
    x = torch.randn(2, 3, 16, 16)
    target = torch.zeros(2, 1, 16, 16)
    target[:, :, 8, 8] = 1.0
    ref = loss(conv(x), target)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = conv(x)
        assert out.dtype == torch.bfloat16
        value = loss(out, target)
    value.backward()
    assert value.dtype == torch.float32 and torch.isfinite(value)
    assert all(torch.isfinite(p.grad).all() for p in conv.parameters())
    assert value.item() == pytest.approx(ref.item(), rel=0.05)


def _gaussian_batch(b=4, h=72, w=120, points=12, sigma=2.0, seed=0):
    """Logits around the prior 0.01 and a target of ``points`` truncated
    Gaussians (3 sigma) per frame, max-merged: (b, 1, h, w) each."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing='ij')
    target = torch.zeros(b, 1, h, w)
    for i in range(b):
        pts = torch.rand(points, 2, generator=g) * torch.tensor([w, h])
        d2 = (xx[None] - pts[:, 0, None, None])**2 + (yy[None] - pts[:, 1, None, None])**2
        target[i, 0] = (torch.exp(-d2 / (2 * sigma**2)) * (d2 <= 9 * sigma**2)).max(0).values
    logits = math.log(0.01 / 0.99) + 1.5 * torch.randn(b, 1, h, w, generator=g)
    return logits, target


@pytest.mark.parametrize('type_', ['CragTailLoss', 'HillLoss', 'SPLCCragTailLoss'])
def test_fused_fp16_gradient_survives_the_loss_scale(type_):
    # fp16 autocast + GradScaler: the fused loss's per-pixel gradient, already
    # divided by ~4800 positive pixels, is ~1e-7 on background pixels; kept
    # in fp16 before backward multiplies it by the loss scale (65536) it was
    # exactly 0 on 12,095 of 29,745 background pixels (median error 23%).
    # Now: the float32 autograd gradient of the same fp16 logits, to fp16's
    # precision (relative 1e-3; absolute half a subnormal step, 3e-8, in
    # scaled units, where the scaled gradient itself is below fp16's range).
    logits, target = _gaussian_batch()
    assert int((target > 0).sum()) > 4000
    x16 = logits.half().requires_grad_()
    (MODELS.build(dict(type=type_))(x16, target) * 65536.0).backward()
    assert x16.grad.dtype == torch.float16
    x32 = x16.detach().float().requires_grad_()
    MODELS.build(dict(type=type_, fused=False))(x32, target).backward()
    torch.testing.assert_close(x16.grad.float(), x32.grad * 65536.0, rtol=1e-3, atol=3e-8)
    background = target == 0
    assert int((x16.grad[background] == 0).sum()) <= 2  # scaled gradient < 6e-8


def test_normalisation_and_mask():
    # the core reading: positives H > 0.5, unweighted
    loss = MODELS.build(dict(type='CragTailLoss', pos_thr=0.5, pos_weight='none'))
    logits = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[1.0, 0.6], [0.0, 0.0]]).view(1, 1, 2, 2)
    pos = (1 - sig(-1))**2 * -math.log(sig(-1))
    full = (pos + 0.25 + pos + 0.01 + 0.25 + 0.25) / 2  # 2 positive pixels
    assert loss(logits, target).item() == pytest.approx(full, rel=1e-6)
    mask = torch.tensor([[1.0, 0.0], [1.0, 0.0]]).view(1, 1, 2, 2)
    assert loss(logits, target, mask=mask).item() == pytest.approx(
        pos + 0.25 + 0.25, rel=1e-6)
    mean = MODELS.build(dict(type='CragTailLoss', pos_thr=0.5, pos_weight='none',
                             normalize='mean'))
    assert mean(logits, target).item() == pytest.approx(full * 2 / 4, rel=1e-6)


@pytest.mark.parametrize('cfg', [dict(), dict(pos_thr=0.0, pos_weight='target')])
def test_support_positives_weighted_by_target(cfg):
    # the shipped default: every H > 0 is positive, the focal term weighted
    # by H (the reinforcement term pulls P to H, unweighted)
    loss = MODELS.build(dict(type='CragTailLoss', **cfg))
    logits = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[1.0, 0.3], [0.0, 0.0]]).view(1, 1, 2, 2)
    pos = (1 - sig(-1))**2 * -math.log(sig(-1))
    expect = (pos + 0.25 + 0.3 * pos + 0.04 + 0.25 + 0.25) / 2
    assert loss(logits, target).item() == pytest.approx(expect, rel=1e-6)


def test_splc_flips_confident_unlabeled_pixels_from_start_iter():
    from mmengine.logging import MessageHub

    from mmpose_carcinosis.models import CragTailLoss, SPLCCragTailLoss
    logits = torch.tensor([[[[3.0, -3.0], [0.0, 2.0]]]])   # P = .95 .05 .5 .88
    target = torch.tensor([[[[0.0, 0.0], [0.0, 1.0]]]])    # one click (bottom right)
    hub = MessageHub.get_instance('splc-test')
    hub.update_info('iter', 4)
    splc = SPLCCragTailLoss(tau=0.6, start_iter=5)
    # before start_iter: plain Crag and Tail
    assert torch.allclose(splc(logits, target), CragTailLoss()(logits, target))
    hub.update_info('iter', 5)
    flipped = target.clone()
    flipped[0, 0, 0, 0] = 1.0   # P = 0.95 > 0.6 flips; P = 0.5 does not
    assert torch.allclose(splc(logits, target), CragTailLoss()(logits, flipped))


def test_negative_cross_entropy_term_value_and_gradient():
    # one negative pixel: tail (lam - P) P^2 plus beta * -log(1 - P);
    # d/dx = (2 lam P - 3 P^2) P (1 - P) + beta P
    from mmpose_carcinosis.models import HillLoss
    x = torch.tensor([[[[0.4]]]], requires_grad=True)
    target = torch.zeros(1, 1, 1, 1)
    loss = HillLoss(neg_weight=0.2, normalize='positive')(x, target)
    p = torch.sigmoid(torch.tensor(0.4)).item()
    assert float(loss) == pytest.approx((1.5 - p) * p**2 - 0.2 * math.log(1 - p), rel=1e-6)
    loss.backward()
    assert float(x.grad) == pytest.approx((3 * p - 3 * p**2) * p * (1 - p) + 0.2 * p, rel=1e-5)
    # the default adds nothing
    assert float(HillLoss()(x.detach(), target)) == pytest.approx((1.5 - p) * p**2, rel=1e-6)


FUSED_CASES = [
    dict(type='CragTailLoss'),
    dict(type='HillLoss'),
    dict(type='CragTailLoss', use_tail=False),
    dict(type='CragTailLoss', neg_weight=0.1, pos_thr=0.5, pos_weight='none'),
    dict(type='CragTailLoss', normalize='mean'),
    dict(type='HillLoss', normalize='sum', loss_weight=2.0),
    dict(type='SPLCCragTailLoss', tau=0.6),
]


@pytest.mark.parametrize('cfg', FUSED_CASES, ids=lambda c: '-'.join(map(str, c.values())))
@pytest.mark.parametrize('weighted', [False, True])
def test_fused_gradient_equals_autograd(cfg, weighted):
    # the hand-derived gradient (one pass, no autograd graph) against autograd
    # on the reference path, and against finite differences (gradcheck)
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(3, 1, 12, 16, generator=g, dtype=torch.float64) * 3).requires_grad_()
    target = torch.zeros_like(x)
    target[:, :, 3:7, 4:8] = torch.rand(3, 1, 4, 4, generator=g, dtype=torch.float64)
    target[1, 0, 5, 6] = 1.0
    args = ()
    if weighted:
        args = (torch.tensor([[1.0], [0.5], [0.0]], dtype=torch.float64),
                (torch.rand(3, 1, 12, 16, generator=g) > 0.2).double())
    fused, ref = MODELS.build(cfg), MODELS.build(dict(cfg, fused=False))
    assert fused.fused and not ref.fused
    a = ref(x, target, *args)
    b = fused(x, target, *args)
    ga, = torch.autograd.grad(a, x)
    gb, = torch.autograd.grad(b, x)
    assert b.item() == pytest.approx(a.item(), rel=1e-12, abs=1e-12)
    assert torch.allclose(gb, ga, rtol=1e-10, atol=1e-14)
    assert torch.autograd.gradcheck(lambda y: fused(y, target, *args), (x,))


def test_fused_float32_matches_reference_on_a_training_batch():
    # the shapes and dtype of a demo training step: float32, 8 x 1 x 64 x 96
    torch.manual_seed(1)
    x = (torch.randn(8, 1, 64, 96) * 2 - 3).requires_grad_()
    target = torch.zeros(8, 1, 64, 96)
    target[:, :, 10:23, 30:43] = torch.rand(13, 13)
    for cfg in (dict(type='CragTailLoss'), dict(type='HillLoss')):
        a = MODELS.build(dict(cfg, fused=False))(x, target)
        b = MODELS.build(cfg)(x, target)
        ga, = torch.autograd.grad(a, x)
        gb, = torch.autograd.grad(b, x)
        assert b.dtype == torch.float32
        assert b.item() == pytest.approx(a.item(), rel=1e-5)
        assert torch.allclose(gb, ga, rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize('fused', [True, False])
def test_min_positives_floors_the_normaliser(fused):
    # two maps (B = 2) with 3 positive pixels in all: divided by 3 without a
    # floor, by 2 maps x 10 = 20 with min_positives=10; many positives: unchanged
    from mmpose_carcinosis.models import CragTailLoss
    logits = torch.zeros(2, 1, 8, 8)
    target = torch.zeros(2, 1, 8, 8)
    target[0, 0, 0, :3] = 1.0
    plain = CragTailLoss(fused=fused)(logits, target)
    floored = CragTailLoss(fused=fused, min_positives=10)(logits, target)
    assert floored.item() == pytest.approx(plain.item() * 3 / 20, rel=1e-6)
    mask = torch.ones(2, 1, 8, 8)
    assert CragTailLoss(fused=fused, min_positives=10)(logits, target, None, mask).item() == \
        pytest.approx(floored.item(), rel=1e-6)
    target[:, :, :5, :5] = 1.0  # 50 positives > 20
    assert CragTailLoss(fused=fused, min_positives=10)(logits, target).item() == \
        pytest.approx(CragTailLoss(fused=fused)(logits, target).item(), rel=1e-6)


@pytest.mark.parametrize('fused', [True, False])
def test_confirmed_negatives_get_the_full_negative_term(fused):
    # three pixels: a positive (x 0, H 1), an unlabeled confident one and a
    # rejected (confirmed negative) one, both at x = 2: the unlabeled pixel
    # gets the tail (lam - P) P^2, the rejected one P^2 (-log(1 - P))
    from mmpose_carcinosis.models import CragTailLoss
    loss_fn = CragTailLoss(fused=fused)
    logits = torch.tensor([[[[0.0, 2.0, 2.0]]]], dtype=torch.float64, requires_grad=True)
    target = torch.tensor([[[[1.0, 0.0, 0.0]]]], dtype=torch.float64)
    negatives = torch.tensor([[[[0.0, 0.0, 1.0]]]], dtype=torch.float64)
    p = 1 / (1 + math.exp(-2.0))
    pm = 1 / (1 + math.exp(1.0))  # sigmoid(0 - margin 1)
    pos = (1 - pm)**2 * -math.log(pm) + (1 - 0.5)**2
    tail = (1.5 - p) * p**2
    full = p**2 * -math.log(1 - p)
    loss = loss_fn(logits, target, None, None, negatives)
    assert float(loss) == pytest.approx(pos + tail + full, rel=1e-9)
    loss.backward()
    s = -math.log(1 - p)
    assert float(logits.grad[0, 0, 0, 2]) == pytest.approx(2 * p**2 * (1 - p) * s + p**3,
                                                           rel=1e-9)
    assert float(logits.grad[0, 0, 0, 1]) == pytest.approx(p**2 * (1 - p) * (3.0 - 3 * p),
                                                           rel=1e-9)
    # a positive pixel marked negative keeps its positive term
    both = loss_fn(logits.detach(), target, None, None, torch.ones_like(target))
    assert float(both) == pytest.approx(pos + 2 * full, rel=1e-9)


def test_a_dense_frame_is_the_loss_without_the_tail():
    # negatives everywhere (a reviewed, dense frame) = use_tail=False; with a
    # mask too, fused and autograd agree
    from mmpose_carcinosis.models import CragTailLoss
    torch.manual_seed(0)
    logits = torch.randn(2, 1, 12, 16, dtype=torch.float64)
    target = torch.zeros_like(logits)
    target[:, 0, 5:8, 6:9] = torch.rand(2, 3, 3, dtype=torch.float64)
    dense = torch.ones_like(target)
    plain = CragTailLoss(use_tail=False)(logits, target)
    assert float(CragTailLoss()(logits, target, None, None, dense)) == pytest.approx(
        float(plain), rel=1e-12)
    mask = (torch.rand(2, 1, 12, 16) > 0.2).double()
    half = torch.zeros_like(target)
    half[0] = 1.0  # frame 0 dense, frame 1 with the tail
    x1 = logits.clone().requires_grad_(True)
    x2 = logits.clone().requires_grad_(True)
    a = CragTailLoss(fused=True)(x1, target, None, mask, half)
    b = CragTailLoss(fused=False)(x2, target, None, mask, half)
    a.backward()
    b.backward()
    assert float(a) == pytest.approx(float(b), rel=1e-10)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-9, atol=1e-12)
