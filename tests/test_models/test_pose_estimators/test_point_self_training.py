"""PointSelfTraining: the student/teacher model of stage two."""
import numpy as np
import pytest
import torch

from helpers import ROOT, STAGE2, gaussian, stage_two_model, stage_two_batch


def test_teacher_gets_no_gradient_and_stays_in_eval(monkeypatch):
    monkeypatch.chdir(ROOT)
    torch.manual_seed(0)
    model = stage_two_model()
    assert not model.teacher.training  # from the start (hooks run it before any train())
    model.train()
    assert not model.teacher.training and model.student.training
    inputs, samples = stage_two_batch(model)
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
    from mmpose_carcinosis.models.pose_estimators import point_self_training as pst
    monkeypatch.chdir(ROOT)
    torch.manual_seed(0)
    model = stage_two_model(ramp_iters=0)
    model.train()
    inputs, samples = stage_two_batch(model)
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
    from types import SimpleNamespace

    from mmdet.engine.hooks import MeanTeacherHook
    monkeypatch.chdir(ROOT)
    torch.manual_seed(0)
    model = stage_two_model()
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


def test_flip_teacher_is_the_mean_over_the_mirror(monkeypatch):
    # teacher_flip: (f(x) + mirror(f(mirror(x)))) / 2 on raw outputs, as
    # MMPose's flip test; off: f(x)
    monkeypatch.chdir(ROOT)
    torch.manual_seed(0)
    model = stage_two_model(teacher_flip=True)
    model.dataset_meta = dict(flip_indices=[0])
    assert model.teacher.test_cfg['flip_test'] and not model.student.test_cfg.get('flip_test')
    model.train()
    inputs, _ = stage_two_batch(model)
    teacher = model.teacher
    with torch.no_grad():
        plain = teacher.head.forward(teacher.extract_feat(inputs))
        mirrored = teacher.head.forward(teacher.extract_feat(inputs.flip(-1))).flip(-1)
        torch.testing.assert_close(model.teacher_logits(teacher, inputs), (plain + mirrored) / 2)
        model.semi_train_cfg['teacher_flip'] = False
        torch.testing.assert_close(model.teacher_logits(teacher, inputs), plain)
    assert not torch.allclose(plain, mirrored)  # the network is not mirror-equivariant


def test_stage_one_weights_load_into_both_networks(monkeypatch, tmp_path):
    # a stage-one checkpoint (one network's keys) through init_cfg
    # Pretrained, as MMEngine initialises a model: student and teacher get
    # it; a stage-two checkpoint loads as it is
    monkeypatch.chdir(ROOT)
    torch.manual_seed(0)
    one = stage_two_model().student
    with torch.no_grad():
        for p in one.parameters():
            p.normal_()
    path = str(tmp_path / 'stage1.pth')
    torch.save(dict(state_dict=one.state_dict(), meta={}), path)
    model = stage_two_model(model=dict(init_cfg=dict(type='Pretrained', checkpoint=path)))
    model.init_weights()
    for net in (model.student, model.teacher):
        for k, v in one.state_dict().items():
            assert torch.equal(net.state_dict()[k], v), k
    # the placeholder of the configs (checkpoint None) loads nothing
    assert stage_two_model().without_stage_one
    # a stage-two state dict (prefixed) loads strictly as it is
    model.set_thresholds(0, 0.4, 0.1, 5)
    other = stage_two_model()
    assert other.load_state_dict(model.state_dict(), strict=True)
    assert other.thresholds(0) == (pytest.approx(0.4), pytest.approx(0.1), 5)


