from .point_matching import (average_precision, group_recall, match_pairs, match_points,
                             prefix_matches, prf, threshold_at_precision)

__all__ = ['average_precision', 'group_recall', 'match_pairs', 'match_points',
           'prefix_matches', 'prf', 'threshold_at_precision']
