#!/usr/bin/env python
"""Check the paths only GPUs take: a few iterations of stage one and stage
two through MMEngine's Runner (``tools/train.py``'s config handling) in
fp32, ``--amp`` fp16 and bf16 on one GPU and, where there are more, with
torchrun on all of them. Checks:

- every loss finite;
- the gradient of the heatmap logits: no more than 1% exact zeros (the
  fused loss once lost the background gradient under fp16: about 40%);
- stage two: the pseudo-label thresholds PseudoThresholdHook chose are the
  same on every rank;

and reports iterations/s and peak GPU memory of each run (HRNet-w32 at
1280x736, batch 4 per GPU, on generated 1280x720 frames).

    tools/gpu_check.sh                # on a GPU machine; exits 0 saying so without CUDA
    tools/gpu_check.sh --dry-run      # the same code on the CPU: the demo network,
                                      # fp16/bf16 emulated (CPU autocast + a fixed
                                      # loss scale of 65536), 2 gloo processes for
                                      # the multi-GPU run

Results: ``WORK_DIR/gpu_check.json`` and a table; exit status 1 when a
check fails.
"""
import argparse
import contextlib
import json
import math
import os
import os.path as osp
import subprocess
import sys
import time

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRECISIONS = ('fp32', 'fp16', 'bf16')
ZERO_GRAD_LIMIT = 0.01


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--dry-run', action='store_true',
                   help='run the checks on the CPU (demo network, emulated fp16/bf16)')
    p.add_argument('--work-dir', default=osp.join('work_dirs', 'gpu_check'))
    p.add_argument('--iters', type=int, default=20,
                   help='training iterations per run (dry run: 2, at batch 2)')
    p.add_argument('--gpus', type=int, help='processes of the multi-GPU run (default: '
                   'all visible GPUs; dry run: 2)')
    # one run (the driver starts these as subprocesses, through torchrun for many)
    p.add_argument('--job', help=argparse.SUPPRESS)
    p.add_argument('--config', help=argparse.SUPPRESS)
    p.add_argument('--precision', choices=PRECISIONS, help=argparse.SUPPRESS)
    p.add_argument('--launcher', default='none', help=argparse.SUPPRESS)
    p.add_argument('--cfg-options', nargs='*', default=[], help=argparse.SUPPRESS)
    p.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ---------------------------------------------------------------- one run
def register():
    """The check's hook and the CPU stand-in for AmpOptimWrapper."""
    from mmengine.dist import all_gather_object, get_dist_info
    from mmengine.hooks import Hook
    from mmengine.optim import OptimWrapper
    from mmpose.registry import HOOKS, OPTIM_WRAPPERS

    from mmpose_carcinosis.engine.hooks.utils import unwrap_model

    @OPTIM_WRAPPERS.register_module(force=True)
    class EmulatedAmpOptimWrapper(OptimWrapper):
        """AmpOptimWrapper on the CPU (MMEngine's needs a GPU): the forward
        under CPU autocast in ``dtype``, the loss multiplied by a fixed
        GradScaler-like ``loss_scale`` and the gradients divided by it
        before clipping and the step."""

        def __init__(self, dtype='float16', loss_scale=65536.0, **kwargs):
            super().__init__(**kwargs)
            self.dtype = getattr(torch, dtype)
            self.loss_scale = float(loss_scale)

        def backward(self, loss, **kwargs):
            super().backward(loss * self.loss_scale, **kwargs)

        def step(self, **kwargs):
            for group in self.optimizer.param_groups:
                for p in group['params']:
                    if p.grad is not None:
                        p.grad.div_(self.loss_scale)
            super().step(**kwargs)

        @contextlib.contextmanager
        def optim_context(self, model):
            with super().optim_context(model), torch.autocast('cpu', dtype=self.dtype):
                yield

    @HOOKS.register_module(force=True)
    class GpuCheckHook(Hook):
        """Records losses, the logits' gradients, speed, memory and the
        pseudo-label thresholds of every rank; rank 0 writes them to
        ``out`` (JSON)."""

        priority = 'LOWEST'

        def __init__(self, out):
            self.out = out
            self.losses, self.zero, self.finite_grad, self.times = [], [], True, []

        def before_train(self, runner):
            model = unwrap_model(runner)
            net = getattr(model, 'student', model)
            # the head's last layer: its output is the heatmap logits
            net.head.final_layer.register_forward_hook(self._capture)
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()

        def _capture(self, module, inputs, output):
            if torch.is_grad_enabled() and output.requires_grad:
                output.register_hook(self._grad)

        def _grad(self, grad):
            self.zero.append(float((grad == 0).float().mean()))
            self.finite_grad &= bool(torch.isfinite(grad).all())

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            self.losses.append(float(outputs['loss']))
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.times.append(time.perf_counter())

        def after_train(self, runner):
            model = unwrap_model(runner)
            thr = list(model.thresholds(0)) if hasattr(model, 'thresholds') else None
            per_rank = all_gather_object(thr)
            rank, world = get_dist_info()
            t = self.times
            result = dict(
                processes=world, iters=len(self.losses), losses=self.losses,
                finite=all(math.isfinite(v) for v in self.losses) and self.finite_grad,
                zero_grad_fraction=max(self.zero) if self.zero else None,
                iters_per_s=(len(t) - 2) / (t[-1] - t[1]) if len(t) > 2 else None,
                peak_memory_mb=(torch.cuda.max_memory_allocated() / 2**20
                                if torch.cuda.is_available() else None),
                thresholds=per_rank,
                thresholds_equal=all(v == per_rank[0] for v in per_rank))
            if rank == 0:
                with open(self.out, 'w') as f:
                    json.dump(result, f)


