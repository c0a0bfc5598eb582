"""benchmarks/review_loop.py: the simulated reviewer, the cost accounting
of the strategies and one real review round through the tools."""
import json
import os.path as osp
import sys

import numpy as np
import pytest

from helpers import CONFIG, ROOT

sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
import review_loop as rl  # noqa: E402
from mmpose_carcinosis.datasets.review import (POSITIVE, PROPOSAL, REJECTED,  # noqa: E402
                                              proposals_frame)


def test_the_oracle_accepts_rejects_adds_and_tags():
    # truth: 4 nodules; (10, 10) already clicked. Proposals: one on (10, 11)
    # (the click's own nodule: rejected, it is marked), one 3 px from (50, 50)
    # (accepted), two on (90, 90) (one to one: the nearer accepted, the
    # other rejected), one on background (rejected). Missed: (130, 30)
    # (salience 0.9) and nothing else -> added, frame tagged reviewed
    truth = np.array([[10, 10], [50, 50], [90, 90], [130, 30.]])
    sal = np.array([0.5, 0.2, 0.3, 0.9])
    props = np.array([[10, 11], [53, 50], [91, 90], [95, 90], [200, 100.]])
    frames = {'a.png': proposals_frame(300, 200, np.array([[10, 10.]]), props,
                                       np.array([.9, .8, .7, .6, .5]))}
    stats = rl.answer(frames, {'a.png': (truth, sal)}, radius=6, add_missed=2)
    labels = [p[2] for p in frames['a.png']['points']]
    assert labels == [POSITIVE, REJECTED, POSITIVE, POSITIVE, REJECTED, REJECTED, POSITIVE]
    assert frames['a.png']['points'][-1][:2] == (130.0, 30.0)
    assert frames['a.png']['reviewed']
    assert stats == dict(answers=5, accepted=2, added=1, reviewed=1, left=0)
    # leaving the proposals scoring 0.75 or more: (10, 11) and (53, 50) stay
    # proposals (no cost); (50, 50), which (53, 50) covers, is not added as
    # missed but stays unmarked, so the frame is not tagged
    frames = {'a.png': proposals_frame(300, 200, np.array([[10, 10.]]), props,
                                       np.array([.9, .8, .7, .6, .5]))}
    stats = rl.answer(frames, {'a.png': (truth, sal)}, radius=6, add_missed=2,
                      leave_above=0.75)
    labels = [p[2] for p in frames['a.png']['points']]
    assert labels == [POSITIVE, PROPOSAL, PROPOSAL, POSITIVE, REJECTED, REJECTED, POSITIVE]
    assert frames['a.png']['points'][-1][:2] == (130.0, 30.0)
    assert not frames['a.png']['reviewed']
    assert stats == dict(answers=3, accepted=1, added=1, reviewed=0, left=2)
    # add_missed=1 with two missed: the more salient one, no tag
    frames = {'a.png': proposals_frame(300, 200, np.zeros((0, 2)), np.zeros((0, 2)),
                                       np.zeros(0))}
    stats = rl.answer(frames, {'a.png': (truth[2:], sal[2:])}, radius=6, add_missed=1)
    assert [p[:3] for p in frames['a.png']['points']] == [(130.0, 30.0, POSITIVE)]
    assert not frames['a.png']['reviewed'] and stats['added'] == 1


def test_leave_threshold_reads_the_validation_curve(tmp_path):
    curve = dict(thresholds=[0.9, 0.7, 0.5, 0.3], precision=[1.0, 0.97, 0.93, 0.8],
                 recall=[0.1, 0.3, 0.5, 0.7])
    (tmp_path / 'val_pr_curve.json').write_text(json.dumps({'10': curve, '14': curve}))
    # the lowest threshold whose kept predictions are at least 95% right
    assert rl.leave_threshold(str(tmp_path), 10.0, 0.95) == 0.7
    assert rl.leave_threshold(str(tmp_path), 14.0, 0.9) == 0.5
    assert rl.leave_threshold(str(tmp_path), 10.0, None) is None


