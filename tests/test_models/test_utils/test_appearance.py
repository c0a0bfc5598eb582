"""The appearance verifier (models/utils/appearance.py): prototypes of the
clicked nodules and of confident background in the teacher's features, and
which peaks of the ignored band they turn into pseudo labels."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmpose_carcinosis.models.utils import (appearance_scores, make_pseudo_targets, masked_mean,
                                            near_clicks, prototype_pixels, updated_prototype)

from helpers import ROOT, gaussian, stage_two_batch, stage_two_model


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_appearance_scores_by_hand():
    # three pixels, 2 channels: like the positive prototype, like the
    # negative one (any length), halfway
    f = torch.tensor([[1.0, 0.0, 3.0], [0.0, 2.0, 3.0]]).reshape(1, 2, 1, 3)
    pos, neg = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    s = appearance_scores(F.normalize(f, dim=1), pos, neg, temperature=0.1)
    assert s.shape == (1, 1, 1, 3)
    torch.testing.assert_close(s[0, 0, 0], torch.tensor([sigmoid(10), sigmoid(-10), 0.5]))
    # a temperature of 1: cos 0.6 to one, 0.8 to the other
    f = torch.tensor([3.0, 4.0]).reshape(1, 2, 1, 1)
    assert float(appearance_scores(F.normalize(f, dim=1), pos, neg, 1.0)) == pytest.approx(
        sigmoid(0.6 - 0.8))


def test_prototypes_mean_of_unit_features_and_moving_average():
    f = torch.zeros(1, 2, 2, 2)
    f[0, :, 0, 0] = torch.tensor([2.0, 0.0])   # unit (1, 0)
    f[0, :, 0, 1] = torch.tensor([0.0, 0.5])   # unit (0, 1)
    f[0, :, 1, 1] = torch.tensor([9.0, 9.0])   # not in the mask
    mask = torch.tensor([[[[True, True], [False, False]]]])
    total, count = masked_mean(F.normalize(f, dim=1), mask)
    torch.testing.assert_close(total, torch.tensor([1.0, 1.0]))
    assert float(count) == 2
    h = 1 / math.sqrt(2)
    old = torch.tensor([1.0, 0.0])
    # a new teacher: the batch mean's direction
    torch.testing.assert_close(updated_prototype(old, total, count, 0.9, fresh=True),
                               torch.tensor([h, h]))
    # else the moving average, renormalised: 0.9 (1, 0) + 0.1 (h, h)
    ema = torch.tensor([0.9 + 0.1 * h, 0.1 * h])
    torch.testing.assert_close(updated_prototype(old, total, count, 0.9, fresh=False),
                               ema / ema.norm())
    # no pixel in the batch: unchanged
    assert torch.equal(updated_prototype(old, torch.zeros(2), torch.tensor(0.0), 0.9, True), old)


def test_prototype_pixels_clicks_and_confident_background():
    h = w = 16
    sigma = 1.5
    clicks = gaussian(h, w, 4, 4, sigma)[None, None]
    scores = torch.full((1, 1, h, w), 0.05)
    scores[0, 0, 10, 10] = 0.5   # a peak: not background
    scores[0, 0, 4, 5] = 0.01    # beside the click: the click's, not background
    near = near_clicks(clicks, sigma, 2.5)
    positive, negative = prototype_pixels(clicks, scores, near, low_thr=0.1)
    assert positive.sum() == 1 and positive[0, 0, 4, 4]
    assert not negative[0, 0, 10, 10] and not negative[0, 0, 4, 5]
    assert negative.sum() == h * w - 1 - near.sum()
    # a reviewer's rejection is background whatever the teacher scores
    rejected = torch.zeros(1, 1, h, w)
    rejected[0, 0, 10, 10] = 1
    _, negative = prototype_pixels(clicks, scores, near, 0.1, rejected)
    assert negative[0, 0, 10, 10]


def test_band_peaks_that_look_like_clicks_become_pseudo_labels():
    h = w = 20
    sigma = 1.5
    clicks = gaussian(h, w, 5, 5, sigma)[None, None]
    t = torch.full((1, 1, h, w), 0.01)
    t[0, 0, 15, 15] = 0.8  # confident: a pseudo label whatever it looks like
    t[0, 0, 4, 15] = 0.3   # band, looks like a click -> pseudo label
    t[0, 0, 15, 4] = 0.3   # band, looks like background -> ignored
    look = torch.full((1, 1, h, w), 0.2)
    look[0, 0, 4, 15] = 0.7
    look[0, 0, 15, 4] = 0.4
    target, mask, stats = make_pseudo_targets(t, clicks, sigma, 0.5, 0.2, 2.5, 3, 1.0,
                                              appearance=look, accept=0.5)
    assert target[0, 0, 15, 15] == 1.0 and target[0, 0, 4, 15] == 1.0
    assert target[0, 0, 15, 4] == 0.0 and mask[0, 0, 15, 4] == 0
    assert mask[0, 0, 4, 15] == 1
    assert float(stats['pseudo_per_frame']) == 2 and float(stats['ignored_per_frame']) == 1
    assert float(stats['verified_per_frame']) == 1
    # a stricter acceptance keeps both in the band
    _, _, stats = make_pseudo_targets(t, clicks, sigma, 0.5, 0.2, 2.5, 3, 1.0,
                                      appearance=look, accept=0.8)
    assert float(stats['pseudo_per_frame']) == 1 and float(stats['verified_per_frame']) == 0
    # below the band the appearance does not matter
    look[0, 0, 15, 4], t[0, 0, 15, 4] = 0.99, 0.1
    _, _, stats = make_pseudo_targets(t, clicks, sigma, 0.5, 0.2, 2.5, 3, 1.0,
                                      appearance=look, accept=0.5)
    assert float(stats['verified_per_frame']) == 1
    # the frame cap counts the verified ones: two pseudo peaks over a cap of 1
    _, _, stats = make_pseudo_targets(t, clicks, sigma, 0.5, 0.2, 2.5, 3, 1.0, 1,
                                      appearance=look, accept=0.5)
    assert float(stats['pseudo_per_frame']) == 0 and float(stats['doubtful_frames']) == 1


def test_the_model_learns_prototypes_per_teacher_and_verifies(monkeypatch):
    # constructed teacher features: the click pixel and one band peak point
    # one way, the confident background and another band peak the other
    monkeypatch.chdir(ROOT)
    model = stage_two_model(high_thr=0.5, low_thr=0.2, ramp_iters=0,
                            appearance=dict(momentum=0.5, temperature=0.1))
    assert model.semi_train_cfg['appearance'] == dict(momentum=0.5, temperature=0.1,
                                                      accept=0.5)
    codec = model.student.head.decoder
    w, h = codec.heatmap_size
    c = model.positive_prototype.shape[1]
    assert c == model.student.head.final_layer.in_channels
    clicks = gaussian(h, w, 10, 10, codec.sigma)[None, None]
    logits = torch.full((1, 1, h, w), -8.0)  # background scores 0.0003 < low_thr
    for x, y in ((40, 30), (50, 20)):
        logits[0, 0, y, x] = math.log(0.3 / 0.7)  # band peaks (score 0.3)
    nodule, tissue = torch.zeros(c), torch.zeros(c)
    nodule[0], tissue[1] = 1.0, 1.0
    features = tissue[None, :, None, None].repeat(1, 1, h, w)
    features[0, :, 10, 10] = 2 * nodule
    features[0, :, 30, 40] = nodule + 0.1 * tissue   # looks like the click
    features[0, :, 20, 50] = tissue + 0.1 * nodule   # looks like background
    target, mask, stats = model.pseudo_targets(0, logits, clicks, features=features)
    torch.testing.assert_close(model.positive_prototype[0], nodule)
    torch.testing.assert_close(model.negative_prototype[0], tissue)
    assert int(model.prototype_version[0]) == 0
    assert float(stats['verified_per_frame']) == 1 and float(stats['pseudo_per_frame']) == 1
    assert target[0, 0, 30, 40] == 1.0 and mask[0, 0, 20, 50] == 0
    # the same teacher: a moving average (momentum 0.5) toward the new clicks
    features2 = features.clone()
    features2[0, :, 10, 10] = tissue + nodule
    model.pseudo_targets(0, logits, clicks, features=features2)
    ema = 0.5 * nodule + 0.5 * (tissue + nodule) / math.sqrt(2)
    torch.testing.assert_close(model.positive_prototype[0], ema / ema.norm())
    # a new teacher starts afresh from its first batch
    model.teacher_version += 1
    model.pseudo_targets(0, logits, clicks, features=features2)
    torch.testing.assert_close(model.positive_prototype[0], (tissue + nodule) / math.sqrt(2))
    assert int(model.prototype_version[0]) == 1
    # a teacher that has seen no click yet verifies nothing
    model.teacher_version += 1
    _, _, stats = model.pseudo_targets(0, logits, torch.zeros_like(clicks), features=features)
    assert float(stats['verified_per_frame']) == 0 and float(stats['ignored_per_frame']) == 2
    with pytest.raises(ValueError, match='needs the teacher'):
        model.pseudo_targets(0, logits, clicks)
    with pytest.raises(ValueError, match='appearance options'):
        stage_two_model(appearance=dict(acept=0.5))


def test_a_training_step_with_the_verifier(monkeypatch):
    # through the model's loss, with the flip teacher: the features are
    # those of the teacher's own view, the logits unchanged by asking for them
    monkeypatch.chdir(ROOT)
    torch.manual_seed(0)
    model = stage_two_model(ramp_iters=0, teacher_flip=True, appearance=dict())
    model.train()
    inputs, samples = stage_two_batch(model)
    logits, features = model.teacher_logits(model.teacher, inputs, embed=True)
    torch.testing.assert_close(logits, model.teacher_logits(model.teacher, inputs))
    torch.testing.assert_close(model.teacher.head.final_layer(features),
                               model.teacher.head.forward(model.teacher.extract_feat(inputs)))
    losses = model(inputs, samples, mode='loss')
    assert torch.isfinite(losses['loss_kpt']) and 'verified_per_frame' in losses
    losses['loss_kpt'].backward()
    assert float(model.positive_prototype[0].norm()) == pytest.approx(1.0)
    # checkpoints carry the prototypes
    state = model.state_dict()
    assert {'positive_prototype', 'negative_prototype', 'prototype_version'} <= set(state)
