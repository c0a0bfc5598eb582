from .points import draw_points

__all__ = ['draw_points']
