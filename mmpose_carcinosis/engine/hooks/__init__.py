from .point_visualization_hook import PointVisualizationHook, draw_points

__all__ = ['PointVisualizationHook', 'draw_points']
