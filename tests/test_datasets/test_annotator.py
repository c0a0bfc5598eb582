"""The simulated annotator (mmpose_carcinosis/datasets/annotator.py) shared
by the generator and the mask converter."""
import argparse

import numpy as np
import pytest

from mmpose_carcinosis.datasets import annotator


def test_salience_groups_cut_points():
    cuts = np.array([0.3, 0.6])
    assert list(annotator.salience_groups(np.array([0.1, 0.3, 0.45, 0.6, 0.9]), cuts)) == [
        'faint', 'medium', 'medium', 'obvious', 'obvious']


def test_click_order_follows_exp_beta_salience():
    # Gumbel top-k: the first click is nodule i with probability
    # exp(beta s_i) / sum_j exp(beta s_j)
    rng = np.random.default_rng(0)
    sal = np.array([0.5, 0.6, 0.2])
    first = np.array([annotator.click_order(rng, sal, 'salient')[0] for _ in range(4000)])
    p = np.exp(annotator.CLICK_BETA * sal)
    p /= p.sum()
    freq = np.bincount(first, minlength=3) / len(first)
    assert np.allclose(freq, p, atol=0.02)
    first = np.array([annotator.click_order(rng, sal, 'uniform')[0] for _ in range(4000)])
    assert np.allclose(np.bincount(first, minlength=3) / 4000, 1 / 3, atol=0.03)


def test_salience_weights_renormalised_over_given_features():
    one = np.array([1.0])
    # all four features: the weights as they are (sum 1)
    assert annotator.salience(size=one, contrast=0 * one, sharp=one, central=0 * one)[0] \
        == pytest.approx(0.35 + 0.15)
    # without sharpness: size 0.35 / 0.85, contrast 0.35 / 0.85, central 0.15 / 0.85
    s = annotator.salience(size=np.array([1.0, 0.0]), contrast=np.array([0.0, 1.0]),
                           central=np.array([1.0, 1.0]))
    assert np.allclose(s, [0.5 / 0.85, 0.5 / 0.85])
    with pytest.raises(KeyError, match='colour'):
        annotator.salience(colour=one)


def test_draw_clicks_counts_prefixes_and_empty_frames():
    sal = np.linspace(0, 1, 20)
    # the same stream: fewer clicks are a prefix of more, dense is everything
    picks = {c: annotator.draw_clicks(np.random.default_rng(3), sal, c, 0.0, 'salient')
             for c in [(2, 2), (5, 5), None]}
    assert len(picks[(2, 2)]) == 2 and len(picks[(5, 5)]) == 5 and len(picks[None]) == 20
    assert list(picks[(5, 5)][:2]) == list(picks[(2, 2)])
    assert sorted(picks[None]) == list(range(20))
    rng = np.random.default_rng(0)
    counts = [len(annotator.draw_clicks(rng, sal, (1, 5), 0.25, 'uniform'))
              for _ in range(2000)]
    assert abs(np.mean(np.equal(counts, 0)) - 0.25) < 0.03
    assert set(counts) == {0, 1, 2, 3, 4, 5}


def test_parse_clicks():
    assert annotator.parse_clicks('1-5') == (1, 5)
    assert annotator.parse_clicks('3') == (3, 3)
    assert annotator.parse_clicks('dense') is None
    for bad in ('5-1', 'x', '-2'):
        with pytest.raises(argparse.ArgumentTypeError):
            annotator.parse_clicks(bad)
