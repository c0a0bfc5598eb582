#!/usr/bin/env python
"""Does the validation split predict how precise stage two's pseudo labels
are? For each seed's stage-one model (the sparse-to-dense Crag and Tail
run), with and without the flip test, and for each rule that picks the
pseudo-label threshold on the dense validation split:

- ``lowest``: the lowest score at which precision over all validation
  predictions reaches the target (the first design);
- ``first``: scanning down from the top score, the last threshold before
  precision over all predictions falls below the target;
- ``first_top_c``: the same with each validation frame's c most confident
  predictions (and the true points they match) left out, c = mean clicks per
  training frame, rounded (``PseudoThresholdHook``'s default);
- ``first_top_c_cap``: the same, and a training frame with more pseudo
  labels than twice the most any validation frame keeps at that threshold
  has none (``PseudoThresholdHook(frame_cap=2)``, shipped);
- ``count_<k>``: without the validation split, k pseudo labels per training
  frame on average, the cap 2k (``PseudoThresholdHook(rule='count',
  per_frame=k, frame_cap=2)``);

the chosen threshold and the pseudo labels it gives on the training frames,
scored against their dense truth (``annotations/train_dense.json``):
precision, recall of the unclicked nodules (and per salience group), pseudo
points per frame, false pseudo labels per training video. Also the same figures at fixed
``--thresholds``, beside the validation estimates.

    python benchmarks/pseudo_label_calibration.py [--seeds 0 1 2]

Writes ``benchmarks/results/pseudo_label_calibration.{json,md}``.
"""
import argparse
import json
import os.path as osp
import statistics
import sys
import tempfile

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
from common import write_outputs  # noqa: E402

RULES = ('lowest', 'first', 'first_top_c', 'first_top_c_cap')
COUNT_RULES = ('count_1', 'count_2', 'count_3', 'count_4')
FRAME_CAP = 2.0  # PseudoThresholdHook(frame_cap=...) of the shipped configs


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--work-dir', default='work_dirs/benchmark/varied_salient')
    p.add_argument('--data', default=None, help='data root (default: the benchmark\'s '
                   'sparse data under --work-dir)')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--precision', type=float, default=0.9)
    p.add_argument('--radius', type=float, default=10.0)
    p.add_argument('--thresholds', type=float, nargs='+',
                   default=[0.05, 0.1, 0.15, 0.2, 0.25, 0.3])
    p.add_argument('--out', default='benchmarks/results/pseudo_label_calibration')
    p.add_argument('--reuse', action='store_true',
                   help='reuse the predictions cached under each run\'s directory '
                        '(calibration_<split>_flip<0|1>.json) if its checkpoint is '
                        'unchanged')
    return p.parse_args(argv)


def load_points(path, groups=False):
    """Images and, per image id, its points (N, 2) (and with ``groups`` the
    points' salience groups (N,))."""
    with open(path) as f:
        d = json.load(f)
    pts, grp = {}, {}
    for a in d['annotations']:
        pts.setdefault(a['image_id'], []).append(a['keypoints'][:2])
        grp.setdefault(a['image_id'], []).append(a.get('group'))
    pts = {k: np.asarray(v, np.float64).reshape(-1, 2) for k, v in pts.items()}
    if groups:
        return d['images'], pts, {k: np.asarray(v, object) for k, v in grp.items()}
    return d['images'], pts


def predict(model, images, img_root, batch=8):
    """Per image: (points (M, 2), scores (M,)), best first."""
    import cv2

    from mmpose_carcinosis.apis import inference_point_frames
    out = []
    for i in range(0, len(images), batch):
        chunk = images[i:i + batch]
        frames = []
        for im in chunk:
            img = cv2.imread(osp.join(img_root, im['file_name']))
            if img is None:
                raise FileNotFoundError(f'{osp.join(img_root, im["file_name"])}: unreadable')
            frames.append(img)
        out += inference_point_frames(model, frames)
    return out


def cached_predict(model, ckpt, cache, images, img_root, reuse):
    """``predict``, cached as JSON beside the checkpoint it came from."""
    key = dict(checkpoint=osp.abspath(ckpt), mtime=osp.getmtime(ckpt),
               images=[im['file_name'] for im in images])
    if reuse and osp.exists(cache):
        with open(cache) as f:
            stored = json.load(f)
        if stored['key'] == key:
            return [(np.asarray(p, np.float64).reshape(-1, 2), np.asarray(s, np.float64))
                    for p, s in stored['predictions']]
    out = predict(model, images, img_root)
    with open(cache, 'w') as f:
        json.dump(dict(key=key, predictions=[(p.tolist(), s.tolist()) for p, s in out]), f)
    return out


