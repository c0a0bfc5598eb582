"""The bookkeeping of ``benchmarks/sparse_to_dense.py``: reading a fixed
threshold off a curve, checkpoint selection and the seed summary (the
training runs themselves are covered by ``tests/test_runner/test_end_to_end.py``)."""
import json
import os
import os.path as osp

import numpy as np
import pytest

from helpers import load_script

from helpers import ROOT  # noqa: E402


@pytest.fixture(scope='module')
def bench():
    return load_script('benchmarks/sparse_to_dense.py')


def test_at_threshold_reads_lowest_threshold_at_or_above(bench):
    # the metric writes thresholds in descending order
    curve = {'10': dict(thresholds=[0.9, 0.5, 0.2, 0.05],
                        precision=[1.0, 0.8, 0.6, 0.3],
                        recall=[0.1, 0.4, 0.6, 0.9])}
    out = bench.at_threshold(curve, 10.0, 0.1)  # -> the 0.2 point
    assert out['precision_fixed'] == pytest.approx(60.0)
    assert out['recall_fixed'] == pytest.approx(60.0)
    assert out['f1_fixed'] == pytest.approx(60.0)
    out = bench.at_threshold(curve, 10.0, 0.5)  # exactly on a threshold
    assert out['f1_fixed'] == pytest.approx(100 * 2 * 0.8 * 0.4 / 1.2)
    # nothing scores that high: no prediction, all zero
    assert bench.at_threshold(curve, 10.0, 0.95) == dict(
        f1_fixed=0.0, precision_fixed=0.0, recall_fixed=0.0)


def test_checkpoint_epoch(bench):
    assert bench.checkpoint_epoch('work/epoch_20.pth') == 20
    assert bench.checkpoint_epoch('epoch_3.pth') == 3
    assert bench.checkpoint_epoch('work/best_point_f1_epoch_10.pth') is None
    assert bench.checkpoint_epoch('work/iter_100.pth') is None


def test_summarize_mean_and_sample_std(bench):
    def row(loss, seed, f1, clicks='1-5'):
        r = {k: 0.0 for k in bench.SUMMARY_KEYS}
        r.update(loss=loss, seed=seed, f1=f1, clicks=clicks, ap=f1 / 2)
        return r

    rows = [row('mse', 0, 80.0), row('cragtail', 0, 90.0),
            row('mse', 1, 90.0), row('cragtail', 1, 90.0),
            row('mse', 2, 100.0), row('cragtail', 2, 93.0),
            row('mse', 0, 50.0, clicks=1)]
    summary = bench.summarize(rows)
    assert [(s['clicks'], s['loss']) for s in summary] == [
        ('1-5', 'mse'), ('1-5', 'cragtail'), (1, 'mse')]
    mse, ct, one = summary
    assert mse['seeds'] == [0, 1, 2]
    assert mse['f1'] == pytest.approx(90.0)
    assert mse['f1_std'] == pytest.approx(10.0)  # sample (n - 1) std
    assert mse['ap'] == pytest.approx(45.0)
    assert mse['ap_std'] == pytest.approx(5.0)
    assert ct['f1'] == pytest.approx(91.0)
    assert ct['f1_std'] == pytest.approx(3.0 ** 0.5)
    assert one['f1'] == 50.0 and one['f1_std'] == 0.0  # a single seed
    table = bench.summary_markdown(summary)
    assert '| 1-5 | mse | 0 1 2 | 90.0 ± 10.0 |' in table


@pytest.mark.parametrize('select,aps,expected', [
    ('last', {10: 90.0, 20: 95.0, 30: 80.0}, 30),
    ('best-val', {10: 90.0, 20: 95.0, 30: 80.0}, 20),
    ('best-val', {10: 95.0, 20: 95.0, 30: 80.0}, 20),  # tie: the later one
    ('best-val', {10: 80.0, 20: 85.0, 30: 90.0}, 30),
])
def test_select_checkpoint(bench, tmp_path, monkeypatch, select, aps,
                           expected):
    monkeypatch.chdir(tmp_path.parent)
    work = tmp_path.name  # a relative work dir, as the benchmark passes it
    for epoch in aps:
        (tmp_path / f'epoch_{epoch}.pth').write_bytes(b'')
    (tmp_path / 'best_point_f1_epoch_10.pth').write_bytes(b'')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_30.pth'))
    tested = []

    def fake_run(cmd, check):
        # tools/test.py <config> <checkpoint> ... --out <file>: write the
        # validation metrics that checkpoint would give
        epoch = bench.checkpoint_epoch(cmd[3])
        tested.append(epoch)
        out = cmd[cmd.index('--out') + 1]
        assert 'test_dataloader.dataset.ann_file=annotations/val.json' in cmd
        with open(out, 'w') as f:
            json.dump({'point/ap': aps[epoch], 'point/best_thr': epoch / 100},
                      f)

    monkeypatch.setattr(bench.subprocess, 'run', fake_run)
    args = bench.parse_args(['--select', select])
    ckpt, val = bench.select_checkpoint(args, ['python', 'test.py', 'cfg'],
                                        work)
    assert bench.checkpoint_epoch(ckpt) == expected
    assert val['point/ap'] == aps[expected]
    assert val['point/best_thr'] == expected / 100
    assert tested == ([30] if select == 'last' else [10, 20, 30])
    # the last checkpoint's metrics keep the plain name; others get a suffix
    assert osp.isfile(osp.join(work, 'val_metrics.json'))
    if select == 'best-val':
        assert osp.isfile(osp.join(work, 'val_metrics_epoch_10.json'))


def test_training_time_reads_any_saved_result(bench, tmp_path):
    work = str(tmp_path)
    assert bench.training_time(work, 3) is None  # nothing there
    (tmp_path / 'result_best-val.json').write_text(
        json.dumps({'row': {'train_time_s': 12.5}, 'curve': {}}))
    assert bench.training_time(work, 3) is None  # no finished training
    (tmp_path / 'last_checkpoint').write_text(osp.join(work, 'epoch_3.pth'))
    # a model tested with --select best-val only is still reused by --select
    # last (re-tested, not trained again)
    assert bench.training_time(work, 3) == 12.5
    # the last checkpoint of an interrupted training: not finished
    (tmp_path / 'last_checkpoint').write_text(osp.join(work, 'epoch_2.pth'))
    assert bench.training_time(work, 3) is None


