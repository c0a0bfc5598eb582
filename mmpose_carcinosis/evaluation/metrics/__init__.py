from .point_metric import (PointLocalizationMetric, match_pairs, match_points,
                           threshold_at_precision)

__all__ = ['PointLocalizationMetric', 'match_pairs', 'match_points', 'threshold_at_precision']
