"""Safe loading of MMEngine checkpoints under ``torch.load(weights_only=True)``.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``; MMEngine
0.10.7 calls it without the argument, so resuming a full MMEngine checkpoint
(whose ``message_hub`` holds ``HistoryBuffer`` objects and NumPy values)
fails with "Unsupported global: GLOBAL mmengine.logging.history_buffer
.HistoryBuffer" (mmengine issue 1655). Turning safe loading off would let a
checkpoint execute arbitrary code, so instead the few classes MMEngine
checkpoints contain are allow-listed.
"""
import numpy as np
import torch


def mmengine_checkpoint_globals() -> list:
    """The non-tensor globals found in MMEngine training checkpoints."""
    from mmengine.logging.history_buffer import HistoryBuffer
    from mmengine.logging.message_hub import MessageHub  # noqa: F401

    allowed = [HistoryBuffer, np.ndarray, np.dtype,
               np.core.multiarray._reconstruct, np.core.multiarray.scalar]
    # concrete dtype classes (np.dtypes.Float64DType, ...) appear in pickles
    allowed += [type(np.dtype(t)) for t in (
        np.float16, np.float32, np.float64, np.int8, np.int16, np.int32,
        np.int64, np.uint8, np.bool_)]
    return allowed


def register_safe_globals() -> None:
    """Allow-list MMEngine checkpoint contents for ``weights_only`` loading
    (no-op on torch versions without ``add_safe_globals``)."""
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is not None:
        add(mmengine_checkpoint_globals())