def test_summary_with_groups_and_dense_ceiling(bench):
    def row(loss, seed, f1, faint):
        r = {k: 1.0 for k in bench.SUMMARY_KEYS}
        r.update(loss=loss, seed=seed, f1=f1, clicks='1-5', recall_faint=faint,
                 recall_obvious=90.0, recall_medium=50.0)
        return r

    rows = [row('mse', 0, 40.0, 5.0), row('dense', 0, 80.0, 60.0),
            row('mse', 1, 60.0, 15.0), row('dense', 1, 80.0, 70.0)]
    summary = bench.summarize(rows)
    mse, dense = summary
    assert mse['recall_faint'] == pytest.approx(10.0)
    assert mse['recall_faint_std'] == pytest.approx(50 ** 0.5)
    # fraction of the dense ceiling: mean F1 over mean dense F1
    assert mse['of_dense'] == pytest.approx(100 * 50.0 / 80.0)
    assert dense['of_dense'] == pytest.approx(100.0)
    # the JSON summary other tools read
    by = bench.summary_by_method(summary)
    assert set(by) == {'mse', 'dense'}
    assert by['mse']['f1_mean'] == pytest.approx(50.0)
    assert by['mse']['f1_std'] == pytest.approx(200 ** 0.5)
    assert by['mse']['recall_faint_mean'] == pytest.approx(10.0)
    assert by['mse']['of_dense'] == pytest.approx(62.5)
    assert by['mse']['seeds'] == [0, 1]
    table = bench.summary_markdown(summary)
    assert 'recall faint | recall medium | recall obvious | F1 / dense F1 |' in table
    assert '| 10.0 ± 7.1 | 50.0 ± 0.0 | 90.0 ± 0.0 | 62% |' in table
    # per-seed rows show the group recalls in their natural order
    assert bench.group_keys(rows) == ['recall_faint', 'recall_medium', 'recall_obvious']
    # figures of another test mode (stage two's flip test) are not groups
    for r in rows:
        r.update(recall_faint_flip=1.0, recall_fixed=2.0)
    assert bench.group_keys(rows) == ['recall_faint', 'recall_medium', 'recall_obvious']
    assert 'flip' not in bench.summary_markdown(bench.summarize(rows))


def test_default_run_is_three_seeds_with_the_ceiling(bench):
    args = bench.parse_args([])
    # the loss baselines, the shipped stage one and the ceiling
    assert args.losses == ['mse', 'hill', 'cragtail', 'cragtail_paste', 'dense']
    assert bench.DEFAULT_SEEDS == (0, 1, 2) and args.seeds is None
    assert (args.preset, args.click_bias) == ('varied', None)
    assert bench.METHODS['dense'] == ('cragtail', 'dense')


def test_false_positive_kinds_on_a_constructed_frame():
    fp = load_script('benchmarks/false_positives.py')
    import numpy as np
    frame = dict(img_id=7, ori_shape=(40, 80), pred_instances=dict(
        # a hit, a duplicate beside it, one on a glint, one on tissue, and a
        # low-scoring one on a streak
        keypoints=np.array([[10, 10], [13, 10], [50, 30], [70, 5], [30, 30]],
                           np.float32).reshape(-1, 1, 2),
        keypoint_scores=np.array([0.9, 0.8, 0.7, 0.6, 0.2]).reshape(-1, 1)),
        gt_instances=dict(keypoints=np.array([[11, 10]], np.float32).reshape(-1, 1, 2)))
    distractors = {'7': [[51, 31, 'glint'], [30, 33, 'streak']]}
    tp, kinds, scores = fp.classify([frame], distractors, 5.0, 0.5)
    assert tp.tolist() == [True, False, False, False]
    assert kinds.tolist() == ['', 'duplicate', 'glint', 'tissue']
    tp, kinds, _ = fp.classify([frame], distractors, 5.0, -np.inf)
    assert kinds.tolist()[-1] == 'streak'
    # area within 5 px of the two look-alikes, sampled every pixel: two
    # discs of 81 grid points each (no overlap) in 40 x 80
    assert fp.lookalike_area([frame], distractors, 5.0, step=1) == pytest.approx(
        100 * 2 * 81 / 3200)


