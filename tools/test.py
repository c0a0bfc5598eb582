#!/usr/bin/env python
"""Evaluate a checkpoint with MMEngine's Runner (MMPose's tools/test.py
interface).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out RESULTS.json]
        [--dump PREDS.pkl] [--show-dir DIR] [--cfg-options k=v ...]
        [--launcher pytorch]

``--out`` writes the metrics as JSON; ``--dump`` the per-frame predictions
(MMEngine's ``DumpResults``, as MMPose's own ``--dump``); ``--show-dir``
saves frames with the predicted (filled) and true (ring) points drawn.
``--store-thr`` evaluates on the validation split instead, decoding down
to ``--decode-floor``, and stores the threshold with the best F1 in the
checkpoint's ``meta.score_thr`` (the file is rewritten in place, and the
old and new values are printed), for the tools that apply the model.
"""
import argparse
import json
import os

from mmengine.config import DictAction
from mmengine.runner import Runner

from mmpose_carcinosis.utils import (check_checkpoint_activation, close_distributed,
                                     load_run_config, point_network_cfg, store_score_thr)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Test (and eval) a pose model')
    p.add_argument('config', help='test config file path')
    p.add_argument('checkpoint', help='checkpoint file')
    p.add_argument('--work-dir', help='the dir to save evaluation results')
    p.add_argument('--out', help='write the metrics to this JSON file')
    p.add_argument('--dump', help='write the per-frame predictions to this .pkl')
    p.add_argument('--show-dir', help='save drawn predictions here')
    p.add_argument('--store-thr', action='store_true',
                   help='choose the threshold on the validation split and store '
                   'it in the checkpoint')
    p.add_argument('--decode-floor', type=float, default=0.001,
                   help='lowest score decoded with --store-thr')
    p.add_argument('--show-num', type=int, default=8,
                   help='how many frames --show-dir draws')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config settings')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                   default='none', help='job launcher')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = p.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = load_run_config(args.config, args.cfg_options, args.launcher,
                          args.work_dir)
    # outputs read through another activation than trained: refused here,
    # not measured on the wrong scale
    check_checkpoint_activation(cfg.model, args.checkpoint)
    cfg.load_from = args.checkpoint
    if args.store_thr:  # validation split, decoded down to the floor
        cfg.test_dataloader = cfg.val_dataloader
        cfg.test_evaluator = cfg.val_evaluator
        point_network_cfg(cfg.model).head.decoder.decode_thr = args.decode_floor
    if args.show_dir:
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
            dict(type='PointVisualizationHook', out_dir=args.show_dir,
                 max_frames=args.show_num)]
    if args.dump:
        if not args.dump.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--dump must end with .pkl or .pickle, got {args.dump}')
        evaluators = cfg.test_evaluator
        if not isinstance(evaluators, (list, tuple)):
            evaluators = [evaluators]
        cfg.test_evaluator = [*evaluators, dict(type='DumpResults',
                                                out_file_path=args.dump)]
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    close_distributed()
    if args.out and runner.rank == 0:
        with open(args.out, 'w') as f:
            json.dump(metrics, f, indent=2)
    if args.store_thr and runner.rank == 0:
        thr = metrics['point/best_thr']
        source = (f'point/best_thr on validation (tools/test.py --store-thr, decode floor '
                  f'{args.decode_floor:g}); best F1 {metrics["point/best_f1"]:.2f}')
        old = store_score_thr(args.checkpoint, thr, source)
        print(f'stored score_thr={thr:g} in {args.checkpoint} (was {old}); {source}')
    return metrics


if __name__ == '__main__':
    main()