def pseudo_quality(train, thr, radius, videos=None, cap=None, groups=None):
    """Pseudo labels at ``thr`` on the training frames against the unclicked
    truth: precision, recall (percent), points per frame, frames over
    ``cap`` (their pseudo labels dropped); with ``videos`` (one id per
    frame) also the false pseudo labels per video; with ``groups`` (per
    frame, the true points' groups (N,)) the recall of the unclicked true
    points of each group (``recall_<group>``)."""
    from mmpose_carcinosis.models.utils import score_pseudo_labels
    tp = n = n_true = doubtful = 0
    false, found, total = {}, {}, {}
    for i, ((pts, scores), truth, clicks) in enumerate(train):
        keep, unclicked, hit, over = score_pseudo_labels(pts, scores, truth, clicks, thr,
                                                          radius, cap=cap)
        hits, kept = int(hit.sum()), int(keep.sum())
        if groups is not None:
            g = np.asarray(groups[i], object)
            for name in set(g[unclicked]):
                total[name] = total.get(name, 0) + int((g[unclicked] == name).sum())
                found[name] = found.get(name, 0) + int((g[hit] == name).sum())
        tp += hits
        n += kept
        n_true += int(unclicked.sum())
        doubtful += int(over)
        if videos is not None and kept > hits:
            false[str(videos[i])] = false.get(str(videos[i]), 0) + kept - hits
    out = dict(precision=100 * tp / max(n, 1), recall=100 * tp / max(n_true, 1),
               per_frame=n / max(len(train), 1), doubtful_frames=doubtful)
    if videos is not None:
        out['false_per_video'] = false
    out.update({f'recall_{g}': 100 * found[g] / total[g] for g in sorted(total)})
    return out


def val_thresholds(val, radius, precision, top_c):
    """Each rule's threshold on the validation predictions, the frame cap
    of ``first_top_c_cap`` and the precision curves (all predictions; top c
    left out)."""
    from mmpose_carcinosis.evaluation import PointLocalizationMetric
    chosen, curves, cap = {}, {}, None
    for exclude, rule in ((0, 'first'), (top_c, 'first_top_c')):
        with tempfile.TemporaryDirectory() as tmp:
            metric = PointLocalizationMetric(
                radii=(radius, ), radius=radius, exclude_top=exclude,
                precision_targets=[precision], curve_file=osp.join(tmp, 'curve.json'))
            metric.process({}, [dict(pred_instances=dict(keypoints=p[:, None],
                                                         keypoint_scores=s[:, None]),
                                     gt_instances=dict(keypoints=t[:, None]))
                                for (p, s), t in val])
            metrics = metric.compute_metrics(metric.results)
            with open(osp.join(tmp, 'curve.json')) as f:
                curve = json.load(f)[f'{radius:g}']
        chosen[rule] = metrics[f'thr@p{precision:g}']
        curves[exclude] = curve
        if rule == 'first_top_c':
            chosen['first_top_c_cap'] = chosen[rule]
            cap = int(FRAME_CAP * max(int(metrics[f'max_count@p{precision:g}']), 1))
        if exclude == 0:
            ok = [t for t, p in zip(curve['thresholds'], curve['precision']) if p >= precision]
            chosen['lowest'] = min(ok) if ok else max(curve['thresholds'])
    return chosen, curves, cap


def count_rules(train, radius, seed, flip, groups=None):
    """Rows of the ``count_<k>`` rules on the training frames' predictions."""
    from mmpose_carcinosis.models.utils import select_pseudo_labels, threshold_for_count
    far = np.concatenate([scores[select_pseudo_labels(pts, scores, clicks, -np.inf, radius)[0]]
                          for (pts, scores), _, clicks in train] + [np.zeros(0)])
    rows = []
    for rule in COUNT_RULES:
        k = int(rule.split('_')[1])
        thr = threshold_for_count(far, k * len(train), 0.02)
        rows.append(dict(seed=seed, flip=flip, rule=rule, thr=thr, cap=FRAME_CAP * k,
                         **pseudo_quality(train, thr, radius, cap=FRAME_CAP * k,
                                          groups=groups)))
    return rows


def precision_at(curve, thr):
    """Validation precision (percent) at the lowest swept threshold >= thr."""
    ts = np.asarray(curve['thresholds'])
    ok = np.nonzero(ts >= thr)[0]
    return 100 * curve['precision'][ok[-1]] if len(ok) else float('nan')


