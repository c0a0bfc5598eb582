"""Helpers shared by the benchmark scripts."""
import argparse
import json
import os
import os.path as osp
import pickle
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


#: the salience groups of the benchmarks' truth, least salient first
GROUPS = ('faint', 'medium', 'obvious')


def runs_parser(doc):
    """An argument parser for scripts that read benchmark runs: ``runs``
    (run folders) and ``--radius`` (matching radius, frame pixels)."""
    p = argparse.ArgumentParser(description=doc,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('runs', nargs='+', help='run folders of the benchmarks')
    p.add_argument('--radius', type=float, default=14.0, help='matching radius, frame pixels')
    return p


def load_run(run):
    """What the sparse-to-dense benchmark keeps of a run: its test samples
    (``<run>/test_predictions.pkl``) and the threshold chosen on validation
    (``<run>/result.json``)."""
    with open(osp.join(run, 'test_predictions.pkl'), 'rb') as f:
        samples = pickle.load(f)
    with open(osp.join(run, 'result.json')) as f:
        thr = json.load(f)['row']['val_thr']
    return samples, thr
