from .point_metric import PointLocalizationMetric

__all__ = ['PointLocalizationMetric']
