from .point_metric import PointLocalizationMetric, match_points

__all__ = ['PointLocalizationMetric', 'match_points']
