from .checkpoint import mmengine_checkpoint_globals, register_safe_globals
from .dist import setup_cpu_distributed

__all__ = ['mmengine_checkpoint_globals', 'register_safe_globals',
           'setup_cpu_distributed']