def test_stage_two_benchmark_bookkeeping(tmp_path, monkeypatch):
    # the runs themselves are faked: what each method is given (checkpoint,
    # hooks, schedule), and the summary with the share of the
    # stage-one-to-dense gap closed
    import sys
    sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
    import stage_two
    from mmengine.config import Config
    curve = {'10': dict(thresholds=[0.8, 0.5, 0.3, 0.1], precision=[1.0, 0.95, 0.9, 0.6],
                        recall=[0.1, 0.3, 0.5, 0.8])}
    calls = []
    f1 = dict(cragtail=60.0, control=61.0, splc=62.0, stage2=70.0, stage2_first92=70.1, stage2_p90=69.5, stage2_noflip=64.0,
              stage2_ema=66.0, stage2_rounds=71.0, stage2_single=71.5, stage2_frozen_video=72.5, stage2_scan_top=72.7, stage2_p95=72.8,
              stage2_band50=72.9, stage2_p95_band50=73.0,
              stage2_refresh95=73.1, stage2_refresh95_band50=73.15, stage2_negw_rounds=73.17, stage2_appearance=73.2, stage2_appearance95=73.3,
              stage2_noband=68.0, stage2_count=69.0,
              stage2_lowest=70.5, stage2_p80=70.7, stage2_negw=70.2, stage2_cross=72.0)

    def fake_train_and_test(args, loss, data_root, work, overrides=None, label=None,
                            seed=0, config=None, need_model=False, before_training=None):
        os.makedirs(work, exist_ok=True)
        if osp.basename(work) in ('cragtail', 'cragtail_paste'):  # stage one
            with open(osp.join(work, 'last_checkpoint'), 'w') as f:
                f.write(osp.join(work, 'epoch_30.pth'))
            with open(osp.join(work, 'val_pr_curve.json'), 'w') as f:
                json.dump(curve, f)
        method = 'dense' if 'clicks_dense' in work else (
            label or (loss if config else 'cragtail'))
        calls.append((method, overrides, config))
        value = 80.0 if method == 'dense' else f1[method] + seed
        row = {k: value for k in stage_two.s2d.SUMMARY_KEYS}
        row.update(loss=loss, seed=seed, val_thr=0.1, precision_fixed=0.0, train_time_s=1.0)
        return row, {'10': dict(thresholds=[0.5], precision=[1.0], recall=[0.5])}

    monkeypatch.setattr(stage_two.s2d, 'train_and_test', fake_train_and_test)
    presets = set()
    data = tmp_path / 'data'
    (data / 'annotations').mkdir(parents=True)
    (data / 'annotations' / 'train_dense.json').write_text('{}')

    def fake_data(args, clicks):
        presets.add(args.preset)
        # the classic data here has no dense truth of the training frames
        return str(data) if args.preset == 'varied' else str(tmp_path / 'classic')
    monkeypatch.setattr(stage_two.s2d, 'generated_data', fake_data)
    monkeypatch.setattr(stage_two.s2d, 'markdown', lambda *a, **k: '')
    monkeypatch.setattr(stage_two.s2d, 'plot', lambda *a, **k: None)
    work_dir = str(tmp_path / 'work')
    stage_two.main(['--seeds', '0', '1', '--out', str(tmp_path / 'out'),
                    '--work-dir', work_dir])
    by_method = {}
    for method, overrides, config in calls:
        by_method.setdefault(method, (overrides, config))
    # stage two starts from the shipped stage one, the pasted copies
    assert stage_two.s2d.STAGE_ONE == 'cragtail_paste'
    ckpt = osp.join(work_dir, 'clicks_1-5', 'cragtail_paste', 'epoch_30.pth')
    over, config = by_method['stage2']
    assert config == stage_two.STAGE2_CONFIG
    # the shipped stage two: easy-to-hard rounds with frozen labels
    shipped = [h['type'] for h in Config.fromfile(osp.join(ROOT, config)).custom_hooks]
    assert {'TeacherRefreshHook', 'FreezePseudoLabelsHook'} <= set(shipped)
    scan = [h for h in Config.fromfile(osp.join(ROOT, config)).custom_hooks
            if h['type'] == 'PseudoThresholdHook']
    # every refreshed teacher at 0.95, the ignored band calibrated for 0.5
    assert [(h['precision_scan'], h['precision'], h['refresh_precision'],
             h['band_precision']) for h in scan] == [('lowest', 0.9, 0.95, 0.5)]
    # thresholds: the config's PseudoThresholdHook
    assert over == {'model.init_cfg.checkpoint': ckpt}
    # variants train from their own configs (hooks as there)
    assert by_method['stage2_ema'][1].endswith('selftrain-ema_' + osp.basename(
        stage_two.STAGE2_CONFIG)[len('selftrain_'):])
    assert by_method['stage2_rounds'][1].endswith('selftrain-rounds_' + osp.basename(
        stage_two.STAGE2_CONFIG)[len('selftrain_'):])
    single = osp.join(osp.dirname(stage_two.STAGE2_CONFIG), 'selftrain-single_' + osp.basename(
        stage_two.STAGE2_CONFIG)[len('selftrain_'):])
    # one teacher for the whole run, and the variants of it
    for m in ('stage2_single', 'stage2_noflip', 'stage2_noband', 'stage2_count',
              'stage2_lowest', 'stage2_p80', 'stage2_negw'):
        assert by_method[m][1] == single, m
    assert 'FreezePseudoLabelsHook' not in [
        h['type'] for h in Config.fromfile(osp.join(ROOT, single)).custom_hooks]
    assert by_method['stage2_cross'][1].endswith('crosstrain_' + osp.basename(
        stage_two.STAGE2_CONFIG)[len('selftrain_'):])

    def hook(method, kind):
        return [h for h in by_method[method][0]['custom_hooks'] if h['type'] == kind]
    assert hook('stage2_noband', 'PseudoThresholdHook')[0]['low_ratio'] == 1.0  # no band
    # the rule shipped before, and the variants of the rounds measured against it
    for m in ('stage2_p90', 'stage2_frozen_video', 'stage2_scan_top', 'stage2_p95',
              'stage2_p95_band50', 'stage2_band50', 'stage2_refresh95', 'stage2_appearance',
              'stage2_appearance95'):
        assert 'custom_hooks' in by_method[m][0], m
        rule = hook(m, 'PseudoThresholdHook')[0]
        assert rule['refresh_precision'] == (0.95 if m == 'stage2_refresh95' else None), m
        assert rule['band_precision'] == (0.5 if 'band50' in m else None), m
        assert rule['precision_scan'] == ('from_top' if m == 'stage2_scan_top' else 'lowest'), m
    # the shipped rule with a margin on the first teacher only
    first92 = hook('stage2_first92', 'PseudoThresholdHook')[0]
    assert (first92['precision'], first92['refresh_precision'], first92['band_precision'],
            first92['precision_scan']) == (0.92, 0.95, 0.5, 'lowest')
    assert by_method['stage2_first92'][1] == stage_two.STAGE2_CONFIG
    count = hook('stage2_count', 'PseudoThresholdHook')[0]
    assert count['rule'] == 'count' and count['per_frame'] == 'clicks'
    assert hook('stage2_lowest', 'PseudoThresholdHook')[0]['precision_scan'] == 'lowest'
    p80 = hook('stage2_p80', 'PseudoThresholdHook')[0]
    assert p80['precision_scan'] == 'lowest' and p80['precision'] == 0.8
    assert by_method['stage2_negw'][0]['model.semi_train_cfg.negative_gamma'] == 2.0
    # the same weighting in the shipped rounds, their rule unchanged
    assert by_method['stage2_negw_rounds'][0]['model.semi_train_cfg.negative_gamma'] == 2.0
    assert by_method['stage2_negw_rounds'][1] == stage_two.STAGE2_CONFIG
    assert 'custom_hooks' not in by_method['stage2_negw_rounds'][0]
    assert by_method['stage2_frozen_video'][1] == stage_two.STAGE2_CONFIG
    # the shipped rounds with the scan from the top
    assert by_method['stage2_scan_top'][1] == stage_two.STAGE2_CONFIG
    assert hook('stage2_scan_top', 'PseudoThresholdHook')[0]['precision_scan'] == 'from_top'
    assert len(hook('stage2_scan_top', 'FreezePseudoLabelsHook')) == 1
    p95 = hook('stage2_p95', 'PseudoThresholdHook')[0]
    assert (p95['precision'], p95['precision_scan']) == (0.95, 'lowest')
    band = hook('stage2_band50', 'PseudoThresholdHook')[0]
    assert (band['band_precision'], band['precision'], band['precision_scan']) == (
        0.5, 0.9, 'lowest')
    assert len(hook('stage2_band50', 'FreezePseudoLabelsHook')) == 1
    both = hook('stage2_p95_band50', 'PseudoThresholdHook')[0]
    assert (both['band_precision'], both['precision']) == (0.5, 0.95)
    refresh = hook('stage2_refresh95', 'PseudoThresholdHook')[0]
    assert (refresh['refresh_precision'], refresh['precision']) == (0.95, 0.9)
    # the shipped rule spelled out: the same run as stage2
    assert by_method['stage2_refresh95_band50'][0] == over
    assert hook('stage2_frozen_video', 'FreezePseudoLabelsHook')[0]['video'] == {}
    assert by_method['stage2_noflip'][0]['model.semi_train_cfg.teacher_flip'] is False
    # the appearance verifier on the shipped rounds, at 0.9 and at 0.95
    for m in ('stage2_appearance', 'stage2_appearance95'):
        assert by_method[m][1] == stage_two.STAGE2_CONFIG
        assert by_method[m][0]['model.semi_train_cfg.appearance'] == dict(accept=0.5)
    assert hook('stage2_appearance', 'PseudoThresholdHook')[0]['precision'] == 0.9
    assert hook('stage2_appearance95', 'PseudoThresholdHook')[0]['precision'] == 0.95
    # the cross partner is the next seed's stage-one model, listed or not
    partners = [o['model.partner_load_from'] for m, o, _ in calls if m == 'stage2_cross']
    assert partners == [osp.join(work_dir, f'seed_{s}', 'clicks_1-5', 'cragtail_paste',
                                 'epoch_30.pth') for s in (1, 2)]
    control = by_method['control'][0]
    assert control['load_from'] == ckpt and control['train_cfg']['max_epochs'] == 10
    # the control trains on what its stage one trained on: the pasted copies
    assert 'PasteDimmedNodules' in [t['type'] for t in
                                    control['train_dataloader.dataset.pipeline']]
    with open(tmp_path / 'out' / 'stage_two.json') as f:
        result = json.load(f)
    s = result['summary']
    assert [r['method'] for r in result['runs']][:len(stage_two.METHODS)] == list(stage_two.METHODS)
    assert presets == {'varied'}  # the default; --preset classic passes through
    calls.clear()
    stage_two.main(['--seeds', '0', '--methods', 'stage1', 'stage2', '--preset', 'classic',
                    '--out', str(tmp_path / 'out'), '--work-dir', work_dir, '--tag', 'c'])
    assert presets == {'varied', 'classic'}
    # no dense truth of the training frames: no pseudo-label quality hook
    hooks = [o['custom_hooks'] for m, o, _ in calls if m == 'stage2'][0]
    assert 'PseudoThresholdHook' in [h['type'] for h in hooks]
    assert 'PseudoLabelQualityHook' not in [h['type'] for h in hooks]
    assert by_method['splc'][0]['model.head.loss.type'] == 'SPLCCragTailLoss'
    assert s['stage2']['f1_mean'] == pytest.approx(70.5)
    # (70.5 - 60.5) / (80 - 60.5)
    assert s['stage2']['gap_closed'] == pytest.approx(100 * 10 / 19.5)
    assert s['control']['gap_closed'] == pytest.approx(100 * 1 / 19.5)
    # another teacher (the pasted stage one) and stage two with its transform:
    # stage one is that run, the stage-two runs in their own folder start
    # from it, and stage two and the control paste too
    calls.clear()
    stage_two.main(['--seeds', '0', '--methods', 'stage1', 'control', 'stage2_lowest',
                    '--teacher', 'cragtail_paste', '--stage2-transform', 'cragtail_paste',
                    '--out', str(tmp_path / 'out'), '--work-dir', work_dir, '--tag', 'p'])

    def transforms(over):
        return [t['type'] for t in over['train_dataloader.dataset.pipeline']]
    one = [o for m, o, c in calls if m == 'cragtail' and c is None and 'load_from' not in (o or {})]
    assert transforms(one[0])[:2] == ['LoadImage', 'PasteDimmedNodules']
    lowest = [o for m, o, _ in calls if m == 'stage2_lowest'][0]
    assert lowest['model.init_cfg.checkpoint'] == osp.join(
        work_dir, 'clicks_1-5', 'cragtail_paste', 'epoch_30.pth')
    assert transforms(lowest)[:2] == ['LoadImage', 'PasteDimmedNodules']
    control = [o for m, o, _ in calls if m == 'control'][0]
    assert 'PasteDimmedNodules' in transforms(control)
    assert os.path.isdir(osp.join(work_dir, 'stage_two_cragtail_paste_cragtail_paste',
                                  'stage2_lowest'))
    with open(tmp_path / 'out' / 'p.json') as f:
        assert json.load(f)['teacher'] == 'cragtail_paste'


