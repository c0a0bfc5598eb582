"""The score threshold that travels with a model, in its checkpoint."""
import os
from typing import Optional, Tuple

import torch


def meta_score_thr(meta: dict) -> Tuple[Optional[float], Optional[str]]:
    """The threshold kept in a checkpoint's ``meta['score_thr']`` (chosen on
    the dense validation split) and where it came from, or ``(None, None)``."""
    if (meta or {}).get('score_thr') is None:
        return None, None
    return float(meta['score_thr']), meta.get('score_thr_source', 'checkpoint meta')


def stored_score_thr(checkpoint: str) -> Tuple[Optional[float], Optional[str]]:
    """:func:`meta_score_thr` of the file ``checkpoint``, loaded with
    ``weights_only=True`` (the plugin allow-lists what MMEngine checkpoints
    contain)."""
    return meta_score_thr(torch.load(checkpoint, map_location='cpu',
                                     weights_only=True).get('meta') or {})


def store_score_thr(checkpoint: str, thr: float, source: str) -> Optional[float]:
    """Rewrite the file ``checkpoint`` with ``meta.score_thr = thr`` and
    ``meta.score_thr_source = source``, atomically (written beside it, then
    renamed); returns the value it held before (None if none)."""
    from .checkpoint import register_safe_globals
    register_safe_globals()
    state = torch.load(checkpoint, map_location='cpu', weights_only=True)
    meta = state.setdefault('meta', {})
    old = meta.get('score_thr')
    meta.update(score_thr=float(thr), score_thr_source=source)
    tmp = checkpoint + '.tmp'
    torch.save(state, tmp)
    os.replace(tmp, checkpoint)
    return old
