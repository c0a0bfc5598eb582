"""The stage-two hooks: when thresholds are calibrated, teachers refreshed and
pseudo labels scored."""
import pytest
import torch

from helpers import ROOT, stage_two_model, cross_model


def test_pseudo_threshold_hook_calibrates_each_teacher(monkeypatch):
    # one calibration per teacher, its own thresholds and cap, in the model's
    # buffers (a state dict round trip, i.e. a checkpoint, carries them and
    # a resumed run does not recalibrate); a doubt about the validation split
    # is warned once, not per teacher
    from types import SimpleNamespace

    from mmengine.logging import MessageHub, MMLogger

    from mmpose_carcinosis.engine.hooks import PseudoThresholdHook
    monkeypatch.chdir(ROOT)
    model = cross_model()
    warnings = []
    logger = SimpleNamespace(info=MMLogger.get_current_instance().info, warning=warnings.append)
    runner = SimpleNamespace(model=model, logger=logger,
                             message_hub=MessageHub.get_current_instance())
    hook = PseudoThresholdHook(low_ratio=0.5, frame_cap=2.0)
    # teacher 0: 0.3, no calibrated band (so low_ratio: 0.15), at most 2 kept
    # per validation frame; teacher 1: 0.6, its band calibrated from 0.3, 0
    fake = {0: (0.3, None, 2, ''), 1: (0.6, 0.3, 0, '')}
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
    assert runner.message_hub.get_scalar('train/pseudo_b/low_thr').current() == 0.3
    hook.before_train_epoch(runner)  # same teacher: no second calibration
    assert calls == [0, 1]
    fresh = cross_model()
    fresh.load_state_dict(model.state_dict())
    assert fresh.thresholds(1) == model.thresholds(1) and int(fresh.calibrated_version) == 0
    PseudoThresholdHook().before_train_epoch(SimpleNamespace(model=fresh))  # resumed: nothing
    # a refreshed teacher (version 1) is calibrated again
    model.teacher_version.fill_(1)
    hook.before_train_epoch(runner)
    assert calls == [0, 1, 0, 1] and int(model.calibrated_version) == 1


def test_teacher_refresh_hook(monkeypatch, tmp_path):
    # at the start of epochs interval, 2 interval...: the teacher takes the
    # student's weights (current, or the best checkpoint's student.*), once
    from types import SimpleNamespace

    from mmengine.logging import MessageHub, MMLogger

    from mmpose_carcinosis.engine.hooks import TeacherRefreshHook
    monkeypatch.chdir(ROOT)
    torch.manual_seed(0)
    model = stage_two_model()
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
    with pytest.raises(ValueError, match='precision scan'):
        PseudoThresholdHook(precision_scan='bottom')
    with pytest.raises(ValueError, match='band_precision'):
        PseudoThresholdHook(band_precision=0)
    with pytest.raises(ValueError, match="rule='precision'"):
        PseudoThresholdHook(rule='count', per_frame=3, band_precision=0.5)


@pytest.mark.parametrize('scan', ['from_top', 'lowest'])
def test_pseudo_threshold_hook_asks_the_metric_for_its_scan(scan):
    # the validation metric is built with the hook's target, scan and the
    # top predictions left out, and its answer is the threshold
    from types import SimpleNamespace

    from mmengine.config import ConfigDict

    from mmpose_carcinosis.engine.hooks import PseudoThresholdHook
    built = []

    class Evaluator:
        def process(self, **kw):
            pass

        def evaluate(self, n):
            return {'teacher/thr@p0.8': 0.25, 'teacher/max_count@p0.8': 3,
                    'teacher/band_thr@p0.8': 0.2}

    runner = SimpleNamespace(
        cfg=ConfigDict(val_evaluator=dict(type='PointLocalizationMetric', radius=14.,
                                          radii=[14.])),
        build_evaluator=lambda cfg: built.append(cfg) or Evaluator(),
        val_dataloader=type('Loader', (), dict(dataset=[], __iter__=lambda self: iter(())))())
    hook = PseudoThresholdHook(precision=0.8, precision_scan=scan, low_ratio=0.5)
    # high_thr, no calibrated low_thr (the ratio is applied by calibrate),
    # the most kept per frame
    assert hook.by_precision(runner, None, 0, 2.4)[:3] == (0.25, None, 3)
    (cfg, ) = built
    assert (cfg['precision_scan'], cfg['precision_targets'], cfg['exclude_top'],
            cfg['radius'], cfg['band_precision']) == (scan, [0.8], 2, 14., None)
    # the band calibrated by the metric instead
    hook = PseudoThresholdHook(precision=0.8, precision_scan=scan, band_precision=0.5)
    assert hook.by_precision(runner, None, 0, 2.4)[:3] == (0.25, 0.2, 3)
    assert built[-1]['band_precision'] == 0.5



def test_pseudo_threshold_hook_calibrates_refreshed_teachers_for_their_own_target():
    # the first teacher at `precision`, every refreshed one at
    # `refresh_precision`: the metric is asked for that target and its
    # answer under that key is the threshold
    from types import SimpleNamespace

    import torch
    from mmengine.config import ConfigDict

    from mmpose_carcinosis.engine.hooks import PseudoThresholdHook
    built = []

    class Evaluator:
        def process(self, **kw):
            pass

        def evaluate(self, n):
            q = built[-1]['precision_targets'][0]
            return {f'teacher/thr@p{q:g}': q / 2, f'teacher/max_count@p{q:g}': 3}

    runner = SimpleNamespace(
        cfg=ConfigDict(val_evaluator=dict(type='PointLocalizationMetric', radius=14.,
                                          radii=[14.])),
        build_evaluator=lambda cfg: built.append(cfg) or Evaluator(),
        val_dataloader=type('Loader', (), dict(dataset=[], __iter__=lambda self: iter(())))())
    model = SimpleNamespace(teacher_version=torch.tensor(0))
    hook = PseudoThresholdHook(precision=0.9, refresh_precision=0.95, low_ratio=0.5)
    assert hook.by_precision(runner, model, 0, 2.0)[:2] == (0.45, None)
    model.teacher_version = torch.tensor(2)
    assert hook.by_precision(runner, model, 0, 2.0)[:2] == (0.475, None)
    assert [c['precision_targets'] for c in built] == [[0.9], [0.95]]
    assert PseudoThresholdHook(precision=0.9).target_precision(model) == 0.9
    with pytest.raises(ValueError, match='refresh_precision'):
        PseudoThresholdHook(refresh_precision=1.5)
    with pytest.raises(ValueError, match="rule='precision'"):
        PseudoThresholdHook(rule='count', per_frame=3, refresh_precision=0.95)


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
