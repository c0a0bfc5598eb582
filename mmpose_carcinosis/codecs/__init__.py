from .multi_instance_heatmap import MultiInstanceGaussianHeatmap
from .utils import heatmap_nms

__all__ = ['MultiInstanceGaussianHeatmap', 'heatmap_nms']
