from .tta import flip_test_logits

__all__ = ['flip_test_logits']
