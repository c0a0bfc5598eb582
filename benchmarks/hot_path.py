#!/usr/bin/env python
"""The training and evaluation hot path against MMPose's own parts, in one run.

    python benchmarks/hot_path.py [--repeat 30] [--skip-hrnet] \\
        [--out benchmarks/results/hot_path]

Prints median times and ratios, one thread unless stated:

- loss forward + backward on a 16 x 1 x 184 x 320 batch (the heatmaps of
  1280x736 inputs): ``CragTailLoss`` and ``HillLoss`` (fused: the gradient
  is derived by hand and computed in the forward pass) and Crag and Tail
  through autograd (``fused=False``), against MMPose's ``KeypointMSELoss``
  (ratio = ours / MSE; the goal is at most 3);
- decode of the same batch, k = 30: MMPose's ``batch_heatmap_nms`` followed
  by ``topk`` against our ``heatmap_nms`` + ``topk`` (the same output,
  checked equal), and our whole tensor decoder (adds sub-pixel refinement)
  (ratio = MMPose / ours; goal at least 2);
- encoding 30 points into one 320 x 184 map: MMPose's
  ``generate_gaussian_heatmaps`` against ``MultiInstanceGaussianHeatmap.encode``
  (ratio = MMPose / ours; goal at least 10);
- the point metric on 1,000 frames of 50 true and 50 predicted points
  (``PointLocalizationMetric.compute_metrics`` at its three radii; goal at
  most 1 s);
- the share of our parts (loss forward + backward, and the target encoding
  of the batch, which the data workers do beside the step) in one training
  step (forward, backward, optimizer) of the demo network and of HRNet-w32
  at 1280x736, with all threads.
"""
import argparse
import os.path as osp
import sys

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.structures import InstanceData, PixelData
from mmpose.codecs.utils import generate_gaussian_heatmaps
from mmpose.codecs.utils.post_processing import batch_heatmap_nms
from mmpose.models.losses import KeypointMSELoss
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.structures import PoseDataSample

import mmpose_carcinosis  # noqa: F401  (registers the plugin)
from mmpose_carcinosis.codecs import MultiInstanceGaussianHeatmap, heatmap_nms
from mmpose_carcinosis.evaluation.metrics.point_metric import PointLocalizationMetric
from mmpose_carcinosis.models.losses import CragTailLoss, HillLoss

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from common import median_time, write_outputs  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def sparse_batch(codec, batch, points, rng):
    """(B, 1, H, W) targets of ``points`` random points per frame."""
    W, H = codec.input_size
    return torch.stack([torch.from_numpy(codec.encode(
        (rng.random((points, 1, 2)) * [W, H]).astype(np.float32))['heatmaps'])
        for _ in range(batch)])


def loss_rows(repeat, rng):
    codec = MultiInstanceGaussianHeatmap((1280, 736), (320, 184), sigma=2.0)
    target = sparse_batch(codec, 16, 5, rng)  # 1 to 5 clicks per frame
    logits = (torch.randn(target.shape) * 2 - 3).requires_grad_()
    weights = torch.ones(16, 1)

    def step(loss, *args):
        def run():
            logits.grad = None
            loss(logits, target, *args).backward()
        return run

    mse = median_time(step(KeypointMSELoss(use_target_weight=True), weights), repeat)
    # the autograd path (fused=False) is the reference, shown without a goal
    return [('loss fwd+bwd 16x1x184x320', 'KeypointMSELoss', mse, name,
             median_time(step(loss), repeat), 'ours/MMPose', goal)
            for name, loss, goal in (
                ('CragTailLoss (fused)', CragTailLoss(), 3.0),
                ('HillLoss (fused)', HillLoss(), 3.0),
                ('CragTailLoss (autograd, fused=False)', CragTailLoss(fused=False), None))]


def decode_rows(repeat, rng):
    codec = MultiInstanceGaussianHeatmap((1280, 736), (320, 184), sigma=2.0,
                                         decode_topk=30)
    maps = sparse_batch(codec, 16, 30, rng) * torch.rand(16, 1, 1, 1)

    def mmpose():
        return batch_heatmap_nms(maps, 5).flatten(2).topk(30, dim=-1)

    def ours():
        return heatmap_nms(maps, 5).flatten(2).topk(30, dim=-1)

    a, b = mmpose(), ours()
    assert torch.equal(a.values, b.values) and torch.equal(a.indices, b.indices)
    ref = median_time(mmpose, repeat)
    return [('decode 16x1x184x320, k=30', 'batch_heatmap_nms + topk', ref,
             'heatmap_nms + topk (same output)', median_time(ours, repeat),
             'MMPose/ours', 2.0),
            ('decode 16x1x184x320, k=30', 'batch_heatmap_nms + topk', ref,
             'decode_tensors (+ sub-pixel)',
             median_time(lambda: codec.decode_tensors(maps), repeat),
             'MMPose/ours', 2.0)]


def encode_rows(repeat, rng, points=30):
    codec = MultiInstanceGaussianHeatmap((1280, 736), (320, 184), sigma=2.0)
    pts = (rng.random((points, 1, 2)) * [1280, 736]).astype(np.float32)
    vis = np.ones((points, 1), np.float32)
    ours = median_time(lambda: codec.encode(pts, vis), repeat * 10)
    ref = median_time(lambda: generate_gaussian_heatmaps((320, 184), pts / 4, vis, 2.0),
                      repeat * 10)
    return [(f'encode {points} points, 320x184', 'generate_gaussian_heatmaps', ref,
             'MultiInstanceGaussianHeatmap.encode', ours, 'MMPose/ours', 10.0)]