def coco(points_by_image, n_images=3):
    anns = [dict(id=i + 1, image_id=img, category_id=1, keypoints=[x, y, 2])
            for i, (img, x, y) in enumerate(
                (img, x, y) for img, pts in points_by_image.items() for x, y in pts)]
    return dict(images=[dict(id=i + 1, file_name=f'{i}.png') for i in range(n_images)],
                annotations=anns)


TRUTH = {1: (np.array([[10, 10], [40, 40], [70, 70.]]), np.array([0.1, 0.9, 0.5])),
         2: (np.array([[5, 5.]]), np.array([0.7])),
         3: (np.array([[20, 20], [60, 60.]]), np.array([0.3, 0.2]))}


def test_clicks_go_to_unmarked_nodules():
    c = coco({1: [(10, 10)]})
    assert rl.add_clicks(c, TRUTH, 2, 'salient', None, radius=3) == 2
    added = [tuple(a['keypoints'][:2]) for a in c['annotations'][1:]]
    assert added == [(40.0, 40.0), (5.0, 5.0)]  # salience 0.9, 0.7
    c = coco({1: [(10, 10)]})
    # random: all 5 unmarked ones when more are asked, never the marked one
    assert rl.add_clicks(c, TRUTH, 9, 'clicks', np.random.default_rng(0), radius=3) == 5
    got = sorted(tuple(a['keypoints'][:2]) for a in c['annotations'][1:])
    assert got == sorted([(40.0, 40.0), (70.0, 70.0), (5.0, 5.0), (20.0, 20.0), (60.0, 60.0)])
    assert len({a['id'] for a in c['annotations']}) == 6


def test_dense_frames_cost_their_missing_nodules():
    c = coco({1: [(10, 10)]})
    # frame 1 misses 2 (10 s), frame 3 2 (10 s), frame 2 1 (5 s); 22 s buys
    # frames 1 and 3 in that order, frame 2 would need 25
    assert rl.add_dense_frames(c, TRUTH, 22.0, 5.0, [1, 3, 2], radius=3) == 20.0
    assert [bool(i.get('dense')) for i in c['images']] == [True, False, True]
    assert rl.positives_by_image(c)[1].shape == (3, 2)
    assert rl.positives_by_image(c)[2].shape == (0, 2)


def test_cost_fraction_at_90_reads_the_mean_curves():
    rows = []
    for seed, jitter in ((0, -1.0), (1, 1.0)):
        for s, f1s in (('review', [40, 80, 95]), ('clicks', [40, 60, 70])):
            for r, f1 in enumerate(f1s):
                rows.append(dict(benchmark='varied', strategy=s, seed=seed, round=r,
                                 f1=f1 + jitter, recall_faint=None, cost_s=100 * (r + 1),
                                 cost_fraction=0.1 * (r + 1)))
    ceiling = [dict(benchmark='varied', seed=0, f1=99.0), dict(benchmark='varied', seed=1,
                                                             f1=101.0)]
    curves, dense = rl.summarize(rows, ceiling)
    at90, seeds90 = rl.cost_fractions(curves, dense, rows, 0.9)
    assert dense['varied']['f1_mean'] == pytest.approx(100.0)
    assert at90 == {'varied': {'dense': 1.0, 'review': pytest.approx(0.3), 'clicks': None}}
    # per seed, target 90: seed 0 (39, 79, 94) crosses at 0.2 + 0.1 * 11 / 15,
    # seed 1 (41, 81, 96) at 0.2 + 0.1 * 9 / 15; clicks never (71 at most)
    review = seeds90['varied']['review']
    assert review['per_seed'] == {0: pytest.approx(0.2 + 0.11 / 1.5),
                                  1: pytest.approx(0.2 + 0.09 / 1.5)}
    assert review['mean'] == pytest.approx(0.2 + 0.1 / 1.5)
    assert review['std'] == pytest.approx(np.std([0.11 / 1.5, 0.09 / 1.5], ddof=1))
    assert seeds90['varied']['clicks'] == dict(mean=None, std=None, per_seed={0: None, 1: None})
    review1 = [c for c in curves if c['strategy'] == 'review' and c['round'] == 1][0]
    assert review1['f1_mean'] == 80 and review1['f1_std'] == pytest.approx(np.sqrt(2))


