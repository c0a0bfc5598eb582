import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from mmpose_carcinosis.utils.checkpoint import history_buffer_method


def test_message_hub_state_round_trips_with_safe_loading(tmp_path):
    hub = MessageHub.get_instance('ckpt_test')
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/loss', np.float32(0.5))
    hub.update_info('epoch', np.int64(3))
    state = dict(meta=dict(epoch=3, seed=np.int64(7)),
                 message_hub=hub.state_dict(),
                 state_dict=dict(w=torch.ones(2)),
                 arr=np.arange(4.0))
    path = tmp_path / 'ckpt.pth'
    torch.save(state, path)
    loaded = torch.load(path)  # weights_only=True by default on torch >= 2.6
    buf = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert buf.mean() == pytest.approx(1.0)
    assert loaded['meta']['seed'] == 7
    np.testing.assert_array_equal(loaded['arr'], np.arange(4.0))


def test_getattr_is_restricted():
    assert history_buffer_method(HistoryBuffer, 'mean') is HistoryBuffer.mean
    for owner, name in ((HistoryBuffer, '__init__'), (np.ndarray, 'tofile'),
                        (HistoryBuffer, 'update'), (object, '__subclasses__')):
        with pytest.raises(pickle.UnpicklingError, match='refusing'):
            history_buffer_method(owner, name)


class Evil:
    def __reduce__(self):
        return (getattr, (np.ndarray, 'tofile'))


def test_checkpoint_with_other_getattr_is_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save(dict(x=Evil()), path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