def main(argv=None):
    args = parse_args(argv)
    from mmpose_carcinosis.apis import init_point_model
    data = args.data or osp.join(args.work_dir, 'data_varied_salient_clicks_1-5')
    ann = osp.join(data, 'annotations')
    train_imgs, truth, truth_groups = load_points(osp.join(ann, 'train_dense.json'), groups=True)
    groups = [truth_groups.get(im['id'], np.zeros(0, object)) for im in train_imgs]
    _, clicks = load_points(osp.join(ann, 'train.json'))
    val_imgs, val_truth = load_points(osp.join(ann, 'val.json'))
    top_c = int(round(statistics.fmean([len(clicks.get(im['id'], ())) for im in train_imgs])))
    rows, fixed = [], []
    for seed in args.seeds:
        run = osp.join(args.work_dir if seed == 0 else osp.join(args.work_dir, f'seed_{seed}'),
                       'clicks_1-5', 'cragtail')
        with open(osp.join(run, 'last_checkpoint')) as f:
            ckpt = f.read().strip()
        for flip in (False, True):
            model, _, _ = init_point_model(
                osp.join(run, 'cragtail.py'), ckpt, score_thr=0.02,
                cfg_options={'model.test_cfg.flip_test': flip})
            print(f'seed {seed}, flip test {flip}: predicting', flush=True)
            empty = np.zeros((0, 2))
            img_root = osp.join(data, 'images')
            train_pred, val_pred = (
                cached_predict(model, ckpt,
                               osp.join(run, f'calibration_{split}_flip{int(flip)}.json'),
                               imgs, img_root, args.reuse)
                for split, imgs in (('train', train_imgs), ('val', val_imgs)))
            train = [(pred, truth.get(im['id'], empty), clicks.get(im['id'], empty))
                     for im, pred in zip(train_imgs, train_pred)]
            val = [(pred, val_truth.get(im['id'], empty))
                   for im, pred in zip(val_imgs, val_pred)]
            chosen, curves, cap = val_thresholds(val, args.radius, args.precision, top_c)
            for rule in RULES:
                capped = cap if rule == 'first_top_c_cap' else None
                rows.append(dict(seed=seed, flip=flip, rule=rule, thr=chosen[rule], cap=capped,
                                 **pseudo_quality(train, chosen[rule], args.radius,
                                                  [im.get('video_id') for im in train_imgs],
                                                  capped, groups)))
            rows += count_rules(train, args.radius, seed, flip, groups)
            for thr in args.thresholds:
                fixed.append(dict(seed=seed, flip=flip, thr=thr,
                                  val_precision=precision_at(curves[0], thr),
                                  val_precision_top_c=precision_at(curves[top_c], thr),
                                  **pseudo_quality(train, thr, args.radius, groups=groups)))
    summary = []
    for flip in (False, True):
        for rule in RULES + COUNT_RULES:
            sel = [r for r in rows if r['flip'] == flip and r['rule'] == rule]
            summary.append(dict(flip=flip, rule=rule, **{
                k: statistics.fmean(r[k] for r in sel)
                for k in ('thr', 'precision', 'recall', 'per_frame', 'doubtful_frames')},
                precision_min=min(r['precision'] for r in sel)))
    lines = [f'Pseudo labels on the training frames (teacher peaks farther than '
             f'{args.radius:g} px from every click, against the unclicked dense truth) at '
             f'the threshold each rule picks on the validation split (target precision '
             f'{args.precision:g}; c = {top_c}; count_<k>: on the training frames, k per '
             f'frame); mean over seeds {args.seeds}, percent.', '',
             '| flip test | rule | threshold | pseudo precision (min over seeds) | '
             'pseudo recall | pseudo points / frame | frames over the cap |',
             '|---|---|---|---|---|---|---|']
    lines += [f'| {"yes" if s["flip"] else "no"} | {s["rule"]} | {s["thr"]:.3f} | '
              f'{s["precision"]:.1f} ({s["precision_min"]:.1f}) | {s["recall"]:.1f} | '
              f'{s["per_frame"]:.2f} | {s["doubtful_frames"]:.1f} |' for s in summary]
    lines += ['', 'Per seed (flip test), the shipped rule: '
              + '; '.join(f'seed {r["seed"]} threshold {r["thr"]:.3f}, cap {r["cap"]}, '
                          f'precision {r["precision"]:.1f}, recall {r["recall"]:.1f}, '
                          f'{r["doubtful_frames"]} frames over the cap, recall of the '
                          f'unclicked faint / medium / obvious nodules '
                          f'{r.get("recall_faint", float("nan")):.1f} / '
                          f'{r.get("recall_medium", float("nan")):.1f} / '
                          f'{r.get("recall_obvious", float("nan")):.1f}'
                          for r in rows if r['flip'] and r['rule'] == 'first_top_c_cap') + '.']
    lines += ['', 'Per seed and fixed threshold: validation precision (all predictions; '
              'top c left out) beside the pseudo labels\' precision on the training frames.',
              '', '| seed | flip test | threshold | val precision | val precision, top c out | '
              'pseudo precision | pseudo recall | recall faint / medium / obvious | per frame |',
              '|---|---|---|---|---|---|---|---|---|']
    lines += [f'| {r["seed"]} | {"yes" if r["flip"] else "no"} | {r["thr"]:g} | '
              f'{r["val_precision"]:.1f} | {r["val_precision_top_c"]:.1f} | '
              f'{r["precision"]:.1f} | {r["recall"]:.1f} | '
              + ' / '.join(f'{r.get(f"recall_{g}", float("nan")):.1f}'
                           for g in ('faint', 'medium', 'obvious'))
              + f' | {r["per_frame"]:.2f} |'
              for r in fixed]
    table = '\n'.join(lines) + '\n'
    write_outputs(args.out, dict(seeds=args.seeds, precision=args.precision, top_c=top_c,
                                 radius=args.radius, rules=rows, summary=summary,
                                 fixed=fixed), table)
    print(table)


if __name__ == '__main__':
    main()