def run_one(args):
    """One Runner run (in a subprocess of the driver, or a torchrun rank)."""
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import train
    from mmengine.runner import Runner

    from mmpose_carcinosis.utils.dist import close_distributed
    register()
    cfg = train.build_cfg(train.parse_args(
        [args.config, '--work-dir', osp.join(args.work_dir, args.job), '--launcher',
         args.launcher, '--cfg-options', *args.cfg_options] +
        (['--amp'] if args.precision != 'fp32' and not args.dry_run else [])))
    if args.precision != 'fp32':
        dtype = 'float16' if args.precision == 'fp16' else 'bfloat16'
        if args.dry_run:
            cfg.optim_wrapper.type = 'EmulatedAmpOptimWrapper'
        cfg.optim_wrapper.dtype = dtype
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='GpuCheckHook', out=osp.join(args.work_dir, f'{args.job}.json'))]
    runner = Runner.from_cfg(cfg)
    runner.train()
    close_distributed()


# ------------------------------------------------------------------ driver
def make_data(root, size, train_videos):
    """A generated set: ``train_videos`` x 4 training frames, 4 val, 4 test."""
    if not osp.isfile(osp.join(root, 'annotations', 'test.json')):
        subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'make_synthetic_dataset.py'),
                        root, '--seed', '0', '--videos', str(train_videos), '1', '1',
                        '--frames-per-video', '4', '--size', *map(str, size)], check=True,
                       stdout=subprocess.DEVNULL)
    return root


def run_options(data_root, epochs, batch):
    # one seed for every run: the precisions start from the same weights
    opts = [f'train_cfg.max_epochs={epochs}', 'train_cfg.val_interval=1000',
            'default_hooks.logger.interval=1', 'randomness.seed=0']
    for split in ('train', 'val', 'test'):
        opts += [f'{split}_dataloader.dataset.data_root={data_root}',
                 f'{split}_dataloader.batch_size={batch}',
                 f'{split}_dataloader.num_workers=0',
                 f'{split}_dataloader.persistent_workers=False']
    return opts


def launch(args, name, config, precision, options, processes=1):
    out = osp.join(args.work_dir, f'{name}.json')
    if osp.exists(out):
        os.remove(out)
    cmd = [osp.join(ROOT, 'tools', 'gpu_check.py'), '--job', name, '--config', config,
           '--precision', precision, '--work-dir', args.work_dir] + (
        ['--dry-run'] if args.dry_run else [])
    if processes > 1:
        cmd = [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={processes}',
               f'--master_port={29500 + os.getpid() % 500}'] + cmd + ['--launcher', 'pytorch']
    else:
        cmd = [sys.executable] + cmd
    cmd += ['--cfg-options', *options]
    print(f'=== {name}: {precision}, {processes} process(es)', flush=True)
    log = osp.join(args.work_dir, f'{name}.log')
    with open(log, 'w') as f:
        code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT,
                              env=dict(os.environ, PYTHONPATH=ROOT)).returncode
    if code != 0 or not osp.isfile(out):
        return dict(error=f'exit status {code}, see {log}')
    with open(out) as f:
        return json.load(f)


