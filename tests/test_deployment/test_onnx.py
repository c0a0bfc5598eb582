"""ONNX export with the decoding in the graph: onnxruntime gives the same
points (0.5 px) and scores (1e-4) as MMPose's own PyTorch path."""
import glob
import os.path as osp
import sys

import cv2
import numpy as np
import pytest
import torch
from mmpose.structures import PoseDataSample
from scipy.optimize import linear_sum_assignment

from helpers import CONFIG, run

ort = pytest.importorskip('onnxruntime')
pytestmark = pytest.mark.timeout(900)


def frames(data_root, w, h, n=3):
    """Generated test frames fitted into (w, h) as a float BGR batch."""
    out = []
    for path in sorted(glob.glob(osp.join(data_root, 'images', 'test', '*.jpg')))[:n]:
        img = cv2.imread(path).astype(np.float32)
        canvas = np.zeros((h, w, 3), np.float32)
        canvas[:img.shape[0], :img.shape[1]] = img[:h, :w]
        out.append(canvas.transpose(2, 0, 1))
    return np.stack(out)


@pytest.mark.parametrize('flip', [False, True])
def test_onnx_parity_with_mmpose_predict(trained, data_root, tmp_path, flip):
    from mmpose_carcinosis.apis import init_point_model
    from mmpose_carcinosis.deployment import export_onnx
    work, _ = trained
    model, _, _ = init_point_model(CONFIG, osp.join(work, 'epoch_2.pth'),
                                   cfg_options={'model.test_cfg.flip_test': flip})
    w, h = (int(v) for v in model.head.decoder.input_size)
    x = frames(data_root, w, h)
    samples = [PoseDataSample(metainfo=dict(flip_indices=[0])) for _ in x]
    with torch.no_grad():
        batch = model.data_preprocessor(
            dict(inputs=list(torch.from_numpy(x)), data_samples=samples), False)
        inputs = batch['inputs']
        # two training epochs leave the features nearly flat over the frame
        # (every peak tied at the prior); random output weights, centred on
        # logit 0 where the sigmoid is steepest, spread the peaks' scores
        # far beyond float noise
        torch.manual_seed(0)
        torch.nn.init.normal_(model.head.final_layer.weight, std=1.0)
        torch.nn.init.zeros_(model.head.final_layer.bias)
        model.head.final_layer.bias.fill_(-float(model.head.forward(
            model.extract_feat(inputs)).mean()))
    path = str(tmp_path / 'model.onnx')
    export_onnx(model, path, score_thr=0.2)
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    points, scores = sess.run(None, {'image': x})
    meta = sess.get_modelmeta().custom_metadata_map
    assert float(meta['score_thr']) == 0.2 and meta['input_size'] == f'[{w}, {h}]'
    k = model.head.decoder.decode_topk
    assert points.shape == (len(x), k, 2) and scores.shape == (len(x), k)
    # MMPose's own path: data preprocessor, features, the head's predict
    # (flip test included) and the codec's decode, keeping every peak
    model.head.decoder.decode_thr = -1.0
    with torch.no_grad():
        feats = model.extract_feat(inputs)
        if flip:
            feats = [feats, model.extract_feat(inputs.flip(-1))]
        preds = model.head.predict(feats, batch['data_samples'], model.test_cfg)
    compared = 0
    for b, pred in enumerate(preds):
        ref_pts, ref_sc = pred.keypoints[:, 0], pred.keypoint_scores[:, 0]
        # the same sorted scores; top-k may pick different pixels among
        # peaks tied (within float noise) at the k-th score, so scores and
        # points are compared above the higher of the two k-th scores
        cut = max(ref_sc.min(), scores[b].min()) + 1e-4
        above = np.sort(scores[b][scores[b] > cut])
        ref_above = np.sort(ref_sc[ref_sc > cut])
        assert len(above) == len(ref_above)
        assert np.abs(above - ref_above).max(initial=0) < 1e-4
        ref_pts, ref_sc = ref_pts[ref_sc > cut], ref_sc[ref_sc > cut]
        got_pts, got_sc = points[b][scores[b] > cut], scores[b][scores[b] > cut]
        assert len(got_pts) == len(ref_pts)
        # one-to-one: every point has a partner within 0.5 px and 1e-4
        cost = (np.linalg.norm(got_pts[:, None] - ref_pts[None], axis=-1)
                + 1e3 * (np.abs(got_sc[:, None] - ref_sc[None]) > 1e-4))
        rows, cols = linear_sum_assignment(cost)
        assert cost[rows, cols].max() < 0.5
        compared += len(rows)
    assert compared >= 10 * len(x)  # not a vacuous comparison
    # dynamic batch: one frame alone gives that frame's rows
    one = sess.run(None, {'image': x[1:2]})
    assert np.abs(one[1][0] - scores[1]).max() < 1e-5


def test_export_tool_reads_the_stored_threshold(trained, tmp_path):
    work, _ = trained
    out = str(tmp_path / 'm.onnx')
    log = run([sys.executable, 'tools/export_onnx.py', CONFIG, osp.join(work, 'epoch_2.pth'),
               '--out', out, '--score-thr', '0.33', '--check'])
    assert 'score threshold 0.33 from --score-thr' in log
    assert 'onnxruntime vs PyTorch' in log
    meta = ort.InferenceSession(out).get_modelmeta().custom_metadata_map
    assert float(meta['score_thr']) == 0.33 and meta['score_thr_source'] == '--score-thr'
