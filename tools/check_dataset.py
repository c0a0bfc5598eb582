#!/usr/bin/env python
"""Check a config's data before training: every problem at once, each on its
own line naming the annotation file and the record; exit code 1 on any
error (for CI), 0 otherwise.

    python tools/check_dataset.py CONFIG [--cfg-options k=v ...] [--splits train val test]

Checked (``mmpose_carcinosis.datasets.checks``): the annotation schema,
missing, unreadable or truncated images, image sizes that disagree with the
record's width/height, a frame listed twice, byte-identical frames under
different names, points outside their frame (a warning: the dataset drops
them), and, across splits, a video id or an image file in more than one
split (patient leakage). Datasets run the cheap part of this (missing and
twice-listed frames) whenever they are built, and refuse to train on
errors unless ``skip_invalid=True``.
"""
import argparse
import json
import os.path as osp
import sys
from collections import Counter

from mmengine.config import Config, DictAction

from mmpose_carcinosis.datasets import AnnotationError, parse_carcinosis_annotations
from mmpose_carcinosis.datasets.checks import (ERROR, Problem, cheap_image_problems,
                                               full_image_problems, point_problems,
                                               split_problems)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config')
    p.add_argument('--splits', nargs='+', default=['train', 'val', 'test'])
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config settings, e.g. train_dataloader.dataset.data_root=...')
    p.add_argument('--workers', type=int, default=4, help='threads decoding images')
    return p.parse_args(argv)


def dataset_files(cfg, split):
    """(annotation file, image prefix) of a split's dataset config, or None."""
    loader = cfg.get(f'{split}_dataloader')
    if not loader:
        return None
    ds = loader.dataset
    while 'ann_file' not in ds and 'dataset' in ds:  # wrappers (RepeatDataset, ...)
        ds = ds.dataset
    root = ds.get('data_root', '') or ''
    ann = ds.ann_file if osp.isabs(ds.ann_file) else osp.join(root, ds.ann_file)
    img = (ds.get('data_prefix') or {}).get('img', '')
    return ann, img if osp.isabs(img) else osp.join(root, img)


def check(cfg, splits, workers=4, log=print):
    """All problems of the config's splits, in order."""
    problems, loaded, digests, seen = [], {}, {}, {}
    for split in splits:
        files = dataset_files(cfg, split)
        if files is None:
            log(f'{split}: no {split}_dataloader in the config; skipped')
            continue
        ann_file, prefix = files
        if ann_file in seen:
            log(f'{split}: same annotation file as {seen[ann_file]} ({ann_file}); checked once')
            continue
        seen[ann_file] = split
        log(f'{split}: {ann_file}')
        try:
            with open(ann_file, encoding='utf-8') as f:
                raw = json.load(f)
            parse_carcinosis_annotations(raw, ann_file, prefix)
        except (OSError, json.JSONDecodeError, AnnotationError) as e:
            problems.append(Problem('schema', ann_file, 'file', str(e)))
            continue
        problems += cheap_image_problems(raw['images'], ann_file, prefix)
        problems += full_image_problems(raw['images'], ann_file, prefix, digests, workers,
                                        progress=sys.stdout.isatty())
        problems += point_problems(raw, ann_file)
        loaded[split] = (ann_file, raw, prefix)
    problems += split_problems(loaded)
    return problems


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    problems = check(cfg, args.splits, args.workers)
    for p in problems:
        print(p)
    errors = [p for p in problems if p.severity == ERROR]
    counts = ', '.join(f'{k} {n}' for k, n in sorted(Counter(p.kind for p in problems).items()))
    print(f'\n{len(errors)} error(s), {len(problems) - len(errors)} warning(s)'
          + (f' ({counts})' if counts else '') + '; '
          + ('data set OK' if not errors else 'fix them before training'))
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
