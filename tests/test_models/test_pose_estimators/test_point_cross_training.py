"""PointCrossTraining: stage two with cross distillation."""
import math

import pytest
import torch

from helpers import ROOT, cross_model, stage_two_batch


def test_binary_distillation_hand_computed():
    from mmpose_carcinosis.models import BinaryDistillationLoss
    # one pixel: s = 2, t = 0 at T = 2: p = sigmoid(1), q = 1/2
    s = torch.tensor([[[[2.0]]]], requires_grad=True)
    t = torch.tensor([[[[0.0]]]])
    p = 1 / (1 + math.exp(-1))
    kl = 0.5 * math.log(0.5 / p) + 0.5 * math.log(0.5 / (1 - p))
    loss = BinaryDistillationLoss(temperature=2.0)(s, t)
    assert float(loss) == pytest.approx(4 * kl, rel=1e-6)
    # d/ds = T^2 * (p - q) / T = T (p - q)
    loss.backward()
    assert float(s.grad) == pytest.approx(2 * (p - 0.5), rel=1e-6)
    # zero when the student equals the teacher; finite for extreme logits
    assert float(BinaryDistillationLoss()(t, t)) == pytest.approx(0.0, abs=1e-7)
    big = BinaryDistillationLoss()(torch.full((1, 1, 2, 2), -60.0), torch.full((1, 1, 2, 2), 60.0))
    assert torch.isfinite(big) and big > 0


def test_cross_distillation_two_pairs(monkeypatch):
    monkeypatch.chdir(ROOT)
    torch.manual_seed(0)
    model = cross_model()
    model.train()
    assert not model.teacher_b.training and model.cross_weight == 0.5
    inputs, samples = stage_two_batch(model)
    losses = model(inputs, samples, mode='loss')
    assert {'loss_kpt', 'loss_kpt_b', 'distill', 'distill_b'} <= set(losses)
    (losses['loss_kpt'] + losses['loss_kpt_b']).backward()
    for net in (model.teacher, model.teacher_b):
        assert all(p.grad is None for p in net.parameters())
    for net in (model.student, model.student_b):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    with pytest.raises(ValueError, match='unknown semi_train_cfg options'):
        cross_model(wieght=0.5)
    with pytest.raises(ValueError, match='needs partner_load_from'):
        model.init_weights()


def test_each_cross_pair_uses_its_own_thresholds(monkeypatch):
    # the second teacher's pseudo labels come from its own calibration
    from mmpose_carcinosis.models.pose_estimators import point_self_training as pst
    monkeypatch.chdir(ROOT)
    seen = []
    real = pst.make_pseudo_targets

    def spy(scores, clicks, sigma, high, low, radius, nms, weight, cap, *rest):
        seen.append((round(float(high), 6), round(float(low), 6), int(cap), radius))
        return real(scores, clicks, sigma, high, low, radius, nms, weight, cap, *rest)

    monkeypatch.setattr(pst, 'make_pseudo_targets', spy)
    model = cross_model(high_thr=0.5, low_thr=0.2, max_pseudo_per_frame=3)
    inputs, samples = stage_two_batch(model)
    model(inputs, samples, mode='loss')
    # both pairs start from the config's; the click radius: 10 frame px / stride 4
    assert seen == [(0.5, 0.2, 3, 2.5), (0.5, 0.2, 3, 2.5)]
    model.set_thresholds(1, 0.7, 0.1, None)
    seen.clear()
    model(inputs, samples, mode='loss')
    assert seen == [(0.5, 0.2, 3, 2.5), (0.7, 0.1, -1, 2.5)]
    assert model.thresholds(1) == (pytest.approx(0.7), pytest.approx(0.1), None)
    assert model.teachers() == [model.teacher, model.teacher_b]
    with pytest.raises(ValueError, match='low_thr <= high_thr'):
        model.set_thresholds(1, 0.1, 0.2, None)


def test_the_partner_pair_loads_its_own_stage_one_once(monkeypatch, tmp_path):
    # partner_load_from: the second student and teacher get that checkpoint
    # (read from disk once), the first pair keeps its own
    monkeypatch.chdir(ROOT)
    torch.manual_seed(0)
    model = cross_model()
    one = model.student_b
    with torch.no_grad():
        for p in one.parameters():
            p.normal_()
    path = str(tmp_path / 'partner.pth')
    torch.save(dict(state_dict=one.state_dict(), meta={}), path)
    model = cross_model()
    model.partner_load_from = path
    reads = []
    real = torch.load
    monkeypatch.setattr(torch, 'load', lambda *a, **k: reads.append(a[0]) or real(*a, **k))
    model.init_weights()
    assert reads.count(path) == 1
    for net in (model.student_b, model.teacher_b):
        for k, v in one.state_dict().items():
            assert torch.equal(net.state_dict()[k], v), k
    key = 'backbone.conv1.weight'
    assert not torch.equal(model.student.state_dict()[key], one.state_dict()[key])
