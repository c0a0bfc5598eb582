from .pseudo_labels import (frame_to_input, make_pseudo_targets, near, score_pseudo_labels,
                            select_pseudo_labels, stable_points, threshold_for_count)
from .tta import flip_test_logits

__all__ = ['flip_test_logits', 'frame_to_input', 'make_pseudo_targets', 'near',
           'score_pseudo_labels', 'select_pseudo_labels', 'stable_points',
           'threshold_for_count']
