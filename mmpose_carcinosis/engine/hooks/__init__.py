from .epoch_seed_hook import EpochSeedHook
from .point_visualization_hook import PointVisualizationHook, draw_points
from .pseudo_label_quality_hook import PseudoLabelQualityHook
from .score_threshold_hook import ScoreThresholdHook

__all__ = ['EpochSeedHook', 'PointVisualizationHook', 'PseudoLabelQualityHook',
           'ScoreThresholdHook', 'draw_points']
