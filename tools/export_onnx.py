#!/usr/bin/env python
"""Export a trained point model to ONNX with the decoding in the graph.

    python tools/export_onnx.py CONFIG CHECKPOINT --out model.onnx \\
        [--score-thr T] [--opset 17] [--check] [--cfg-options k=v ...]

The graph takes (B, 3, H, W) float32 BGR frames (0-255) at the config's
input size, normalises them, runs backbone and head (with the flip test if
the config tests with it), applies the score activation, max-pool NMS,
top-k and sub-pixel refinement, and returns ``points`` (B, k, 2) in input
pixels and ``scores`` (B, k); the batch is dynamic. The score threshold to
apply outside the graph is stored in the model's metadata: the one chosen
on validation and kept in the checkpoint (``meta.score_thr``), unless
``--score-thr`` overrides it, else the config's ``decode_thr``. ``--check`` runs
onnxruntime on a random batch and compares with PyTorch. An onnxruntime
example is in docs/deployment.md.
"""
import argparse
import os.path as osp
import sys

import numpy as np
import torch
from mmengine.config import DictAction


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--out', required=True, help='the .onnx file to write')
    p.add_argument('--score-thr', type=float,
                   help='threshold for the metadata if the checkpoint has none')
    p.add_argument('--opset', type=int, default=17)
    p.add_argument('--check', action='store_true', help='compare with onnxruntime')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='config overrides, key=value')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import mmpose_carcinosis  # noqa: F401  (registers the plugin, safe loading)
    from mmpose_carcinosis.apis import init_point_model
    from mmpose_carcinosis.deployment import PointModelForExport, export_onnx
    model, thr, source = init_point_model(args.config, args.checkpoint, 'cpu',
                                          args.score_thr, args.cfg_options)
    if args.score_thr is not None:
        source = '--score-thr'
    export_onnx(model, args.out, thr, args.opset,
                extra_meta=dict(score_thr_source=source,
                                config=osp.basename(args.config),
                                checkpoint=osp.basename(args.checkpoint)))
    print(f'written: {args.out} (score threshold {thr:g} from {source})')
    if args.check:
        import onnxruntime as ort
        w, h = model.head.decoder.input_size
        x = torch.rand(2, 3, int(h), int(w)) * 255
        with torch.no_grad():
            ref = [t.numpy() for t in PointModelForExport(model).eval()(x)]
        sess = ort.InferenceSession(args.out, providers=['CPUExecutionProvider'])
        got = sess.run(None, {'image': x.numpy()})
        print(f'onnxruntime vs PyTorch on a random batch of 2: max |points| '
              f'{np.abs(got[0] - ref[0]).max():.2e} px, max |scores| '
              f'{np.abs(got[1] - ref[1]).max():.2e}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
