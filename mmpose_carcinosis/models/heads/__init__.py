from .point_heatmap_head import PointHeatmapHead

__all__ = ['PointHeatmapHead']