def metric_rows(rng, frames=1000, points=50):
    metric = PointLocalizationMetric()
    results = []
    for i in range(frames):
        gt = rng.random((points, 2)) * [1280, 720]
        pred = gt + rng.normal(0, 15, gt.shape)
        scores = np.sort(rng.random(points))[::-1]
        results.append(dict(img_id=i, pred=pred, scores=scores, gt=gt,
                            groups=np.full(points, None, dtype=object)))
    t = median_time(lambda: metric.compute_metrics(results), 3)
    return [(f'metric {frames} frames x {points} points', '-', None,
             'PointLocalizationMetric (3 radii)', t, 'seconds', 1.0)]


def training_step_rows(config, batch, repeat, rng):
    """Our parts' share of one training step of ``config``'s model."""
    cfg = Config.fromfile(osp.join(ROOT, config))
    model = MODELS.build(cfg.model)
    model.train()
    codec = KEYPOINT_CODECS.build(cfg.codec)
    W, H = codec.input_size
    inputs = torch.randn(batch, 3, H, W)
    samples, pts = [], []
    for _ in range(batch):
        p = (rng.random((30, 1, 2)) * [W, H]).astype(np.float32)
        pts.append(p)
        s = PoseDataSample(metainfo=dict(input_size=(W, H)))
        s.gt_fields = PixelData(heatmaps=torch.from_numpy(codec.encode(p)['heatmaps']))
        s.gt_instances = InstanceData()
        samples.append(s)
    optim = torch.optim.SGD(model.parameters(), lr=1e-6)

    def train_step():
        optim.zero_grad()
        losses = model.loss(inputs, samples)
        sum(losses.values()).backward()
        optim.step()

    step = median_time(train_step, repeat)
    target = torch.stack([s.gt_fields.heatmaps for s in samples])
    logits = torch.randn(target.shape, requires_grad=True)
    loss_module = model.head.loss_module

    def loss_step():
        logits.grad = None
        loss_module(logits, target).backward()

    loss_t = median_time(loss_step, max(repeat, 10))
    enc_t = batch * median_time(lambda: [codec.encode(p) for p in pts[:1]], 50)
    share = (loss_t + enc_t) / (step + enc_t)
    name = f'{osp.basename(config)} batch {batch} {W}x{H}'
    return [(f'training step: {name}', 'whole step', step,
             f'{type(loss_module).__name__} fwd+bwd + encode', loss_t + enc_t,
             'share', share)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--repeat', type=int, default=30)
    p.add_argument('--skip-hrnet', action='store_true',
                   help='skip the HRNet-w32 training step (~1 min on 2 cores)')
    p.add_argument('--hrnet-batch', type=int, default=2)
    p.add_argument('--out', help='write <out>.json and <out>.md')
    args = p.parse_args(argv)
    MMLogger.get_instance('hot_path', log_level='WARNING')  # quiet metric
    rng = np.random.default_rng(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows = loss_rows(args.repeat, rng) + decode_rows(args.repeat, rng) + \
        encode_rows(args.repeat, rng) + metric_rows(rng)
    torch.set_num_threads(threads)
    rows += training_step_rows('configs/cragtail_hrnet-w18s_1xb4-30e_synthetic-480x288.py', 4, 5, rng)
    if not args.skip_hrnet:
        rows += training_step_rows('configs/cragtail_hrnet-w32_1xb4-100e_carcinosis-1280x736.py', args.hrnet_batch, 2, rng)

    lines = ['| step | MMPose | ms | ours | ms | ratio | goal |',
             '| --- | --- | --- | --- | --- | --- | --- |']
    payload = []
    for step, ref_name, ref, name, ours, how, goal in rows:
        if how == 'ours/MMPose':
            ratio = ours / ref
            ok = None if goal is None else ratio <= goal
            goal_s = '-' if goal is None else f'<= {goal:g}x'
        elif how == 'MMPose/ours':
            ratio, ok = ref / ours, ref / ours >= goal
            goal_s = f'>= {goal:g}x'
        elif how == 'seconds':
            ratio, ok = ours, ours <= goal
            goal_s = f'<= {goal:g} s'
        else:  # share of a training step (passed in place of a goal)
            ratio, ok, goal_s, goal = goal, None, '-', None
        ref_s = '-' if ref is None else f'{1e3 * ref:.2f}'
        ratio_s = (f'{100 * ratio:.2g}%' if how == 'share' else
                   f'{ratio:.2f} s' if how == 'seconds' else f'{ratio:.2f}x')
        mark = '' if ok is None else (' (met)' if ok else ' (MISSED)')
        lines.append(f'| {step} | {ref_name} | {ref_s} | {name} | {1e3 * ours:.2f} | '
                     f'{ratio_s} | {goal_s}{mark} |')
        payload.append(dict(step=step, mmpose=ref_name, mmpose_s=ref, ours=name,
                            ours_s=ours, ratio=ratio, kind=how, goal=goal, met=ok))
    table = '\n'.join(lines) + '\n'
    print(table)
    if args.out:
        write_outputs(args.out, dict(threads=threads, repeat=args.repeat,
                                     rows=payload), table)


if __name__ == '__main__':
    main()
