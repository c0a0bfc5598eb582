"""Helpers shared by the benchmark scripts."""
import json
import os
import os.path as osp
import statistics
import time

import numpy as np


def median_time(fn, repeats):
    """Median wall time of ``fn()`` over ``repeats`` calls, after one
    warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def write_outputs(stem, payload, table):
    """``<stem>.json`` (the payload) and ``<stem>.md`` (the table)."""
    os.makedirs(osp.dirname(osp.abspath(stem)), exist_ok=True)
    with open(stem + '.json', 'w') as f:
        json.dump(payload, f, indent=1)
    with open(stem + '.md', 'w') as f:
        f.write(table)


def edge_distance(points, height, width):
    """(M,) frame pixels from each point (M, 2) to the nearest frame edge
    (pixel centres 0 .. W-1, 0 .. H-1); negative outside."""
    x, y = np.asarray(points, np.float64).reshape(-1, 2).T
    return np.minimum.reduce([x, y, width - 1 - x, height - 1 - y])
