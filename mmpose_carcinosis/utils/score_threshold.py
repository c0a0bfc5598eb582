"""The score threshold that travels with a model, in its checkpoint."""
from typing import Optional, Tuple

import torch


def stored_score_thr(checkpoint: str) -> Tuple[Optional[float], Optional[str]]:
    """The threshold kept in ``checkpoint['meta']['score_thr']`` (chosen on
    the dense validation split) and where it came from, or ``(None, None)``.
    Loaded with ``weights_only=True`` (the plugin allow-lists what MMEngine
    checkpoints contain)."""
    meta = torch.load(checkpoint, map_location='cpu', weights_only=True).get('meta') or {}
    if meta.get('score_thr') is None:
        return None, None
    return float(meta['score_thr']), meta.get('score_thr_source', 'checkpoint meta')
