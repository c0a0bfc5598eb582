"""Stage two: pseudo targets from a teacher's heatmap, and the
student/teacher wrapper."""
import math

import numpy as np
import pytest
import torch

from mmpose_carcinosis.models import make_pseudo_targets


def gaussian(h, w, x, y, sigma):
    """A click's target as the codec writes it: cut at a 3 sigma window."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                            torch.arange(w, dtype=torch.float32), indexing='ij')
    g = torch.exp(-((xs - x)**2 + (ys - y)**2) / (2 * sigma**2))
    r = math.ceil(3 * sigma)
    return g * (((xs - x).abs() <= r) & ((ys - y).abs() <= r))


def test_pseudo_targets_on_a_constructed_frame():
    h = w = 20
    sigma = 1.5
    clicks = gaussian(h, w, 5, 5, sigma)[None, None]  # one click at (5, 5)
    t = torch.full((1, 1, h, w), 0.01)
    t[0, 0, 6, 5] = 0.9    # (x 5, y 6): the clicked nodule itself -> stays the click's
    t[0, 0, 15, 15] = 0.8  # far, confident -> pseudo label
    t[0, 0, 4, 15] = 0.3   # (x 15, y 4): far, in the band -> ignored
    t[0, 0, 15, 3] = 0.1   # below the band -> nothing
    target, mask, stats = make_pseudo_targets(t, clicks, sigma, high_thr=0.5, low_thr=0.2,
                                              click_radius=2.5, nms_kernel=3, weight=0.5)
    # the click stays a positive with its own Gaussian
    assert target[0, 0, 5, 5] == 1.0
    # a pseudo Gaussian of height 0.5 at (15, 15), spread sigma
    assert target[0, 0, 15, 15] == pytest.approx(0.5)
    assert target[0, 0, 15, 16] == pytest.approx(0.5 * math.exp(-1 / (2 * sigma**2)))
    assert target[0, 0, 15, 19] == pytest.approx(0.5 * math.exp(-16 / (2 * sigma**2)))
    # nothing at the clicked nodule's teacher peak beyond the click's Gaussian
    assert target[0, 0, 6, 5] == pytest.approx(float(clicks[0, 0, 6, 5]))
    # the band peak: a disk of radius 2.5 masked out, nothing added
    assert target[0, 0, 4, 15] == 0.0
    assert mask[0, 0, 4, 15] == 0 and mask[0, 0, 4, 17] == 0 and mask[0, 0, 6, 16] == 0
    assert mask[0, 0, 4, 18] == 1 and mask[0, 0, 7, 15] == 1   # 3 px away
    # everything else is valid, including the low peak and the click
    assert mask.sum() == h * w - int((torch.arange(-2, 3)[:, None]**2 +
                                      torch.arange(-2, 3)[None]**2 <= 6.25).sum())
    assert mask[0, 0, 15, 3] == 1 and target[0, 0, 15, 3] == 0
    assert stats['pseudo_per_frame'] == 1 and stats['ignored_per_frame'] == 1
    # no band (low == high): nothing ignored; weight 0: no pseudo labels yet
    _, mask, stats = make_pseudo_targets(t, clicks, sigma, 0.5, 0.5, 2.5, 3, 0.0)
    assert mask.min() == 1 and stats['ignored_per_frame'] == 0
    target0, _, _ = make_pseudo_targets(t, clicks, sigma, 0.5, 0.2, 2.5, 3, 0.0)
    assert torch.equal(target0, clicks)


def test_a_frame_over_the_cap_has_its_pseudo_peaks_ignored():
    # frame 0: two confident peaks, frame 1: four; a cap of 3 keeps frame
    # 0's as pseudo labels and turns frame 1's into ignored disks
    h = w = 24
    sigma = 1.5
    clicks = torch.zeros(2, 1, h, w)
    t = torch.full((2, 1, h, w), 0.01)
    for x, y in ((4, 4), (16, 16)):
        t[0, 0, y, x] = 0.8
    for x, y in ((4, 4), (16, 4), (4, 16), (16, 16)):
        t[1, 0, y, x] = 0.8
    target, mask, stats = make_pseudo_targets(t, clicks, sigma, 0.5, 0.2, 2.5, 3, 1.0,
                                              max_per_frame=3)
    assert target[0, 0, 4, 4] == 1.0 and target[0, 0, 16, 16] == 1.0
    assert mask[0].min() == 1
    assert target[1].max() == 0
    disk = int((torch.arange(-2, 3)[:, None]**2 + torch.arange(-2, 3)[None]**2 <= 6.25).sum())
    assert mask[1].sum() == h * w - 4 * disk and mask[1, 0, 16, 4] == 0
    assert stats['pseudo_per_frame'] == 1.0  # (2 + 0) / 2
    assert stats['ignored_per_frame'] == 2.0  # (0 + 4) / 2
    assert stats['doubtful_frames'] == 0.5
    # at the cap a frame keeps its pseudo labels; no cap: both frames keep them
    for cap in (4, None):
        target, mask, stats = make_pseudo_targets(t, clicks, sigma, 0.5, 0.2, 2.5, 3, 1.0,
                                                  max_per_frame=cap)
        assert target[1, 0, 16, 4] == 1.0 and mask.min() == 1
        assert stats['doubtful_frames'] == 0


def test_masked_pixels_carry_no_gradient():
    from mmpose_carcinosis.models import CragTailLoss
    logits = torch.randn(1, 1, 8, 8, requires_grad=True)
    target = torch.zeros(1, 1, 8, 8)
    target[0, 0, 2, 2] = 1.0
    mask = torch.ones(1, 1, 8, 8)
    mask[0, 0, 5:, 5:] = 0
    CragTailLoss()(logits, target, None, mask).backward()
    assert logits.grad[0, 0, 5:, 5:].abs().max() == 0
    assert logits.grad[0, 0, :5, :5].abs().max() > 0


STAGE2 = 'configs/selftrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py'
CROSS = 'configs/crosstrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py'


def _wrapper(config=STAGE2, model=None, **semi_train):
    """The demo's stage-two model with ``semi_train_cfg`` options changed
    (``model``: other top-level model options)."""
    from mmengine.config import Config
    from mmpose.registry import MODELS
    cfg = Config.fromfile(config)
    cfg.model.semi_train_cfg.update(semi_train)
    cfg.model.update(model or {})
    return MODELS.build(cfg.model)


def _cross(**semi_train):
    return _wrapper(CROSS, **semi_train)


def _batch(model, n=2):
    from mmpose.structures import PoseDataSample
    from mmengine.structures import PixelData, InstanceData
    codec = model.student.head.decoder
    w, h = codec.input_size
    hw, hh = codec.heatmap_size
    samples = []
    for i in range(n):
        s = PoseDataSample(metainfo=dict(flip_indices=[0]))
        heat = torch.zeros(1, hh, hw)
        heat[0, 10 + i, 20] = 1.0
        s.gt_fields = PixelData(heatmaps=heat)
        s.gt_instances = InstanceData(keypoints=torch.tensor([[[80.0, 40.0 + 4 * i]]]))
        samples.append(s)
    return torch.randn(n, 3, h, w), samples


def test_teacher_gets_no_gradient_and_stays_in_eval(monkeypatch):
    import os
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    torch.manual_seed(0)
    model = _wrapper()
    assert not model.teacher.training  # from the start (hooks run it before any train())
    model.train()
    assert not model.teacher.training and model.student.training
    inputs, samples = _batch(model)
    losses = model(inputs, samples, mode='loss')
    losses['loss_kpt'].backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.student.parameters())
    assert {'pseudo_per_frame', 'ignored_per_frame', 'pseudo_weight'} <= set(losses)


def test_teacher_runs_in_float32_under_autocast(monkeypatch):
    # --amp: the student trains in reduced precision, the teacher's pseudo
    # labels are made from float32 scores (those PseudoThresholdHook
    # calibrated on); before, they were made from bf16/fp16 scores
    import os

    from mmpose_carcinosis.models.pose_estimators import point_self_training as pst
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    torch.manual_seed(0)
    model = _wrapper(ramp_iters=0)
    model.train()
    inputs, samples = _batch(model)
    seen = []
    real = pst.make_pseudo_targets

    def spy(teacher_scores, *args):
        seen.append(teacher_scores)
        return real(teacher_scores, *args)
    monkeypatch.setattr(pst, 'make_pseudo_targets', spy)
    model(inputs, samples, mode='loss')
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model(inputs, samples, mode='loss')
    assert seen[1].dtype == torch.float32
    assert torch.equal(seen[0], seen[1])
    assert torch.isfinite(losses['loss_kpt'])


def test_mean_teacher_hook_follows_the_formula(monkeypatch):
    # MMDetection's MeanTeacherHook on our wrapper:
    # teacher = (1 - m) * teacher + m * student
    import os
    from types import SimpleNamespace

    from mmdet.engine.hooks import MeanTeacherHook
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    torch.manual_seed(0)
    model = _wrapper()
    with torch.no_grad():
        for p in model.student.parameters():
            p.add_(torch.randn_like(p))
    t0 = {k: v.clone() for k, v in model.teacher.named_parameters()}
    s = dict(model.student.named_parameters())
    hook = MeanTeacherHook(momentum=0.01)
    runner = SimpleNamespace(model=model, iter=5)  # a resumed run: no initial copy
    hook.before_train(runner)
    hook.after_train_iter(runner, 5)
    for k, v in model.teacher.named_parameters():
        torch.testing.assert_close(v, 0.99 * t0[k] + 0.01 * s[k])
    # at the first iteration the hook copies the student into the teacher
    hook.before_train(SimpleNamespace(model=model, iter=0))
    for k, v in model.teacher.named_parameters():
        torch.testing.assert_close(v, s[k])


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
    import os
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    torch.manual_seed(0)
    model = _cross()
    model.train()
    assert not model.teacher_b.training and model.cross_weight == 0.5
    inputs, samples = _batch(model)
    losses = model(inputs, samples, mode='loss')
    assert {'loss_kpt', 'loss_kpt_b', 'distill', 'distill_b'} <= set(losses)
    (losses['loss_kpt'] + losses['loss_kpt_b']).backward()
    for net in (model.teacher, model.teacher_b):
        assert all(p.grad is None for p in net.parameters())
    for net in (model.student, model.student_b):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    with pytest.raises(ValueError, match='unknown semi_train_cfg options'):
        _cross(wieght=0.5)
    with pytest.raises(ValueError, match='needs partner_load_from'):
        model.init_weights()


def test_each_cross_pair_uses_its_own_thresholds(monkeypatch):
    # the second teacher's pseudo labels come from its own calibration
    import os
    from mmpose_carcinosis.models.pose_estimators import point_self_training as pst
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    seen = []
    real = pst.make_pseudo_targets

    def spy(scores, clicks, sigma, high, low, radius, nms, weight, cap):
        seen.append((round(float(high), 6), round(float(low), 6), int(cap), radius))
        return real(scores, clicks, sigma, high, low, radius, nms, weight, cap)

    monkeypatch.setattr(pst, 'make_pseudo_targets', spy)
    model = _cross(high_thr=0.5, low_thr=0.2, max_pseudo_per_frame=3)
    inputs, samples = _batch(model)
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


def test_pseudo_threshold_hook_calibrates_each_teacher(monkeypatch):
    # one calibration per teacher, its own thresholds and cap, in the model's
    # buffers (a state dict round trip, i.e. a checkpoint, carries them and
    # a resumed run does not recalibrate); a doubt about the validation split
    # is warned once, not per teacher
    import os
    from types import SimpleNamespace

    from mmengine.logging import MessageHub, MMLogger

    from mmpose_carcinosis.engine.hooks import PseudoThresholdHook
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    model = _cross()
    warnings = []
    logger = SimpleNamespace(info=MMLogger.get_current_instance().info, warning=warnings.append)
    runner = SimpleNamespace(model=model, logger=logger,
                             message_hub=MessageHub.get_current_instance())
    hook = PseudoThresholdHook(low_ratio=0.5, frame_cap=2.0)
    # teacher 0: 0.3 with at most 2 kept per validation frame; teacher 1: 0.6 and 0
    fake = {0: (0.3, 2, ''), 1: (0.6, 0, '')}
    calls = []
    monkeypatch.setattr(hook, 'by_precision', lambda r, m, pair, c: calls.append(pair) or fake[pair])
    monkeypatch.setattr(hook, 'clicks_per_frame', lambda r: 3.0)
    monkeypatch.setattr(hook, 'truth_per_frame', lambda r: 4.0)  # clicks-like validation
    hook.before_train_epoch(runner)
    # the sparse validation split once; teacher 1 keeps nothing at 0.9
    assert len(warnings) == 2 and sum('4.0 true points' in w for w in warnings) == 1
    assert sum('no pseudo labels' in w for w in warnings) == 1
    assert model.thresholds(0) == (pytest.approx(0.3), pytest.approx(0.15), 4)
    assert model.thresholds(1) == (pytest.approx(0.6), pytest.approx(0.3), 2)  # 2 x max(0, 1)
    assert int(model.calibrated_version) == 0 == int(model.teacher_version)
    assert runner.message_hub.get_scalar('train/pseudo_b/high_thr').current() == 0.6
    hook.before_train_epoch(runner)  # same teacher: no second calibration
    assert calls == [0, 1]
    fresh = _cross()
    fresh.load_state_dict(model.state_dict())
    assert fresh.thresholds(1) == model.thresholds(1) and int(fresh.calibrated_version) == 0
    PseudoThresholdHook().before_train_epoch(SimpleNamespace(model=fresh))  # resumed: nothing
    # a refreshed teacher (version 1) is calibrated again
    model.teacher_version.fill_(1)
    hook.before_train_epoch(runner)
    assert calls == [0, 1, 0, 1] and int(model.calibrated_version) == 1


def test_flip_teacher_is_the_mean_over_the_mirror(monkeypatch):
    # teacher_flip: (f(x) + mirror(f(mirror(x)))) / 2 on raw outputs, as
    # MMPose's flip test; off: f(x)
    import os
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    torch.manual_seed(0)
    model = _wrapper(teacher_flip=True)
    model.dataset_meta = dict(flip_indices=[0])
    assert model.teacher.test_cfg['flip_test'] and not model.student.test_cfg.get('flip_test')
    model.train()
    inputs, _ = _batch(model)
    teacher = model.teacher
    with torch.no_grad():
        plain = teacher.head.forward(teacher.extract_feat(inputs))
        mirrored = teacher.head.forward(teacher.extract_feat(inputs.flip(-1))).flip(-1)
        torch.testing.assert_close(model.teacher_logits(teacher, inputs), (plain + mirrored) / 2)
        model.semi_train_cfg['teacher_flip'] = False
        torch.testing.assert_close(model.teacher_logits(teacher, inputs), plain)
    assert not torch.allclose(plain, mirrored)  # the network is not mirror-equivariant


def test_teacher_refresh_hook(monkeypatch, tmp_path):
    # at the start of epochs interval, 2 interval...: the teacher takes the
    # student's weights (current, or the best checkpoint's student.*), once
    import os
    from types import SimpleNamespace

    from mmengine.logging import MessageHub, MMLogger

    from mmpose_carcinosis.engine.hooks import TeacherRefreshHook
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    torch.manual_seed(0)
    model = _wrapper()
    with torch.no_grad():
        for p in model.student.parameters():
            p.add_(1.0)
    hub = MessageHub.get_instance('refresh_test')
    runner = SimpleNamespace(model=model, epoch=3, message_hub=hub,
                             logger=MMLogger.get_instance('refresh_test'))
    key = 'backbone.conv1.weight'

    def teacher_w():
        return model.teacher.state_dict()[key].clone()
    hook = TeacherRefreshHook(interval=5, source='student')
    before = teacher_w()
    hook.before_train_epoch(runner)  # epoch 3: not a round boundary
    assert torch.equal(teacher_w(), before) and int(model.teacher_version) == 0
    runner.epoch = 5
    hook.before_train_epoch(runner)
    assert torch.equal(teacher_w(), model.student.state_dict()[key]) and int(model.teacher_version) == 1
    # a best checkpoint: its student.* weights, not the current student's
    best = {f'student.{k}': v + 1 for k, v in model.student.state_dict().items()}
    best.update({f'teacher.{k}': v for k, v in model.teacher.state_dict().items()})
    path = str(tmp_path / 'best.pth')
    torch.save(dict(state_dict=best, meta={}), path)
    hub.update_info('best_ckpt', path)
    runner.epoch = 10
    TeacherRefreshHook(interval=5, source='best').before_train_epoch(runner)
    assert torch.equal(teacher_w(), best[f'student.{key}']) and int(model.teacher_version) == 2
    # resumed at epoch 10 after that refresh: nothing happens again
    with torch.no_grad():
        model.student.backbone.conv1.weight.add_(1.0)
    hook.before_train_epoch(runner)
    assert torch.equal(teacher_w(), best[f'student.{key}'])
    # the version is a buffer: checkpoints carry it
    assert int(model.state_dict()['teacher_version']) == 2
    with pytest.raises(ValueError, match='source'):
        TeacherRefreshHook(interval=5, source='ema')


def test_pseudo_label_quality_hook_fails_before_training_without_dense_truth(tmp_path):
    from types import SimpleNamespace

    from mmengine.config import ConfigDict

    from mmpose_carcinosis.engine.hooks import PseudoLabelQualityHook
    cfg = ConfigDict(train_dataloader=dict(dataset=dict(data_root=str(tmp_path),
                                                        ann_file='annotations/train.json')))
    hook = PseudoLabelQualityHook(dense_ann_file='annotations/train_dense.json')
    with pytest.raises(FileNotFoundError, match='annotations/train_dense.json does not exist'):
        hook.before_train(SimpleNamespace(cfg=cfg))
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'annotations' / 'train_dense.json').write_text('{}')
    hook.before_train(SimpleNamespace(cfg=cfg))  # present: no error


def test_threshold_for_count():
    from mmpose_carcinosis.models.utils import threshold_for_count
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.3])
    # 2 frames x 1.5 per frame = 3 kept: .9 .7 .5
    thr = threshold_for_count(scores, 3.0, 0.02)
    assert thr == 0.5 and (scores >= thr).sum() == 3
    assert threshold_for_count(scores, 2.6, 0.02) == 0.5  # rounded
    assert threshold_for_count(scores, 5, 0.02) == 0.1
    assert threshold_for_count(scores, 6, 0.02) == 0.02  # fewer peaks than asked: all
    assert threshold_for_count(scores, 0.4, 0.02) == 1.0  # none asked
    assert threshold_for_count(np.zeros(0), 2, 0.05) == 0.05


def test_pseudo_threshold_hook_checks_its_arguments():
    from mmpose_carcinosis.engine.hooks import PseudoThresholdHook
    with pytest.raises(ValueError, match='per_frame'):
        PseudoThresholdHook(rule='count')
    with pytest.raises(ValueError, match='rule'):
        PseudoThresholdHook(rule='quantile')
    with pytest.raises(ValueError, match='frame_cap'):
        PseudoThresholdHook(frame_cap=0)
    assert PseudoThresholdHook(rule='count', per_frame=3).per_frame == 3.0
    assert PseudoThresholdHook(rule='count', per_frame='clicks').per_frame == 'clicks'
    with pytest.raises(ValueError, match="or 'clicks'"):
        PseudoThresholdHook(rule='count', per_frame='click')


def test_validation_doubts():
    from mmpose_carcinosis.engine.hooks.pseudo_threshold_hook import validation_doubts
    assert validation_doubts(20.0, 3.0, 4, 0.9) == []  # dense validation, 4 kept
    sparse = validation_doubts(4.0, 3.0, 4, 0.9)  # 4 <= 1.5 x 3: clicks-like
    assert len(sparse) == 1 and "rule='count'" in sparse[0] and '4.0 true points' in sparse[0]
    assert validation_doubts(4.6, 3.0, 4, 0.9) == []
    none = validation_doubts(20.0, 3.0, 0, 0.9)
    assert len(none) == 1 and 'no pseudo labels' in none[0]


def test_stage_two_hooks_find_the_training_dataset_inside_wrappers():
    from types import SimpleNamespace

    from mmengine.config import Config

    from mmpose_carcinosis.engine.hooks.utils import train_dataset_cfg
    inner = dict(type='CarcinosisDataset', data_root='d', ann_file='annotations/train.json')
    for dataset in (inner, dict(type='RepeatDataset', times=3, dataset=inner)):
        runner = SimpleNamespace(cfg=Config(dict(train_dataloader=dict(dataset=dataset))))
        assert train_dataset_cfg(runner)['ann_file'] == 'annotations/train.json'
    runner = SimpleNamespace(cfg=Config(dict(train_dataloader=dict(dataset=dict(
        type='ConcatDataset', datasets=[inner, inner])))))
    with pytest.raises(ValueError, match='ConcatDataset'):
        train_dataset_cfg(runner)


def test_score_pseudo_labels_on_a_constructed_frame():
    from mmpose_carcinosis.models.utils import score_pseudo_labels
    # truth: (10, 10) clicked, (50, 50), (90, 90), (130, 130); predictions:
    # the click .9, near (50, 50) .6, near (90, 90) .2 (below thr), nothing .5
    pts = np.array([[11., 10.], [52., 50.], [90., 91.], [200., 200.]])
    scores = np.array([0.9, 0.6, 0.2, 0.5])
    truth = np.array([[10., 10.], [50., 50.], [90., 90.], [130., 130.]])
    clicks = np.array([[10., 10.]])
    keep, unclicked, found, over = score_pseudo_labels(pts, scores, truth, clicks, 0.3, 10.0)
    assert keep.tolist() == [False, True, False, True]
    assert unclicked.tolist() == [False, True, True, True]
    assert found.tolist() == [False, True, False, False] and not over
    # two pseudo labels: a cap of 2 keeps them, a cap of 1 drops both
    assert score_pseudo_labels(pts, scores, truth, clicks, 0.3, 10.0, cap=2)[0].sum() == 2
    keep, unclicked, found, over = score_pseudo_labels(pts, scores, truth, clicks, 0.3, 10.0,
                                                       cap=1)
    assert not keep.any() and not found.any() and over and unclicked.sum() == 3


def test_stage_one_weights_load_into_both_networks(monkeypatch, tmp_path):
    # a stage-one checkpoint (one network's keys) through init_cfg
    # Pretrained, as MMEngine initialises a model: student and teacher get
    # it; a stage-two checkpoint loads as it is
    import os
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    torch.manual_seed(0)
    one = _wrapper().student
    with torch.no_grad():
        for p in one.parameters():
            p.normal_()
    path = str(tmp_path / 'stage1.pth')
    torch.save(dict(state_dict=one.state_dict(), meta={}), path)
    model = _wrapper(model=dict(init_cfg=dict(type='Pretrained', checkpoint=path)))
    model.init_weights()
    for net in (model.student, model.teacher):
        for k, v in one.state_dict().items():
            assert torch.equal(net.state_dict()[k], v), k
    # the placeholder of the configs (checkpoint None) loads nothing
    assert _wrapper().without_stage_one
    # a stage-two state dict (prefixed) loads strictly as it is
    model.set_thresholds(0, 0.4, 0.1, 5)
    other = _wrapper()
    assert other.load_state_dict(model.state_dict(), strict=True)
    assert other.thresholds(0) == (pytest.approx(0.4), pytest.approx(0.1), 5)


def test_checkpoints_from_before_the_buffers_still_load(monkeypatch):
    # saved before thresholds and versions were buffers: the weights load
    # strictly and the buffers keep the configured values
    import os
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    model = _wrapper(high_thr=0.35, low_thr=0.05)
    old = {k: v for k, v in model.state_dict().items()
           if k.startswith(('student.', 'teacher.'))}
    fresh = _wrapper(high_thr=0.35, low_thr=0.05)
    fresh.load_state_dict(old, strict=True)
    assert fresh.thresholds(0) == (pytest.approx(0.35), pytest.approx(0.05), None)
    assert int(fresh.teacher_version) == 0 and int(fresh.calibrated_version) == -1


def test_the_former_flat_arguments_say_where_they_went():
    from mmpose_carcinosis.models import PointSelfTraining
    with pytest.raises(TypeError) as err:
        PointSelfTraining(detector=dict(), stage_one='a.pth', click_radius=2.5, high_thr=0.3)
    text = str(err.value)
    assert 'stage_one -> ' in text and 'init_cfg' in text
    assert 'click_radius -> semi_train_cfg.click_radius, now in frame pixels' in text
    assert 'high_thr -> semi_train_cfg.high_thr' in text


def test_the_click_radius_is_in_frame_pixels(monkeypatch):
    # a teacher peak 12 frame px (3 heatmap px at stride 4) from a click is a
    # pseudo label with click_radius 10 and the click's own with 14
    import os
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for radius, expected in ((10.0, 1.0), (14.0, 0.0)):
        model = _wrapper(click_radius=radius, high_thr=0.5, low_thr=0.5, ramp_iters=0)
        assert model.stride == 4.0
        codec = model.student.head.decoder
        w, h = codec.heatmap_size
        clicks = gaussian(h, w, 20, 10, codec.sigma)[None, None]  # a click at (20, 10)
        logits = torch.full_like(clicks, -8.0)
        logits[0, 0, 10, 23] = 4.0  # 3 heatmap px to the right
        target, _, stats = model.pseudo_targets(0, logits, clicks)
        assert float(stats['pseudo_per_frame']) == expected
        assert float(target[0, 0, 10, 23]) == pytest.approx(
            max(expected, float(clicks[0, 0, 10, 23])))