def test_a_review_round_through_the_tools(trained, data_root, tmp_path):
    # the 2-epoch model proposes on the generated training frames, the
    # oracle answers from train_dense.json, import_clicks writes the round's
    # training file: the accepted proposals and added nodules are positives,
    # the rejected ones negatives, and the cost is what was answered
    from types import SimpleNamespace

    from mmpose_carcinosis.datasets.review import read_cvat
    work, _ = trained
    args = SimpleNamespace(frames=2, add_missed=1, answer_s=1.0, click_s=5.0)
    dense = rl.load_json(osp.join(data_root, 'annotations', 'train_dense.json'))
    names = {i['id']: i['file_name'] for i in dense['images']}
    truth_of = {names[k]: v for k, v in rl.truth_by_image(dense).items()}
    bench = SimpleNamespace(radius_used=10.0)
    folder = str(tmp_path / 'round_1')
    root, stats = rl.review_round(bench, CONFIG, osp.join(work, 'epoch_2.pth'), data_root,
                                  folder, truth_of, args)
    answered = read_cvat(osp.join(folder, 'proposals', 'answered.xml'))
    assert len(answered) == 2
    assert stats['cost_s'] == stats['answers'] + 5 * stats['added'] and stats['answers'] > 0
    assert not any(p[2] == PROPOSAL for fr in answered.values() for p in fr['points'])
    new = rl.load_json(osp.join(root, 'annotations', 'train.json'))
    old = rl.load_json(osp.join(data_root, 'annotations', 'train.json'))
    negatives = [a for a in new['annotations'] if a.get('negative')]
    assert len(negatives) == stats['answers'] - stats['accepted']
    positives = len(new['annotations']) - len(negatives)
    assert positives == len(old['annotations']) + stats['accepted'] + stats['added']
    assert sum(bool(i.get('dense')) for i in new['images']) == stats['reviewed']
    # every accepted point lies on an unmarked true nodule
    for name, fr in answered.items():
        truth = truth_of[name][0]
        for x, y, label, score in fr['points']:
            if label == POSITIVE and score is not None:
                assert np.hypot(*(truth - (x, y)).T).min() <= 10.0
    # the round is kept: a second call reads it back without the tools
    assert rl.review_round(bench, CONFIG, 'missing.pth', data_root, folder, truth_of,
                           args) == (root, stats)
    assert json.load(open(osp.join(folder, 'answers.json'))) == stats


def test_outputs_carry_the_curves_and_the_cost_fractions(monkeypatch, tmp_path):
    def fake(name, args):
        rows = [dict(benchmark=name, strategy=s, seed=seed, round=r, f1=f1 + seed,
                     recall_faint=10.0, cost_s=100.0 * (r + 1), cost_fraction=0.1 * (r + 1))
                for seed in args.seeds for s, f1s in (('review', (50, 88)), ('dense', (50, 70)))
                for r, f1 in enumerate(f1s)]
        return rows, [dict(benchmark=name, seed=seed, f1=95.0) for seed in args.seeds]
    monkeypatch.setattr(rl, 'run_benchmark', fake)
    rl.main(['--benchmarks', 'varied', 'real', '--seeds', '0', '1', '--out', str(tmp_path),
             '--tag', 'rl'])
    out = json.loads((tmp_path / 'rl.json').read_text())
    # 88.5 >= 0.9 x 95 at round 1 (cost 0.2); dense frames never
    assert out['cost_fraction_at_90'] == {
        b: {'dense': 1.0, 'review': pytest.approx(0.2), 'dense_frames': None}
        for b in ('varied', 'real')}
    assert len(out['rounds']) == 8 and out['cost_model'] == dict(click_s=5.0, answer_s=1.0)
    table = (tmp_path / 'rl.md').read_text()
    assert '### real: dense ceiling F1 95.0 ± 0.0' in table
    assert '| review | 1 | 0 1 | 0.200 | 88.5 ± 0.7 | 93% | 10.0 ± 0.0 |' in table
    assert (tmp_path / 'rl.png').stat().st_size > 10000
    # seed 0 reaches 85.5 at round 1 (50 -> 88 over 0.1 -> 0.2: 0.1 + 0.1 * 35.5 / 38),
    # seed 1 at 0.1 + 0.1 * 34.5 / 38; dense frames never
    assert 'dense_frames never in 2 of 2 seeds, review 0.192 ± 0.002' in table
    # and at 97% (92.15): seed 1 (51, 89) never, so the mean curve (88.5) never
    assert out['cost_fraction_at_97'] == {
        b: {'dense': 1.0, 'review': None, 'dense_frames': None} for b in ('varied', 'real')}
    assert out['cost_fraction_at_97_seeds']['real']['review']['per_seed'] == {
        '0': None, '1': None}
    assert 'reaches 97% of the ceiling: dense 1.000, dense_frames never, review never.' in table


