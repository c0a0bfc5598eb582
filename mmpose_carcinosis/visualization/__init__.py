from .points import REVIEW_COLOURS, draw_points, draw_review_frame

__all__ = ['REVIEW_COLOURS', 'draw_points', 'draw_review_frame']
