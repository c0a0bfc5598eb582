#!/usr/bin/env python
"""Speed of the target encoding and decoding against MMPose's own functions.

    python benchmarks/codec_speed.py [--points 30] [--repeat 50]

Prints median times and the ratio (MMPose / ours; > 1 means ours is faster):

- encode: ``MultiInstanceGaussianHeatmap.encode`` vs MMPose's
  ``generate_gaussian_heatmaps`` (a Python loop per point; it returns one map
  per keypoint, merged by max like ours) on a 320x184 heatmap (1280x736
  input at stride 4);
- decode: ``batch_decode`` (NMS + top-k + threshold + sub-pixel refinement)
  vs MMPose's ``batch_heatmap_nms`` followed by a plain ``topk`` (no
  refinement, no coordinates), batch 16.
"""
import argparse
import os.path as osp
import sys

import numpy as np
import torch
from mmpose.codecs.utils import generate_gaussian_heatmaps
from mmpose.codecs.utils.post_processing import batch_heatmap_nms

from mmpose_carcinosis.codecs import MultiInstanceGaussianHeatmap

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from common import median_time  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--points', type=int, default=30)
    p.add_argument('--repeat', type=int, default=50)
    p.add_argument('--batch', type=int, default=16)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    codec = MultiInstanceGaussianHeatmap(input_size=(1280, 736), heatmap_size=(320, 184),
                                         sigma=2.0, decode_topk=30)
    pts = (rng.random((args.points, 1, 2)) * [1280, 736]).astype(np.float32)
    vis = np.ones((args.points, 1), np.float32)

    ours = median_time(lambda: codec.encode(pts, vis), args.repeat)
    ref = median_time(lambda: generate_gaussian_heatmaps((320, 184), pts / 4, vis, 2.0),
                args.repeat)
    rows = [('encode', args.points, ref, ours)]

    maps = torch.stack([torch.from_numpy(codec.encode(
        (rng.random((args.points, 1, 2)) * [1280, 736]).astype(np.float32))['heatmaps'])
        for _ in range(args.batch)])

    def mmpose_decode():
        nms = batch_heatmap_nms(maps, 5)
        return nms.flatten(2).topk(30, dim=-1)

    ours = median_time(lambda: codec.batch_decode(maps), args.repeat)
    ref = median_time(mmpose_decode, args.repeat)
    rows.append((f'decode (batch {args.batch})', args.points, ref, ours))

    print(f'{"step":<20}{"points":>8}{"MMPose ms":>12}{"ours ms":>10}{"ratio":>8}')
    for name, n, r, o in rows:
        print(f'{name:<20}{n:>8}{1e3 * r:>12.3f}{1e3 * o:>10.3f}{r / o:>8.2f}')


if __name__ == '__main__':
    main()
