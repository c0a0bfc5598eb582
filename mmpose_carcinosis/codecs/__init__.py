from .multi_instance_heatmap import MultiInstanceGaussianHeatmap

__all__ = ['MultiInstanceGaussianHeatmap']
