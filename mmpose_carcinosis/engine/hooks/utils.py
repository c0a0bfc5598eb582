"""Helpers shared by the hooks."""
from mmengine.model import is_model_wrapper


def unwrap_model(runner):
    """The runner's model without its distributed wrapper."""
    return runner.model.module if is_model_wrapper(runner.model) else runner.model