def test_a_stage_one_read_through_another_activation_is_refused(monkeypatch, tmp_path):
    # an MSE stage one outputs scores; under the stage-two config's sigmoid
    # every pixel would score near 0.5 (its pseudo labels were 27% precise on
    # HeLa): refused before training, naming the checkpoint and the key.
    # With the stage one's own head (activation and loss) it loads, and the
    # teacher's scores are its outputs as they are
    import os.path as osp

    from mmengine.config import Config
    from mmpose.registry import MODELS
    monkeypatch.chdir(ROOT)
    torch.manual_seed(0)
    one = stage_two_model().student
    mse = Config.fromfile(osp.join(ROOT, 'configs',
                                   'mse_hrnet-w32_1xb4-100e_carcinosis-1280x736.py'))
    path = str(tmp_path / 'mse_stage1.pth')
    torch.save(dict(state_dict=one.state_dict(), meta=dict(cfg=mse.pretty_text)), path)
    pretrained = dict(type='Pretrained', checkpoint=path)
    model = stage_two_model(model=dict(init_cfg=pretrained))
    with pytest.raises(ValueError, match=r"mse_stage1\.pth was trained with score_activation="
                       r"None \(KeypointMSELoss\).*model\.detector\.head\.score_activation="
                       r"None"):
        model.init_weights()
    cfg = Config.fromfile(STAGE2)
    cfg.merge_from_dict({'model.init_cfg': pretrained,
                         'model.detector.head.score_activation': None,
                         'model.detector.head.loss': dict(type='KeypointMSELoss',
                                                          use_target_weight=False,
                                                          _delete_=True)})
    model = MODELS.build(cfg.model)
    model.init_weights()
    key = 'head.final_layer.weight'
    assert torch.equal(model.teacher.state_dict()[key], one.state_dict()[key])
    raw = torch.randn(1, 1, 4, 4)
    assert torch.equal(model.teacher.head.activate(raw), raw)
    loss = model.loss(*stage_two_batch(model))['loss_kpt']  # MSE on the pseudo targets
    loss.backward()
    assert torch.isfinite(loss) and model.student.head.final_layer.weight.grad.abs().sum() > 0
    # a checkpoint of the same activation, or one without a config, loads
    for meta in (dict(cfg=Config.fromfile(STAGE2).pretty_text), {}):
        torch.save(dict(state_dict=one.state_dict(), meta=meta), path)
        stage_two_model(model=dict(init_cfg=pretrained)).init_weights()


def test_checkpoints_from_before_the_buffers_still_load(monkeypatch):
    # saved before thresholds and versions were buffers: the weights load
    # strictly and the buffers keep the configured values
    monkeypatch.chdir(ROOT)
    model = stage_two_model(high_thr=0.35, low_thr=0.05)
    old = {k: v for k, v in model.state_dict().items()
           if k.startswith(('student.', 'teacher.'))}
    fresh = stage_two_model(high_thr=0.35, low_thr=0.05)
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
    monkeypatch.chdir(ROOT)
    for radius, expected in ((10.0, 1.0), (14.0, 0.0)):
        model = stage_two_model(click_radius=radius, high_thr=0.5, low_thr=0.5, ramp_iters=0)
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


def test_confirmed_negatives_reach_the_loss_and_stop_pseudo_labels(monkeypatch):
    # gt_fields.negatives of the samples: the teacher's confident peak on a
    # rejected point is no pseudo label, and the student's loss there is
    # the full negative term
    monkeypatch.chdir(ROOT)
    torch.manual_seed(0)
    model = stage_two_model(high_thr=0.5, low_thr=0.5, ramp_iters=0)
    codec = model.student.head.decoder
    w, h = codec.heatmap_size
    logits = torch.full((1, 1, h, w), -8.0)
    logits[0, 0, 30, 40] = 4.0
    clicks = torch.zeros(1, 1, h, w)
    # the codec's map of a point rejected 1 heatmap px (4 frame px) away
    negatives = torch.from_numpy(codec.encode_negatives(
        np.array([[41 * model.stride, 30 * model.stride]]), False))[None]
    assert negatives[0, 0, 30, 40] == 1
    _, _, stats = model.pseudo_targets(0, logits, clicks)
    assert float(stats['pseudo_per_frame']) == 1.0
    _, _, stats = model.pseudo_targets(0, logits, clicks, negatives)
    assert float(stats['pseudo_per_frame']) == 0.0
    # through the training step: the samples' field changes the loss
    inputs, samples = stage_two_batch(model, 1)
    model.train()
    torch.manual_seed(1)  # the same student view in both steps
    plain = model(inputs, samples, mode='loss')['loss_kpt']
    torch.manual_seed(1)
    again = model(inputs, samples, mode='loss')['loss_kpt']
    samples[0].gt_fields.set_field(torch.ones(1, h, w), 'negatives')
    torch.manual_seed(1)
    dense = model(inputs, samples, mode='loss')['loss_kpt']
    assert float(again) == float(plain) and float(dense) > float(plain)


