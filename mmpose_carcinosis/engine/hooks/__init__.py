from .epoch_seed_hook import EpochSeedHook
from .freeze_pseudo_labels_hook import FreezePseudoLabelsHook
from .point_visualization_hook import PointVisualizationHook
from .pseudo_label_quality_hook import PseudoLabelQualityHook
from .pseudo_threshold_hook import PseudoThresholdHook
from .score_threshold_hook import ScoreThresholdHook
from .teacher_refresh_hook import TeacherRefreshHook

__all__ = ['EpochSeedHook', 'FreezePseudoLabelsHook', 'PointVisualizationHook', 'PseudoLabelQualityHook',
           'PseudoThresholdHook', 'ScoreThresholdHook', 'TeacherRefreshHook']
