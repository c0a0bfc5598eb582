"""Predicted and true points drawn on a frame."""
import cv2
import numpy as np


def draw_points(img: np.ndarray, pred_xy: np.ndarray, pred_scores: np.ndarray,
                gt_xy: np.ndarray, radius: float = 20.) -> np.ndarray:
    """Draw true points as green rings of the matching radius and predicted
    points as filled dots coloured from blue (low score) to yellow (high),
    with the score written beside them.

    Args:
        img (np.ndarray): BGR frame (H, W, 3), uint8; not modified.
        pred_xy (np.ndarray): (M, 2) predicted points.
        pred_scores (np.ndarray): (M,) scores in [0, 1].
        gt_xy (np.ndarray): (N, 2) true points.
        radius (float): ring radius (the metric's matching radius).

    Returns:
        np.ndarray: the drawn copy.
    """
    out = img.copy()
    for x, y in np.asarray(gt_xy).reshape(-1, 2):
        cv2.circle(out, (int(round(x)), int(round(y))), int(radius),
                   (0, 220, 0), 1, cv2.LINE_AA)
    for (x, y), s in zip(np.asarray(pred_xy).reshape(-1, 2),
                         np.asarray(pred_scores).reshape(-1)):
        s = float(np.clip(s, 0, 1))
        color = (int(255 * (1 - s)), int(220 * s), int(255 * s))
        c = (int(round(x)), int(round(y)))
        cv2.circle(out, c, 3, color, -1, cv2.LINE_AA)
        cv2.putText(out, f'{s:.2f}', (c[0] + 4, c[1] - 4),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35, color, 1, cv2.LINE_AA)
    return out


#: BGR colours of the review labels, as a reviewer sees them
REVIEW_COLOURS = {'carcinosis': (0, 200, 0), 'proposal': (0, 215, 255),
                  'not-carcinosis': (40, 40, 230)}


def draw_review_frame(img: np.ndarray, frame: dict, radius: float = 6.) -> np.ndarray:
    """A frame as exported for review (``mmpose_carcinosis.datasets.review``):
    nodules (``carcinosis``) as green crosses, the model's proposals as
    yellow circles with their score, rejected points as red crosses in a
    circle, and a ``reviewed`` banner on a dense frame.

    Args:
        img (np.ndarray): BGR frame (H, W, 3), uint8; not modified.
        frame (dict): A review frame record: ``points`` [(x, y, label,
            score)], ``reviewed``.
        radius (float): Marker size, pixels.

    Returns:
        np.ndarray: the drawn copy.
    """
    out = img.copy()
    r = int(round(radius))
    for x, y, label, score in frame['points']:
        c = (int(round(x)), int(round(y)))
        colour = REVIEW_COLOURS.get(label, (255, 255, 255))
        if label == 'proposal':
            cv2.circle(out, c, r, colour, 1, cv2.LINE_AA)
            if score is not None:
                cv2.putText(out, f'{score:.2f}', (c[0] + r + 2, c[1] + 3),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.35, colour, 1, cv2.LINE_AA)
        else:
            cv2.drawMarker(out, c, colour, cv2.MARKER_CROSS if label == 'carcinosis'
                           else cv2.MARKER_TILTED_CROSS, 2 * r, 1, cv2.LINE_AA)
            if label == 'not-carcinosis':
                cv2.circle(out, c, r, colour, 1, cv2.LINE_AA)
    if frame.get('reviewed'):
        cv2.putText(out, 'reviewed (dense)', (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    REVIEW_COLOURS['carcinosis'], 1, cv2.LINE_AA)
    return out