def test_crossing_interpolates_between_rounds():
    assert rl.crossing([(0.1, 50.0), (0.2, 70.0), (0.3, 90.0)], 80.0) == pytest.approx(0.25)
    assert rl.crossing([(0.1, 85.0), (0.2, 70.0)], 80.0) == 0.1
    assert rl.crossing([(0.1, 50.0), (0.2, 90.0), (0.3, 70.0)], 60.0) == pytest.approx(0.125)
    assert rl.crossing([(0.1, 50.0), (0.2, 70.0)], 80.0) is None


def test_combine_merges_earlier_outputs(monkeypatch, tmp_path):
    # one file per benchmark, then one table from both: the same as one run
    def fake(name, args):
        rows = [dict(benchmark=name, strategy='review', seed=seed, round=r, f1=f1 + seed,
                     recall_faint=None, cost_s=100.0 * (r + 1), cost_fraction=0.1 * (r + 1))
                for seed in args.seeds for r, f1 in enumerate((50, 88))]
        return rows, [dict(benchmark=name, seed=seed, f1=95.0) for seed in args.seeds]
    monkeypatch.setattr(rl, 'run_benchmark', fake)
    common = ['--seeds', '0', '1', '--out', str(tmp_path)]
    rl.main(['--benchmarks', 'varied', 'real', '--tag', 'both'] + common)
    rl.main(['--benchmarks', 'varied', '--tag', 'v'] + common)
    rl.main(['--benchmarks', 'real', '--tag', 'r'] + common)
    files = [str(tmp_path / 'v.json'), str(tmp_path / 'r.json')]
    rl.main(['--combine', *files, '--tag', 'combined', '--out', str(tmp_path)])
    both = json.loads((tmp_path / 'both.json').read_text())
    combined = json.loads((tmp_path / 'combined.json').read_text())
    for key in ('rounds', 'dense', 'cost_fraction_at_90', 'cost_fraction_at_90_seeds',
                'cost_fraction_at_97'):
        assert combined[key] == both[key]
    assert (tmp_path / 'combined.md').read_text() == (tmp_path / 'both.md').read_text()
    # the same file twice adds nothing; a row two files give differently is an error
    rl.main(['--combine', files[0], files[0], '--tag', 'twice', '--out', str(tmp_path)])
    assert len(json.loads((tmp_path / 'twice.json').read_text())['runs']) == 4
    bad = json.loads((tmp_path / 'v.json').read_text())
    bad['runs'][0]['f1'] = 1.0
    (tmp_path / 'bad.json').write_text(json.dumps(bad))
    with pytest.raises(SystemExit, match='bad.json: runs .* differs from'):
        rl.main(['--combine', files[0], str(tmp_path / 'bad.json'), '--tag', 'x',
                 '--out', str(tmp_path)])