def test_frozen_pseudo_labels_stable_ones_kept_and_carried_by_checkpoints(monkeypatch):
    monkeypatch.chdir(ROOT)
    model = stage_two_model(click_radius=10.0)
    # the first teacher leaves candidates only
    assert model.freeze_stable(np.array([7, 7, 8]), np.array(
        [[40.0, 40.0], [200.0, 100.0], [60.0, 20.0]])) == 0
    assert len(model.frozen_img_ids) == 0 and int(model.frozen_version) == 0
    # the next agrees within 10 px on frame 7's first and frame 8's
    model.teacher_version.fill_(1)
    assert model.freeze_stable(np.array([7, 7, 8]), np.array(
        [[46.0, 48.0], [300.0, 100.0], [60.0, 29.0]])) == 2
    np.testing.assert_allclose(model.frozen(7), [[46.0, 48.0]])
    np.testing.assert_allclose(model.frozen(8), [[60.0, 29.0]])
    assert model.frozen(9).shape == (0, 2) and int(model.frozen_version) == 1
    assert len(model.candidate_img_ids) == 3
    # a fresh model (empty buffers) loads them; so does one saved before
    # the buffers existed (they stay empty)
    fresh = stage_two_model(click_radius=10.0)
    fresh.load_state_dict(model.state_dict(), strict=True)
    np.testing.assert_allclose(fresh.frozen(7), [[46.0, 48.0]])
    assert int(fresh.frozen_version) == 1 and len(fresh.candidate_points) == 3
    old = {k: v for k, v in model.state_dict().items() if 'frozen' not in k
           and 'candidate' not in k}
    again = stage_two_model(click_radius=10.0)
    again.load_state_dict(old, strict=True)
    assert len(again.frozen_img_ids) == 0 and int(again.frozen_version) == -1


def test_freeze_points_adds_labels_once(monkeypatch):
    # points confirmed another way (across video frames) are frozen
    # directly: not twice within click_radius of a frozen label of the same
    # frame, candidates and version untouched
    monkeypatch.chdir(ROOT)
    model = stage_two_model(click_radius=10.0)
    model.frozen_img_ids = torch.tensor([7])
    model.frozen_points = torch.tensor([[40.0, 40.0]])
    assert model.freeze_points(np.array([7, 7, 8]), np.array(
        [[45.0, 45.0], [100.0, 40.0], [45.0, 45.0]])) == 2
    np.testing.assert_allclose(model.frozen(7), [[40.0, 40.0], [100.0, 40.0]])
    np.testing.assert_allclose(model.frozen(8), [[45.0, 45.0]])
    assert len(model.candidate_img_ids) == 0 and int(model.frozen_version) == -1
    assert model.freeze_points(np.zeros(0), np.zeros((0, 2))) == 0


def test_frozen_pseudo_labels_count_as_clicks_in_the_training_step(monkeypatch):
    # a frozen point of the sample's frame, through its warp_mat (identity
    # here, no flip), joins the click target the pseudo labels are built on
    from mmpose_carcinosis.models.pose_estimators import point_self_training as pst
    monkeypatch.chdir(ROOT)
    torch.manual_seed(0)
    model = stage_two_model(ramp_iters=0)
    inputs, samples = stage_two_batch(model, 1)
    samples[0].set_metainfo(dict(img_id=3, warp_mat=np.eye(2, 3, dtype=np.float32),
                                 flip=False, input_size=(480, 288)))
    seen = []
    real = pst.make_pseudo_targets

    def spy(scores, click_target, *args, **kwargs):
        seen.append(click_target.clone())
        return real(scores, click_target, *args, **kwargs)
    monkeypatch.setattr(pst, 'make_pseudo_targets', spy)
    model.train()
    model(inputs, samples, mode='loss')
    model.teacher_version.fill_(1)
    model.candidate_img_ids = torch.tensor([3])
    model.candidate_points = torch.tensor([[200.0, 120.0]])
    assert model.freeze_stable(np.array([3]), np.array([[200.0, 120.0]])) == 1
    model(inputs, samples, mode='loss')
    codec = model.student.head.decoder
    w, h = codec.heatmap_size
    frozen = gaussian(h, w, 200.0 / 4, 120.0 / 4, codec.sigma)
    torch.testing.assert_close(seen[1][0, 0], torch.maximum(seen[0][0, 0], frozen),
                               atol=1e-5, rtol=0)
    assert seen[1][0, 0, 30, 50] == pytest.approx(1.0)