def test_stage_two_reuse_needs_no_stage_one_checkpoint(tmp_path, monkeypatch):
    # --reuse: committed stage-two results are reused without the stage-one
    # checkpoint they started from; stage one is trained (once) only when
    # a stage-two run must be trained, before it trains
    import sys
    sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
    import stage_two
    calls, committed = [], set()
    work_dir = str(tmp_path / 'work')
    ckpt = osp.abspath(osp.join(work_dir, 'clicks_1-5', 'cragtail_paste', 'epoch_30.pth'))

    def fake_train_and_test(args, loss, data_root, work, overrides=None, label=None,
                            seed=0, config=None, need_model=False, before_training=None):
        name = osp.basename(work)
        calls.append((name, need_model))
        if need_model:  # stage one, trained
            os.makedirs(work, exist_ok=True)
            open(osp.join(work, 'epoch_30.pth'), 'w').close()
            with open(osp.join(work, 'last_checkpoint'), 'w') as f:
                f.write(osp.join(work, 'epoch_30.pth'))
        elif config is not None and not (args.reuse and name in committed):
            before_training()  # trained here: it needs the checkpoint
            assert osp.isfile(ckpt)
            calls.append((name, 'trained'))
        row = {k: 50.0 for k in stage_two.s2d.SUMMARY_KEYS}
        row.update(loss=loss, seed=seed, epoch=30 if config is None else 10, select='last',
                   val_thr=0.1, precision_fixed=0.0, train_time_s=1.0)
        if need_model:  # retrained: not bit-identical to the committed run
            row['f1'] = 55.0
        if config is not None:
            # stage two starts from the last epoch of the seed's stage one
            assert overrides['model.init_cfg.checkpoint'] == ckpt
        return row, {'10': dict(thresholds=[0.5], precision=[1.0], recall=[0.5])}

    monkeypatch.setattr(stage_two.s2d, 'train_and_test', fake_train_and_test)
    data = tmp_path / 'data'
    (data / 'annotations').mkdir(parents=True)
    monkeypatch.setattr(stage_two.s2d, 'generated_data', lambda args, clicks: str(data))
    monkeypatch.setattr(stage_two.s2d, 'markdown', lambda *a, **k: '')
    monkeypatch.setattr(stage_two.s2d, 'plot', lambda *a, **k: None)
    common = ['--reuse', '--seeds', '0', '--out', str(tmp_path / 'out'), '--work-dir', work_dir]
    committed.add('stage2')
    stage_two.main(common + ['--methods', 'stage1', 'stage2'])
    assert calls == [('cragtail_paste', False), ('stage2', False)]
    calls.clear()
    # an interrupted retraining of stage one left its own last_checkpoint
    # (epoch 20 of 30): the result's checkpoint, epoch 30, is still missing
    one = osp.dirname(ckpt)
    os.makedirs(one)
    open(osp.join(one, 'epoch_20.pth'), 'w').close()
    with open(osp.join(one, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(one, 'epoch_20.pth'))
    stage_two.main(common + ['--methods', 'stage1', 'stage2', 'stage2_p90', 'stage2_p95'])
    assert calls == [('cragtail_paste', False), ('stage2', False),
                     ('stage2_p90', False), ('cragtail_paste', True), ('stage2_p90', 'trained'),
                     ('stage2_p95', False), ('stage2_p95', 'trained')]
    # the stage1 row is the retrained model stage two started from, not the
    # committed result it replaced
    with open(tmp_path / 'out' / 'stage_two.json') as f:
        out = json.load(f)
    assert [(r['method'], r['f1']) for r in out['runs']] == [
        ('stage1', 55.0), ('stage2', 50.0), ('stage2_p90', 50.0), ('stage2_p95', 50.0)]
    # without --reuse stage one is trained first, as before
    calls.clear()
    stage_two.main(common[1:] + ['--methods', 'stage1', 'stage2'])
    assert calls == [('cragtail_paste', True), ('stage2', False), ('stage2', 'trained')]


def test_neutral_hooks_do_not_make_a_run_new(bench, tmp_path):
    # a finished run (its config saved with its result) stays reusable when
    # the shipped configs gain a hook that only writes to checkpoints' meta
    from mmengine.config import Config
    args = bench.parse_args([])
    work = str(tmp_path)
    path, cfg = bench.run_config(args, 'mse', 'data/', work)
    assert bench.finished_status(work, cfg) == 'changed'  # nothing finished yet

    def finished(config):
        with open(osp.join(work, 'result.json'), 'w') as f:
            json.dump(dict(row={}, curve={}, config=config.pretty_text), f)

    def status():
        return bench.finished_status(work, bench.run_config(args, 'mse', 'data/', work)[1])
    finished(cfg)
    assert status() == 'same'
    with_hook = Config.fromfile(path)
    with_hook.custom_hooks = list(with_hook.custom_hooks) + [dict(type='ScoreThresholdHook')]
    finished(with_hook)
    assert status() == 'same'
    # nor when they change cuDNN's kernel choice or the disabled lr scaling
    other = Config.fromfile(path)
    other.env_cfg.cudnn_benchmark = not other.env_cfg.cudnn_benchmark
    other.auto_scale_lr.base_batch_size = 123
    finished(other)
    assert status() == 'same'
    other.auto_scale_lr.enable = True
    finished(other)
    assert status() == 'changed'
    # a hook argument spelled out at its default is the same run; another
    # value is not
    hooks = [dict(type='PseudoThresholdHook', precision=0.9, frame_cap=2.0)]
    spelled = Config.fromfile(path)
    spelled.custom_hooks = list(cfg.custom_hooks) + [dict(hooks[0], precision_scan='from_top')]
    plain = Config(dict(cfg.to_dict(), custom_hooks=list(cfg.custom_hooks) + hooks))
    assert bench.config_status(spelled, plain) == 'same'
    spelled.custom_hooks[-1]['precision_scan'] = 'lowest'
    assert bench.config_status(spelled, plain) == 'changed'
    assert bench.without_defaults(dict(type='NoSuchHook', a=1)) == dict(type='NoSuchHook', a=1)
    # another decode floor or top-k: same training, re-tested
    finished(cfg)
    args.decode_floor = 0.01
    assert status() == 'same_training'
    args.topk = 100
    assert status() == 'same_training'
    assert bench.run_config(args, 'mse', 'data/', work)[1].model.head.decoder.decode_topk == 100
    # stage two decodes its teacher while training: there top-k counts
    stage2 = 'configs/selftrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py'
    _, s2 = bench.run_config(args, 'stage2', 'data/', work, config=stage2)
    assert s2.model.detector.head.decoder.decode_topk == 100
    finished(s2)
    args.topk = 50
    assert bench.finished_status(
        work, bench.run_config(args, 'stage2', 'data/', work, config=stage2)[1]) == 'changed'


def test_output_stem_never_overwrites_the_default_table(bench):
    def stem(*argv, seeds=(0, 1, 2)):
        return bench.output_stem(bench.parse_args(list(argv)), list(seeds))
    assert stem() == 'sparse_to_dense'
    assert stem('--select', 'best-val') == 'sparse_to_dense_best-val'
    assert stem('--seed', '0', seeds=(0, )) == 'sparse_to_dense_seed0'
    assert stem('--seed', '0', '--select', 'best-val', seeds=(0, )) == \
        'sparse_to_dense_best-val_seed0'
    assert stem('--seeds', '2', seeds=(2, )) == 'sparse_to_dense_seed2'
    assert stem('--seeds', '2', '1', '0') == 'sparse_to_dense'  # the default set
    assert stem('--losses', 'cragtail', '--seeds', '0', '2', seeds=(0, 2)) == \
        'sparse_to_dense_cragtail_seed0-2'


def test_pseudo_label_calibration_scores_pseudo_labels():
    # one training frame: truth at (10, 10) (clicked), (50, 50), (90, 90);
    # teacher peaks at the click .9, on (50, 50) .5, on nothing .4
    from helpers import load_script
    cal = load_script('benchmarks/pseudo_label_calibration.py')
    pts = np.array([[10., 11.], [50., 52.], [200., 200.]])
    train = [((pts, np.array([0.9, 0.5, 0.4])), np.array([[10., 10.], [50., 50.], [90., 90.]]),
              np.array([[10., 10.]]))]
    q = cal.pseudo_quality(train, 0.45, 10.0)
    assert q == dict(precision=100.0, recall=50.0, per_frame=1.0, doubtful_frames=0)
    q = cal.pseudo_quality(train, 0.3, 10.0, videos=['v1'])
    assert q['precision'] == 50.0 and q['recall'] == 50.0 and q['per_frame'] == 2.0
    assert q['false_per_video'] == {'v1': 1}
    # per group: the clicked (10, 10) does not count; (50, 50) faint found,
    # (90, 90) obvious missed
    q = cal.pseudo_quality(train, 0.45, 10.0, groups=[np.array(['obvious', 'faint', 'obvious'])])
    assert q['recall_faint'] == 100.0 and q['recall_obvious'] == 0.0
    # a cap of 1: the frame's 2 pseudo labels are dropped; a cap of 2 keeps them
    q = cal.pseudo_quality(train, 0.3, 10.0, cap=1)
    assert q == dict(precision=0.0, recall=0.0, per_frame=0.0, doubtful_frames=1)
    assert cal.pseudo_quality(train, 0.3, 10.0, cap=2)['per_frame'] == 2.0
    # count rules: the far peaks are .5 and .4; k = 1 keeps .5 (cap 2), k = 2
    # both, k = 3 and 4 too (fewer peaks than asked: the floor)
    rows = {r['rule']: r for r in cal.count_rules(train, 10.0, seed=0, flip=True)}
    assert rows['count_1']['thr'] == 0.5 and rows['count_1']['precision'] == 100.0
    assert rows['count_2']['thr'] == 0.4 and rows['count_2']['per_frame'] == 2.0
    assert rows['count_3']['thr'] == 0.02 and rows['count_4']['cap'] == 8
    # validation: 12 frames of one true point found at .8 and a false peak at .3;
    # leaving the top prediction out leaves only false peaks
    val = [((np.array([[10., 10.], [100., 100.]]), np.array([0.8, 0.3])), np.array([[10., 10.]]))
           for _ in range(12)]
    chosen, curves, cap = cal.val_thresholds(val, 10.0, 0.9, top_c=1)
    assert chosen['lowest'] == pytest.approx(0.8) and chosen['first'] == pytest.approx(0.8)
    assert chosen['first_top_c'] == pytest.approx(0.3)  # nothing ever reaches it
    assert chosen['first_top_c_cap'] == chosen['first_top_c']
    assert cap == 2  # each frame keeps its one false peak at 0.3; twice that
    assert cal.precision_at(curves[0], 0.3) == pytest.approx(50.0)


def test_stage_two_flip_table():
    import sys
    sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
    import stage_two
    rows = [dict(method='stage2', seed=s, f1_flip=f, ap_flip=a) for s, f, a in
            ((0, 40.0, 30.0), (1, 44.0, 36.0))] + [dict(method='control', seed=0)]
    table = stage_two.flip_markdown(rows)
    # mean 42, sample std sqrt(8) = 2.8; no row without flip figures
    assert '| stage2 | 0 1 | 42.0 ± 2.8 | - | - | 33.0 ± 4.2 |' in table
    assert 'control' not in table


def test_stage_two_pseudo_quality_reads_the_newest_run(tmp_path):
    # an older run of another config in the same directory must not count
    import sys
    sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
    import stage_two

    def run(stamp, precisions):
        d = tmp_path / stamp / 'vis_data'
        d.mkdir(parents=True)
        d.joinpath('scalars.json').write_text(''.join(
            json.dumps({'pseudo/precision': p, 'pseudo/recall': 10.0, 'pseudo/per_frame': 2.0,
                        'pseudo/high_thr': 0.2, 'step': e + 1}) + '\n'
            for e, p in enumerate(precisions)))

    run('20261124_040102', [55.0, 60.0, 70.0])
    run('20261124_070710', [93.0, 91.0, 95.0])
    (tmp_path / '20261124_071208' / 'vis_data').mkdir(parents=True)  # a test run: no scalars
    q = stage_two.pseudo_quality(str(tmp_path))
    assert q['pseudo_precision'] == 95.0 and q['pseudo_precision_min'] == 91.0
    assert stage_two.pseudo_quality(str(tmp_path / 'none')) == {}
    # the second teacher of cross distillation logs under pseudo_b/
    d = tmp_path / '20261124_080000' / 'vis_data'
    d.mkdir(parents=True)
    d.joinpath('scalars.json').write_text(''.join(json.dumps(
        {f'pseudo{s}/precision': p, f'pseudo{s}/recall': 9.0, f'pseudo{s}/per_frame': 1.0,
         f'pseudo{s}/high_thr': t, 'step': 1}) + '\n'
        for s, p, t in (('', 96.0, 0.2), ('_b', 88.0, 0.3))))
    q = stage_two.pseudo_quality(str(tmp_path), '_b')
    assert q['pseudo_precision_b'] == 88.0 and q['high_thr_b'] == 0.3
    assert stage_two.pseudo_quality(str(tmp_path))['pseudo_precision'] == 96.0


def test_own_data_root_with_dense_truth(bench, tmp_path, monkeypatch):
    # --data-root: the dense ceiling trains on annotations/train_dense.json
    # when the data root has it, and is left out when it has not; stage two
    # takes --data-root and scores pseudo labels at --radius
    import sys
    sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
    import stage_two
    calls = []

    def fake_train_and_test(args, loss, data_root, work, overrides=None, label=None,
                            seed=0, config=None, need_model=False, before_training=None):
        os.makedirs(work, exist_ok=True)
        with open(osp.join(work, 'last_checkpoint'), 'w') as f:
            f.write(osp.join(work, 'epoch_30.pth'))
        calls.append((work, data_root, overrides))
        row = {k: 50.0 for k in bench.SUMMARY_KEYS}
        row.update(loss=loss, seed=seed, val_thr=0.1, precision_fixed=0.0, train_time_s=1.0)
        return row, {'14': dict(thresholds=[0.5], precision=[1.0], recall=[0.5])}

    for module in (bench, stage_two.s2d):
        monkeypatch.setattr(module, 'train_and_test', fake_train_and_test)
        monkeypatch.setattr(module, 'plot', lambda *a, **k: None)
        monkeypatch.setattr(module, 'markdown', lambda *a, **k: '')
        monkeypatch.setattr(module, 'generated_data', lambda *a: pytest.fail('generated'))
    data = tmp_path / 'data'
    (data / 'annotations').mkdir(parents=True)
    out = str(tmp_path / 'out')
    # without the dense truth: no ceiling
    bench.main(['--data-root', str(data), '--seeds', '0', '--out', out, '--tag', 'mine',
                '--work-dir', str(tmp_path / 'w1')])
    assert [osp.basename(osp.dirname(w)) for w, _, _ in calls] == ['clicks_1-5'] * 4
    (data / 'annotations' / 'train_dense.json').write_text('{}')
    calls.clear()
    bench.main(['--data-root', str(data), '--seeds', '0', '--out', out, '--tag', 'mine',
                '--work-dir', str(tmp_path / 'w2')])
    dense = [(d, o) for w, d, o in calls if 'clicks_dense' in w]
    assert dense == [(str(data), {'train_dataloader.dataset.ann_file':
                                  'annotations/train_dense.json'})]
    calls.clear()
    stage_two.main(['--data-root', str(data), '--radius', '14', '--seeds', '0',
                    '--methods', 'stage1', 'stage2', 'dense', '--out', out,
                    '--tag', 'mine_stage_two', '--work-dir', str(tmp_path / 'w2')])
    # stage one is the sparse-to-dense run of the same work dir
    assert calls[0][0] == str(tmp_path / 'w2' / 'clicks_1-5' / 'cragtail_paste')
    stage2 = [o for w, _, o in calls
              if w.endswith(osp.join('stage_two_cragtail_paste', 'stage2'))][0]
    quality = [h for h in stage2['custom_hooks'] if h['type'] == 'PseudoLabelQualityHook']
    assert quality[0]['radius'] == 14.0
    assert [o for w, _, o in calls if 'clicks_dense' in w] == [
        {'train_dataloader.dataset.ann_file': 'annotations/train_dense.json'}]
    with open(osp.join(out, 'mine_stage_two.json')) as f:
        assert json.load(f)['radius'] == 14.0


def test_committed_run_results_finish_a_table_in_another_sitting(bench, tmp_path, monkeypatch):
    # a finished run's row and curve are kept with its config under
    # --run-results; with --reuse a new work dir takes them instead of
    # training, unless the config changed or the caller needs the model
    args = bench.parse_args(['--reuse', '--run-results', str(tmp_path / 'runs')])
    args.radius_used, args.fixed_thr = 10.0, 0.1
    args.work_dir = str(tmp_path / 'work')
    work = osp.join(args.work_dir, 'seed_1', 'clicks_1-5', 'mse')
    curve = {'10': dict(thresholds=[0.5, 0.05], precision=[1.0, 0.5], recall=[0.2, 0.6])}
    _, merged = bench.run_config(args, 'mse', 'data/', work, seed=1)
    bench.save_result(args, work, merged, dict(f1=42.0, loss='mse'), curve)
    assert osp.isfile(tmp_path / 'runs' / 'work' / 'seed_1' / 'clicks_1-5' / 'mse.json')
    bench.add_to_result(args, work, dict(pseudo_precision=93.0))

    def no_training(*a, **k):
        raise AssertionError('trained')
    monkeypatch.setattr(bench.subprocess, 'run', no_training)
    args.work_dir = str(tmp_path / 'elsewhere' / 'work')  # a new machine, same layout
    work2 = osp.join(args.work_dir, 'seed_1', 'clicks_1-5', 'mse')
    row, got = bench.train_and_test(args, 'mse', 'data/', work2, seed=1)
    assert row['f1'] == 42.0 and row['pseudo_precision'] == 93.0 and got == curve
    assert row['f1_fixed'] == pytest.approx(100 * 2 * 0.2 / 1.2)  # first threshold >= 0.1
    with pytest.raises(AssertionError, match='trained'):
        bench.train_and_test(args, 'mse', 'data/', work2, seed=1, need_model=True)
    with pytest.raises(AssertionError, match='trained'):
        bench.train_and_test(args, 'mse', 'data/', work2, seed=2)  # another seed: new


def test_a_local_result_is_reused_only_for_its_own_config(bench, tmp_path, monkeypatch):
    # the run config is written before training: a failed run left the new
    # config beside an older run's result.json, and --reuse took that result
    # as the new run's (the first re-run after the flip fix did)
    args = bench.parse_args(['--reuse'])
    args.radius_used, args.fixed_thr = 10.0, 0.1
    args.work_dir, args.run_results = str(tmp_path), None  # local results only
    work = str(tmp_path / 'mse')
    path, merged = bench.run_config(args, 'mse', 'data/', work)
    epochs = merged.train_cfg.max_epochs
    with open(osp.join(work, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work, f'epoch_{epochs}.pth'))
    curve = {'10': dict(thresholds=[0.5], precision=[1.0], recall=[1.0], f1=[1.0])}
    stale = dict(row={'f1': 11.0, 'train_time_s': 5.0}, curve=curve)
    with open(osp.join(work, 'result.json'), 'w') as f:
        json.dump(stale, f)
    calls = []

    class Trains(Exception):
        pass

    def fake_run(cmd, check):
        calls.append(cmd)
        raise Trains
    monkeypatch.setattr(bench.subprocess, 'run', fake_run)
    with pytest.raises(Trains):
        bench.train_and_test(args, 'mse', 'data/', work)
    assert 'train.py' in calls[0][1]  # trained again, not reused
    with open(osp.join(work, 'result.json'), 'w') as f:
        json.dump(dict(stale, config=merged.pretty_text), f)
    monkeypatch.setattr(bench, 'at_threshold', lambda *a: {})
    row, _ = bench.train_and_test(args, 'mse', 'data/', work)
    assert row['f1'] == 11.0 and len(calls) == 1  # its own result: reused


def test_a_flat_stage_two_model_compares_as_its_semi_form(bench):
    # committed stage-two runs of the former flat form (click radius in
    # heatmap pixels, stage_one, cross) train the model of today's form
    from mmengine.config import Config

    from helpers import ROOT
    new = Config.fromfile(osp.join(ROOT, 'configs',
                                   'selftrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py'))
    new.model.init_cfg.checkpoint = 'one.pth'
    flat = dict(type='PointSelfTraining', detector=new.model.detector, stage_one='one.pth',
                high_thr=0.3, low_thr=0.1, click_radius=2.5, ramp_iters=60,
                student_noise=dict(brightness=0.2, contrast=0.2, noise=0.05),
                predict_on='student', teacher_flip=True)
    assert bench.semi_form(Config(dict(model=flat)).model) == bench.semi_form(new.model)
    cross = dict(flat, cross=dict(stage_one='two.pth', weight=0.5, temperature=4.0))
    form = bench.semi_form(Config(dict(model=cross)).model)
    assert form.type == 'PointCrossTraining' and form.partner_load_from == 'two.pth'
    assert form.semi_train_cfg['cross_weight'] == 0.5
    assert form.semi_train_cfg['click_radius'] == 10.0


def test_dimming_method_adds_its_transform_after_loading(bench):
    args = bench.parse_args([])
    args.radius_used = 10.0
    assert bench.method_overrides(args, 'cragtail') == {}
    pipeline = bench.method_overrides(args, 'cragtail_dim')['train_dataloader.dataset.pipeline']
    types = [t['type'] for t in pipeline]
    assert types[:3] == ['LoadImage', 'DimClickedNodules', 'PointRandomAffine']
    assert pipeline[1]['radius'] == pytest.approx(7.0)
    args = bench.parse_args(['--dim-radius', '3'])
    args.radius_used = 10.0
    assert bench.method_overrides(args, 'cragtail_dim')[
        'train_dataloader.dataset.pipeline'][1]['radius'] == 3.0


def test_paste_method_adds_its_transform_after_loading(bench):
    args = bench.parse_args(['--dim-radius', '3'])
    args.radius_used = 10.0
    pipeline = bench.method_overrides(args, 'cragtail_paste')['train_dataloader.dataset.pipeline']
    assert [t['type'] for t in pipeline][:3] == ['LoadImage', 'PasteDimmedNodules',
                                                 'PointRandomAffine']
    assert pipeline[1]['radius'] == 3.0


def test_paste_configs_match_the_benchmark_method(bench):
    # the shipped paste configs train what the benchmark's cragtail_paste
    # measured (same transform, place and arguments at the demo's radius)
    from mmengine.config import Config
    from mmpose.registry import TRANSFORMS
    args = bench.parse_args([])
    args.radius_used = 10.0
    measured = bench.method_overrides(args, 'cragtail_paste')['train_dataloader.dataset.pipeline']
    demo = Config.fromfile(osp.join(ROOT, 'configs',
                                    'cragtail-paste_hrnet-w18s_1xb4-30e_synthetic-480x288.py'))
    assert [dict(t) for t in demo.train_dataloader.dataset.pipeline] == measured
    big = Config.fromfile(osp.join(ROOT, 'configs',
                                   'cragtail-paste_hrnet-w32_1xb4-100e_carcinosis-1280x736.py'))
    pipeline = big.train_dataloader.dataset.pipeline
    assert [t['type'] for t in pipeline][:3] == ['LoadImage', 'PasteDimmedNodules',
                                                 'PointRandomAffine']
    assert TRANSFORMS.build(pipeline[1]).radius == 14.0


def test_context_methods_match_the_configs(bench):
    # cragtail_paste_context trains what configs/cragtail-paste-context_*
    # ship: the pasted pipeline, AppearanceMap before packing, the head's
    # context loss; the variance method drops the CRF term; neither can be
    # a stage-two data transform (it changes the model)
    from mmengine.config import Config
    args = bench.parse_args([])
    args.radius_used = 10.0
    over = bench.method_overrides(args, 'cragtail_paste_context')
    demo = Config.fromfile(osp.join(
        ROOT, 'configs', 'cragtail-paste-context_hrnet-w18s_1xb4-30e_synthetic-480x288.py'))
    assert [dict(t) for t in demo.train_dataloader.dataset.pipeline] == \
        over['train_dataloader.dataset.pipeline']
    assert [t['type'] for t in over['train_dataloader.dataset.pipeline']][-2:] == [
        'AppearanceMap', 'PackPoseInputs']
    assert dict(demo.model.head.context_loss) == over['model.head.context_loss']
    variance = bench.method_overrides(args, 'cragtail_paste_variance')
    assert variance['model.head.context_loss'] == dict(type='ContextualRegularisationLoss',
                                                       crf_weight=0.0)
    crf = bench.method_overrides(args, 'cragtail_paste_crf')
    assert crf['model.head.context_loss'] == dict(type='ContextualRegularisationLoss',
                                                  variance_weight=0.0)
    assert crf['train_dataloader.dataset.pipeline'] == over['train_dataloader.dataset.pipeline']
    # configs/cragtail-paste-crf_* ship the CRF-only method, at both sizes
    for name in ('hrnet-w18s_1xb4-30e_synthetic-480x288', 'hrnet-w32_1xb4-100e_carcinosis-1280x736'):
        shipped = Config.fromfile(osp.join(ROOT, 'configs', f'cragtail-paste-crf_{name}.py'))
        context = Config.fromfile(osp.join(ROOT, 'configs', f'cragtail-paste-context_{name}.py'))
        assert shipped.model.head.context_loss.to_dict() == crf['model.head.context_loss']
        assert shipped.train_dataloader.dataset.pipeline == context.train_dataloader.dataset.pipeline
        shipped.model.head.pop('context_loss'), context.model.head.pop('context_loss')
        assert shipped.model == context.model
    assert 'cragtail_paste_context' not in bench.DATA_METHODS
    assert 'cragtail_paste_crf' not in bench.DATA_METHODS
    assert 'cragtail_paste' in bench.DATA_METHODS


def test_video_methods_train_on_the_carried_clicks(bench, tmp_path, monkeypatch):
    # the propagation runs once per data root, into the work dir (the data
    # root is left as it is); the paste variant adds its transform too
    args = bench.parse_args(['--work-dir', str(tmp_path / 'w')])
    args.radius_used = 10.0
    runs = []

    def fake_run(cmd, check):
        runs.append(cmd)
        os.makedirs(osp.dirname(cmd[cmd.index('--out') + 1]), exist_ok=True)
        with open(cmd[cmd.index('--out') + 1], 'w') as f:
            f.write('{}')
    monkeypatch.setattr(bench.subprocess, 'run', fake_run)
    over = bench.method_overrides(args, 'cragtail_video', data_root='/data/mine/')
    ann = over['train_dataloader.dataset.ann_file']
    assert ann == str(tmp_path / 'w' / 'propagated' / 'mine_train.json') and osp.isabs(ann)
    assert runs[0][1].endswith(osp.join('tools', 'propagate_clicks.py'))
    assert runs[0][2:5] == ['/data/mine/', '--radius', '10']
    both = bench.method_overrides(args, 'cragtail_paste_video', data_root='/data/mine/')
    assert len(runs) == 1  # reused
    assert both['train_dataloader.dataset.ann_file'] == ann
    assert [t['type'] for t in both['train_dataloader.dataset.pipeline']][1] == \
        'PasteDimmedNodules'
    with pytest.raises(ValueError, match='data root'):
        bench.method_overrides(args, 'cragtail_video')


def test_real_nuclei_passes_the_teacher_to_stage_two(tmp_path, monkeypatch):
    # the real-image benchmark runs both tables on its converted frames;
    # what it gives stage_two.py (teacher, transform, tag) is checked here
    import sys
    sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
    import real_nuclei
    import sparse_to_dense
    import stage_two
    given = {}
    monkeypatch.setattr(real_nuclei, 'prepare', lambda *a: str(tmp_path) + '/')
    monkeypatch.setattr(sparse_to_dense, 'main', lambda argv: given.setdefault('s2d', argv))
    monkeypatch.setattr(stage_two, 'main', lambda argv: given.setdefault('two', argv))
    real_nuclei.main(['--seeds', '0', '--teacher', 'cragtail_paste',
                      '--stage2-transform', 'cragtail_paste', '--stage2-methods', 'stage1',
                      'stage2_lowest', '--out', str(tmp_path)])
    two = given['two']
    assert two[two.index('--teacher') + 1] == 'cragtail_paste'
    assert two[two.index('--stage2-transform') + 1] == 'cragtail_paste'
    assert two[two.index('--tag') + 1] == 'real_nuclei_stage_two_seed0'
    assert two[two.index('--methods') + 1:two.index('--methods') + 3] == ['stage1', 'stage2_lowest']
    assert '--teacher' not in given['s2d']


def test_stage_two_from_an_mse_stage_one_keeps_its_head():
    # an MSE stage one outputs scores: its stage two keeps that head
    # (activation and loss) for student and teacher, so the model's check
    # of the checkpoint passes and the scores are read as trained; the
    # stage ones whose outputs are logits change nothing
    import sys
    sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
    import stage_two
    from mmengine.config import Config
    from mmpose.registry import MODELS
    config = osp.join(ROOT, 'configs', 'selftrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py')
    variant = Config.fromfile(config)
    for loss in ('hill', 'cragtail'):
        assert stage_two.stage_one_head(loss, variant) == {}
    over = stage_two.stage_one_head('mse', variant)
    variant.merge_from_dict(over)
    head = variant.model.detector.head
    assert head.score_activation is None and head.loss.to_dict() == dict(
        type='KeypointMSELoss', use_target_weight=False)
    model = MODELS.build(variant.model)
    assert model.teacher.head.score_activation is None
    assert type(model.student.head.loss_module).__name__ == 'KeypointMSELoss'


def test_killed_benchmark_leaves_no_training_behind(tmp_path):
    # a benchmark waiting on its child (as on tools/train.py) is killed with
    # SIGTERM: it exits with 128 + 15 and the child is gone with it
    import signal
    import subprocess
    import sys
    import time
    pid_file = tmp_path / 'child.pid'
    child = (f'import os, time; open({str(pid_file)!r}, "w").write(str(os.getpid())); '
             'time.sleep(300)')
    script = tmp_path / 'benchmark.py'
    script.write_text(
        'import subprocess, sys\n'
        f'sys.path.insert(0, {osp.join(ROOT, "benchmarks")!r})\n'
        'import sparse_to_dense as s2d\n'
        's2d.exit_on_sigterm()\n'
        f'subprocess.run([sys.executable, "-c", {child!r}])\n')
    bench = subprocess.Popen([sys.executable, str(script)])
    deadline = time.time() + 60
    while not (pid_file.exists() and pid_file.read_text()) and time.time() < deadline:
        time.sleep(0.1)
    child_pid = int(pid_file.read_text())
    bench.send_signal(signal.SIGTERM)
    assert bench.wait(timeout=60) == 128 + signal.SIGTERM
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(child_pid, 0)
