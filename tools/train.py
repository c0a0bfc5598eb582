#!/usr/bin/env python
"""Train a model with MMEngine's Runner (MMPose's tools/train.py interface).

    python tools/train.py configs/cragtail_hrnet-w32_1xb4-100e_carcinosis-1280x736.py [--work-dir DIR]
        [--resume [CKPT]] [--amp] [--cfg-options k=v ...] [--launcher pytorch]

Multi-process: tools/dist_train.sh CONFIG NPROC [args]. Without a GPU,
distributed runs use gloo on the CPU.
"""
import argparse
import os

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mmpose_carcinosis.utils import (check_checkpoint_activation, close_distributed,
                                     load_run_config)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Train a pose model')
    p.add_argument('config', help='train config file path')
    p.add_argument('--work-dir', help='the dir to save logs and models')
    p.add_argument('--resume', nargs='?', type=str, const='auto',
                   help='resume from the given checkpoint, or from the latest '
                   'checkpoint in the work dir when no path is given')
    p.add_argument('--amp', action='store_true', help='mixed precision')
    p.add_argument('--auto-scale-lr', action='store_true',
                   help='scale lr with the actual total batch size')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config settings, e.g. '
                   'model.backbone.init_cfg=None train_cfg.max_epochs=5')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                   default='none', help='job launcher')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = p.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_cfg(args) -> Config:
    cfg = load_run_config(args.config, args.cfg_options, args.launcher,
                          args.work_dir)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if cfg.get('load_from') and not cfg.get('resume'):
        # fine-tuning from another run's weights: refused before training
        # if its outputs would be read through another activation
        check_checkpoint_activation(cfg.model, cfg.load_from)
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = build_cfg(args)
    runner = Runner.from_cfg(cfg)
    runner.train()
    close_distributed()


if __name__ == '__main__':
    main()
