"""Safe loading of MMEngine checkpoints under ``torch.load(weights_only=True)``.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True``; MMEngine
0.10.7 calls it without the argument, so resuming a full MMEngine checkpoint
fails with "Unsupported global: GLOBAL mmengine.logging.history_buffer
.HistoryBuffer" (mmengine issue 1655). Turning safe loading off would let a
checkpoint execute arbitrary code, so instead exactly what MMEngine
checkpoints contain is allow-listed (found with
``torch.serialization.get_unsafe_globals_in_checkpoint``):

- ``HistoryBuffer`` (the message hub's logged scalars);
- NumPy arrays, dtypes and scalars, and ``bytes`` (their raw data);
- ``builtins.getattr``, which pickles ``HistoryBuffer``'s statistics methods
  (``getattr(HistoryBuffer, 'mean')``). It is NOT allowed in general: the name
  is bound to :func:`history_buffer_method`, which only returns public
  statistics methods of ``HistoryBuffer`` and refuses everything else.
"""
import numpy as np
import torch


def history_buffer_method(owner, name: str):
    """Stand-in for ``getattr`` while unpickling: resolves only
    ``HistoryBuffer.<statistics method>``.

    Raises:
        pickle.UnpicklingError: for any other object or attribute.
    """
    import pickle

    from mmengine.logging.history_buffer import HistoryBuffer
    # the built-in statistics are registered lazily (on the first buffer),
    # custom ones through HistoryBuffer.register_statistics
    methods = {'min', 'max', 'current', 'mean'} | set(
        HistoryBuffer._statistics_methods)
    if owner is HistoryBuffer and isinstance(name, str) and \
            not name.startswith('_') and name in methods:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({owner!r}, {name!r}) in a checkpoint: only '
        'HistoryBuffer statistics methods are allowed')


def mmengine_checkpoint_globals() -> list:
    """The allow-list for MMEngine training checkpoints (see module doc)."""
    from mmengine.logging.history_buffer import HistoryBuffer

    allowed = [HistoryBuffer, np.ndarray, np.dtype, bytes,
               np.core.multiarray._reconstruct, np.core.multiarray.scalar,
               (history_buffer_method, 'builtins.getattr')]
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


def weights_under(state: dict, prefix: str) -> dict:
    """The entries of a state dict under ``prefix`` (e.g. ``'student.'`` of
    a stage-two checkpoint), with the prefix removed; all of them for
    ``''``."""
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
