from .point_matching import (PRECISION_SCANS, average_precision, band_threshold,
                             check_precision_scan, group_recall, match_pairs, match_points,
                             prefix_matches, prf, threshold_at_precision)

__all__ = ['PRECISION_SCANS', 'average_precision', 'band_threshold', 'check_precision_scan',
           'group_recall', 'match_pairs', 'match_points', 'prefix_matches', 'prf',
           'threshold_at_precision']
