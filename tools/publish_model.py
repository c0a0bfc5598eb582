#!/usr/bin/env python
"""Publish a trained checkpoint for inference: the weights of the network
that predicts and the checkpoint's meta, without the optimiser, schedulers
and message hub, named with its SHA-256 like MMPose's
``tools/misc/publish_model.py``.

    python tools/publish_model.py CHECKPOINT OUT.pth [--network student|teacher]

A stage-two checkpoint holds two networks (``student.*``, ``teacher.*``,
and ``student_b.*``... with cross distillation); the published one holds
only ``--network`` (the student by default) at the top level, so the
stage-one config loads it anywhere a stage-one checkpoint goes, MMPose's
own ``init_model`` and inferencer included. The meta travels unchanged
(the validated score threshold ``score_thr``, ``dataset_meta``, the
stage-two thresholds), plus ``published_from`` and ``network``. Writes
``OUT-<first 8 hex digits of the SHA-256>.pth``; an existing file of that
name is not overwritten. Loaded with ``weights_only=True``.
"""
import argparse
import hashlib
import io
import os
import os.path as osp

import torch


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('checkpoint')
    p.add_argument('out', help='the file to write (.pth; its hash is added to the name)')
    p.add_argument('--network', default='student',
                   help='the network of a stage-two checkpoint to keep (default student)')
    return p.parse_args(argv)


def network_weights(state: dict, network: str, source: str) -> dict:
    """``state``'s weights of ``network`` (a stage-two checkpoint), or
    ``state`` itself (a stage-one checkpoint)."""
    nets = sorted({k.split('.', 1)[0] for k in state if k.startswith(('student', 'teacher'))})
    if not nets:
        return dict(state)
    from mmpose_carcinosis.utils import weights_under
    weights = weights_under(state, f'{network}.')
    if not weights:
        raise ValueError(f'{source}: no {network!r} network in this stage-two checkpoint '
                         f'(it holds {nets})')
    return weights


def main(argv=None):
    args = parse_args(argv)
    import mmpose_carcinosis  # noqa: F401  (safe loading of MMEngine checkpoints)
    ckpt = torch.load(args.checkpoint, map_location='cpu', weights_only=True)
    state = ckpt.get('state_dict', ckpt)
    weights = network_weights(state, args.network, args.checkpoint)
    stage_two = weights.keys() != state.keys()
    meta = dict(ckpt.get('meta') or {}, published_from=osp.abspath(args.checkpoint),
                network=args.network if stage_two else 'model')
    stem = args.out[:-4] if args.out.endswith('.pth') else args.out
    os.makedirs(osp.dirname(osp.abspath(stem)), exist_ok=True)
    buf = io.BytesIO()  # in memory: the archive's inner name does not vary with the file's
    torch.save(dict(state_dict=weights, meta=meta), buf)
    data = buf.getvalue()
    final = f'{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth'
    if osp.exists(final):
        print(f'{final} exists (same SHA-256 prefix); not overwritten')
        return final
    tmp = f'{final}.tmp{os.getpid()}'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, final)
    print(f'published {len(weights)} tensors'
          f'{" of the " + args.network if stage_two else ""} to {final} '
          f'(score_thr {meta.get("score_thr")})')
    return final


if __name__ == '__main__':
    main()
