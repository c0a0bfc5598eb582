from .pseudo_labels import (make_pseudo_targets, near, score_pseudo_labels,
                            select_pseudo_labels, threshold_for_count)
from .tta import flip_test_logits

__all__ = ['flip_test_logits', 'make_pseudo_targets', 'near', 'score_pseudo_labels',
           'select_pseudo_labels', 'threshold_for_count']
