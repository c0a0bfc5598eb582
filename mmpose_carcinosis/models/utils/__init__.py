from .appearance import appearance_scores, masked_mean, prototype_pixels, updated_prototype
from .pseudo_labels import (frame_to_input, make_pseudo_targets, near, near_clicks,
                            score_pseudo_labels, select_pseudo_labels, stable_points,
                            threshold_for_count)
from .tta import flip_test_logits

__all__ = ['appearance_scores', 'flip_test_logits', 'frame_to_input', 'make_pseudo_targets',
           'masked_mean', 'near', 'near_clicks', 'prototype_pixels', 'score_pseudo_labels',
           'select_pseudo_labels', 'stable_points', 'threshold_for_count',
           'updated_prototype']