def verdict(name, r):
    """Failed checks of one run (empty: passed)."""
    if 'error' in r:
        return [r['error']]
    bad = []
    if not r['finite']:
        bad.append('a loss or gradient is not finite')
    if r['zero_grad_fraction'] is None or r['zero_grad_fraction'] > ZERO_GRAD_LIMIT:
        bad.append(f'{r["zero_grad_fraction"]} of the logits\' gradients are exactly 0 '
                   f'(limit {ZERO_GRAD_LIMIT})')
    if name.startswith('stage2') and not r['thresholds_equal']:
        bad.append(f'pseudo-label thresholds differ between ranks: {r["thresholds"]}')
    return bad


def main(argv=None):
    args = parse_args(argv)
    if args.job:
        return run_one(args)
    if not args.dry_run and not torch.cuda.is_available():
        print('gpu_check: no GPU found (torch.cuda.is_available() is False), nothing to '
              'check; tools/gpu_check.sh --dry-run runs the same checks on the CPU')
        return 0
    os.chdir(ROOT)
    os.makedirs(args.work_dir, exist_ok=True)
    if args.dry_run:
        iters, batch = 2, 2
        configs = ('configs/cragtail_hrnet-w18s_1xb4-30e_synthetic-480x288.py', 'configs/selftrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py')
        data = make_data(osp.join(args.work_dir, 'data_480'), (480, 270), train_videos=1)
        gpus = args.gpus or 2
        extra = []
    else:
        iters, batch = args.iters, 4
        configs = ('configs/cragtail_hrnet-w32_1xb4-100e_carcinosis-1280x736.py', 'configs/selftrain_cragtail_hrnet-w32_1xb4-30e_carcinosis-1280x736.py')
        data = make_data(osp.join(args.work_dir, 'data_1280'), (1280, 720), train_videos=2)
        gpus = args.gpus or torch.cuda.device_count()
        extra = ['model.backbone.init_cfg=None']
    train_frames = 4 if args.dry_run else 8
    epochs = max(1, math.ceil(iters * batch / train_frames))
    opts = run_options(data, epochs, batch) + extra
    results = {}
    for precision in PRECISIONS:
        results[f'stage1_{precision}'] = launch(args, f'stage1_{precision}', configs[0],
                                                precision, opts)
    ckpt = osp.abspath(osp.join(args.work_dir, 'stage1_fp32', f'epoch_{epochs}.pth'))
    from mmengine.config import Config

    from mmpose_carcinosis.utils import point_network_key
    net = point_network_key(Config.fromfile(configs[1]).model)
    stage2 = [o.replace('model.', f'{net}.', 1) if o.startswith('model.') else o
              for o in opts] + [
        f'model.init_cfg.checkpoint={ckpt}']
    for precision in ('fp32', 'fp16'):
        results[f'stage2_{precision}'] = launch(args, f'stage2_{precision}', configs[1],
                                                precision, stage2)
    if gpus > 1:
        results[f'stage2_fp32_{gpus}procs'] = launch(args, f'stage2_fp32_{gpus}procs',
                                                     configs[1], 'fp32', stage2, gpus)
    failed = {}
    print(f'\n{"run":<22} {"procs":>5} {"finite":>6} {"zero grad":>9} {"it/s":>6} '
          f'{"peak MB":>8}  thresholds')
    for name, r in results.items():
        bad = verdict(name, r)
        if bad:
            failed[name] = bad
        if 'error' in r:
            print(f'{name:<22} {"-":>5} error: {r["error"]}')
            continue
        fmt = (lambda v, spec: format(v, spec) if v is not None else '-')
        print(f'{name:<22} {r["processes"]:>5} {str(r["finite"]):>6} '
              f'{fmt(r["zero_grad_fraction"], ".4f"):>9} {fmt(r["iters_per_s"], ".2f"):>6} '
              f'{fmt(r["peak_memory_mb"], ".0f"):>8}  '
              f'{"same on every rank" if r["thresholds_equal"] else r["thresholds"]}')
    with open(osp.join(args.work_dir, 'gpu_check.json'), 'w') as f:
        json.dump(dict(dry_run=args.dry_run, device='cpu' if args.dry_run else
                       torch.cuda.get_device_name(0), results=results, failed=failed), f,
                  indent=1)
    if failed:
        print('\nFAILED: ' + '; '.join(f'{k}: {", ".join(v)}' for k, v in failed.items()))
        return 1
    print(f'\nall checks passed ({"dry run on the CPU" if args.dry_run else "GPU"}); '
          f'{args.work_dir}/gpu_check.json')
    return 0


if __name__ == '__main__':
    sys.exit(main())
