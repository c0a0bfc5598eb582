#!/usr/bin/env python
"""Inference speed: frames per second of PyTorch and onnxruntime on this
machine, for the demo network and for HRNet-w32 at 1280x736, batch 1 and 8.

Both run the whole path from a normalised-in-graph frame to points (the
export wrapper: backbone, head, activation, NMS, top-k, sub-pixel), with
random weights (speed does not depend on them). Median over ``--repeats``
timed calls after one warm-up call; all cores (``torch.get_num_threads()``
threads, onnxruntime's default).

    python benchmarks/infer_speed.py [--repeats 5] [--out benchmarks/results/infer_speed]
"""
import argparse
import os.path as osp
import sys
import tempfile

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
from common import median_time, write_outputs  # noqa: E402
MODELS = (('demo (slim HRNet, 480x288)', 'configs/cragtail_hrnet-w18s_1xb4-30e_synthetic-480x288.py'),
          ('HRNet-w32, 1280x736', 'configs/cragtail_hrnet-w32_1xb4-100e_carcinosis-1280x736.py'))


def build(config):
    from mmengine.config import Config
    from mmpose.registry import MODELS as REGISTRY
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.model.backbone.init_cfg = None
    model = REGISTRY.build(cfg.model).eval()
    model.cfg = cfg
    return model


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--batches', type=int, nargs='+', default=[1, 8])
    p.add_argument('--out', help='write <out>.json and <out>.md')
    args = p.parse_args(argv)
    sys.path.insert(0, ROOT)
    import onnxruntime as ort
    from mmpose.utils import register_all_modules

    import mmpose_carcinosis  # noqa: F401
    from mmpose_carcinosis.deployment import PointModelForExport, export_onnx
    register_all_modules(init_default_scope=True)
    rows = []
    for name, config in MODELS:
        model = build(config)
        wrapper = PointModelForExport(model).eval()
        w, h = (int(v) for v in model.head.decoder.input_size)
        with tempfile.TemporaryDirectory() as tmp:
            path = osp.join(tmp, 'model.onnx')
            export_onnx(model, path, score_thr=0.1)
            sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
            for batch in args.batches:
                x = torch.rand(batch, 3, h, w) * 255
                with torch.no_grad():
                    t_torch = median_time(lambda: wrapper(x), args.repeats)
                feed = {'image': x.numpy()}
                t_ort = median_time(lambda: sess.run(None, feed), args.repeats)
                rows.append(dict(model=name, batch=batch, torch_fps=batch / t_torch,
                                 ort_fps=batch / t_ort, ratio=t_torch / t_ort))
                print(rows[-1], flush=True)
    cols = ['model', 'batch', 'PyTorch frames/s', 'onnxruntime frames/s',
            'onnxruntime / PyTorch']
    lines = ['| ' + ' | '.join(cols) + ' |', '|' + '---|' * len(cols)]
    for r in rows:
        lines.append(f"| {r['model']} | {r['batch']} | {r['torch_fps']:.2f} | "
                     f"{r['ort_fps']:.2f} | {r['ratio']:.2f} |")
    table = (f'CPU, {torch.get_num_threads()} threads, median of {args.repeats} calls; '
             'whole path from frame to points.\n\n' + '\n'.join(lines) + '\n')
    print(table)
    if args.out:
        write_outputs(args.out, dict(threads=torch.get_num_threads(), repeats=args.repeats,
                                     rows=rows), table)
    return rows


if __name__ == '__main__':
    main()
