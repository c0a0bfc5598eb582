from .checkpoint import mmengine_checkpoint_globals, register_safe_globals, weights_under
from .dist import close_distributed, setup_cpu_distributed
from .misc import natural_key
from .run_config import (check_checkpoint_activation, check_score_activation,
                         checkpoint_head_cfg, load_run_config, point_network_cfg,
                         point_network_key, predicting_prefix)
from .score_threshold import meta_score_thr, store_score_thr, stored_score_thr

__all__ = ['check_checkpoint_activation', 'check_score_activation', 'checkpoint_head_cfg', 'close_distributed',
           'load_run_config', 'meta_score_thr',
           'mmengine_checkpoint_globals', 'natural_key', 'point_network_cfg', 'point_network_key',
           'predicting_prefix',
           'register_safe_globals', 'setup_cpu_distributed', 'store_score_thr',
           'stored_score_thr',
           'weights_under']
