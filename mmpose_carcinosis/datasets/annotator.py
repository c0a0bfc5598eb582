"""The simulated annotator: who gets clicked.

Clinical annotators click the obvious nodules. Both data makers of this
project (the synthetic generator, ``tools/make_synthetic_dataset.py``, and
the converter of instance masks, ``tools/masks_to_points.py``) simulate the
same annotator with the functions here:

- every instance gets a *salience* in [0, 1], a weighted sum of features in
  [0, 1] (``SALIENCE_WEIGHTS``: size, contrast, sharpness, closeness to the
  view centre; weights renormalised over the features a data maker can
  measure);
- a frame's clicks are drawn without replacement with probability
  proportional to ``exp(CLICK_BETA * salience)`` (``bias='salient'``), or
  uniformly (``bias='uniform'``); the number of clicks is uniform in the
  ``clicks`` range, and a frame gets none with probability ``empty_prob``;
- the salience terciles of a whole data set name each point's ``group``
  (``faint``, ``medium``, ``obvious``), so the metric reports recall per
  group.
"""
import argparse

import numpy as np

DEFAULT_CLICKS = (1, 5)
CLICK_BIASES = ('salient', 'uniform')
# the annotator's steepness: an instance 0.1 more salient is e^1.5 = 4.5
# times as likely to be clicked
CLICK_BETA = 15.0
GROUPS = ('faint', 'medium', 'obvious')
# salience = weighted sum of size, contrast, sharpness, centrality (each 0-1)
SALIENCE_WEIGHTS = dict(size=0.35, contrast=0.35, sharp=0.15, central=0.15)


def parse_clicks(text):
    """'1-5' -> (1, 5); '3' -> (3, 3); 'dense' -> None."""
    if text == 'dense':
        return None
    lo, _, hi = text.partition('-')
    try:
        lo, hi = int(lo), int(hi or lo)
    except ValueError:
        raise argparse.ArgumentTypeError(f'bad --clicks {text!r}') from None
    if not 0 <= lo <= hi:
        raise argparse.ArgumentTypeError(f'bad --clicks {text!r}')
    return lo, hi


def salience(**features):
    """Salience (n,) of n instances from features (each (n,), in [0, 1],
    named as in ``SALIENCE_WEIGHTS``); the weights of the features given are
    renormalised to sum to 1."""
    unknown = set(features) - set(SALIENCE_WEIGHTS)
    if unknown:
        raise KeyError(f'unknown salience features {sorted(unknown)}')
    names = [k for k in SALIENCE_WEIGHTS if k in features]
    total = sum(SALIENCE_WEIGHTS[k] for k in names)
    out = 0.0
    for k in names:
        out = out + SALIENCE_WEIGHTS[k] * features[k]
    return out / total if total != 1.0 else out


def click_order(click_rng, salience, bias):
    """Order in which the annotator would click a frame's instances:
    sampling without replacement with probability proportional to
    ``exp(CLICK_BETA * salience)`` (Gumbel top-k), or uniform. The same
    number of draws either way, so both biases see the same stream."""
    gumbel = -np.log(-np.log(click_rng.random(len(salience)) * (1 - 1e-12) + 1e-12))
    keys = gumbel + (CLICK_BETA * salience if bias == 'salient' else 0.0)
    return np.argsort(-keys, kind='stable')


def draw_clicks(click_rng, salience, clicks, empty_prob, bias):
    """Indices of the instances the annotator clicks in one frame, in click
    order. ``clicks``: (min, max) clicks per frame, or None for every
    instance (dense); ``empty_prob``: probability of a frame with none.
    Every call draws the same numbers whatever ``clicks`` is, so fewer
    clicks are a prefix of more on the same stream."""
    empty = click_rng.random() < empty_prob
    u = click_rng.random()
    order = click_order(click_rng, salience, bias)
    if clicks is None:
        n = len(salience)
    else:
        n = 0 if empty else clicks[0] + int(u * (clicks[1] - clicks[0] + 1))
    return order[:n]


def tercile_cuts(salience):
    """Cut points (2,) of the salience terciles of a whole data set."""
    salience = np.asarray(salience, dtype=float)
    return np.quantile(salience, [1 / 3, 2 / 3]) if len(salience) else np.zeros(2)


def salience_groups(salience, cuts):
    """Group names of ``salience`` values given the tercile cut points
    ``cuts`` (2,): 'faint' below the first, 'obvious' from the second on,
    else 'medium'."""
    return np.array(GROUPS, dtype=object)[np.searchsorted(cuts, salience, side='right')]
