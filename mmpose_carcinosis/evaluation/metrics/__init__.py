from .point_metric import PointLocalizationMetric, match_pairs, match_points

__all__ = ['PointLocalizationMetric', 'match_pairs', 'match_points']
