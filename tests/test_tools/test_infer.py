"""tools/infer.py on folders, images and videos, and MMPose's own
inferencer as a client of a plugin model."""
import csv
import glob
import json
import os.path as osp
import shutil
import sys

import cv2
import pytest

from helpers import CONFIG, run

pytestmark = pytest.mark.timeout(900)


def make_video(paths, out, fps=4):
    first = cv2.imread(paths[0])
    w = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                        (first.shape[1], first.shape[0]))
    for p in paths:
        w.write(cv2.imread(p))
    w.release()
    return out


@pytest.fixture
def inputs(data_root, tmp_path):
    frames = sorted(glob.glob(osp.join(data_root, 'images', '*', '*.jpg')))
    folder = tmp_path / 'case'
    for video, src in (('v1', frames[0]), ('v2', frames[1])):  # same basename
        (folder / video).mkdir(parents=True)
        shutil.copy(src, folder / video / '00000.jpg')
    (folder / 'notes.txt').write_text('not a frame')
    (folder / 'v2' / 'broken.png').write_bytes(b'not an image')
    video = make_video(frames[:8], str(tmp_path / 'clip.mp4'))
    return str(folder), video


def test_infer_tool_outputs(trained, inputs, tmp_path):
    work, _ = trained
    folder, video = inputs
    out = tmp_path / 'out'
    log = run([sys.executable, 'tools/infer.py', CONFIG, osp.join(work, 'epoch_2.pth'),
               folder, video, '--out-dir', str(out), '--fps', '2', '--batch-size', '3',
               '--score-thr', '0.005'])
    assert 'score threshold 0.005 (command line)' in log
    assert 'skipped 1 file(s) that are neither images nor videos' in log
    assert 'broken.png: cannot be read as an image' in log
    # frames that share a basename keep their folders
    for v in ('v1', 'v2'):
        assert (out / 'vis' / 'case' / v / '00000.jpg').is_file()
        preds = json.loads((out / 'predictions' / 'case' / v / '00000.json').read_text())
        assert all(i['keypoint_scores'][0] >= 0.005 for i in preds)
    # the 8-frame clip at 4 frames/s sampled at 2: frames 0, 2, 4, 6
    video_preds = json.loads((out / 'predictions' / 'clip.json').read_text())
    assert [p['frame_id'] for p in video_preds] == [0, 2, 4, 6]
    with open(out / 'counts' / 'clip.csv') as f:
        counts = list(csv.DictReader(f))
    assert [(r['frame_index'], r['time_s']) for r in counts] == [
        ('0', '0.000'), ('2', '0.500'), ('4', '1.000'), ('6', '1.500')]
    assert [int(r['count']) for r in counts] == [len(p['instances']) for p in video_preds]
    assert (out / 'counts' / 'clip.png').is_file() and (out / 'vis' / 'clip.mp4').is_file()
    cap = cv2.VideoCapture(str(out / 'vis' / 'clip.mp4'))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    # one CSV row per point, matching the JSON files
    with open(out / 'points.csv') as f:
        rows = list(csv.DictReader(f))
    n_json = sum(len(p['instances']) for p in video_preds) + sum(
        len(json.loads((out / 'predictions' / 'case' / v / '00000.json').read_text()))
        for v in ('v1', 'v2'))
    assert len(rows) == n_json > 0
    assert {r['source'] for r in rows} <= {video, osp.join(folder, 'v1', '00000.jpg'),
                                          osp.join(folder, 'v2', '00000.jpg')}


def test_mmpose_inferencer_as_client(trained, inputs, tmp_path):
    # MMPose's own inferencer runs the plugin model on an image and a video;
    # the threshold stored with the model is passed as documented
    from mmpose.apis import MMPoseInferencer

    from mmpose_carcinosis.utils import stored_score_thr
    work, _ = trained
    folder, video = inputs
    ckpt = osp.join(work, 'epoch_2.pth')
    thr, _ = stored_score_thr(ckpt)
    thr = 0.005 if thr is None else thr
    inferencer = MMPoseInferencer(pose2d=CONFIG, pose2d_weights=ckpt, device='cpu')
    inferencer.inferencer.model.head.decoder.decode_thr = thr
    image = osp.join(folder, 'v1', '00000.jpg')
    results = list(inferencer(image, pred_out_dir=str(tmp_path / 'pred'), kpt_thr=thr))
    (instances, ) = results[0]['predictions']
    assert len(instances) > 0
    assert all(i['keypoint_scores'][0] >= thr for i in instances)
    assert (tmp_path / 'pred' / '00000.json').is_file()
    frames = list(inferencer(video, pred_out_dir=str(tmp_path / 'pred'), kpt_thr=thr,
                             vis_out_dir=str(tmp_path / 'vis')))
    assert len(frames) == 8  # the generator must be consumed to write the video
    saved = json.loads((tmp_path / 'pred' / 'clip.json').read_text())
    assert [f['frame_id'] for f in saved] == list(range(8))
    assert (tmp_path / 'vis' / 'clip.mp4').is_file()


def test_store_threshold_then_applied_by_default(trained, data_root, tmp_path):
    from helpers import data_options

    from mmpose_carcinosis.utils import stored_score_thr
    work, _ = trained
    ckpt = str(tmp_path / 'model.pth')
    shutil.copy(osp.join(work, 'epoch_2.pth'), ckpt)
    # the shipped configs' ScoreThresholdHook stored one during training
    assert 'on validation after epoch' in stored_score_thr(ckpt)[1]
    log = run([sys.executable, 'tools/test.py', CONFIG, ckpt, '--work-dir', str(tmp_path),
               '--store-thr', '--out', str(tmp_path / 'val.json'),
               '--cfg-options', *data_options(data_root, 2)])
    val = json.loads((tmp_path / 'val.json').read_text())
    thr, source = stored_score_thr(ckpt)
    assert thr == pytest.approx(val['point/best_thr']) and 'tools/test.py --store-thr' in source
    assert f'stored score_thr={thr:g}' in log
    frame = sorted(glob.glob(osp.join(data_root, 'images', 'test', '*.jpg')))[0]
    log = run([sys.executable, 'tools/infer.py', CONFIG, ckpt, frame,
               '--out-dir', str(tmp_path / 'out'), '--no-draw'])
    assert f'score threshold {thr:g} (point/best_thr on validation' in log


def test_stage_two_checkpoints_load_their_student(trained, data_root, tmp_path):
    # a stage-two checkpoint (student.*, teacher.*) with the stage-two config
    # or the stage-one config gives the student as a plain model, weights
    # loaded strictly; a checkpoint of another model is an error naming it
    import torch
    from mmengine.config import Config
    from mmpose.registry import MODELS

    from mmpose_carcinosis.apis import init_point_model
    from mmpose_carcinosis.utils import stored_score_thr
    from helpers import ROOT, load_script
    work, _ = trained
    cfg2 = osp.join(ROOT, 'configs', 'selftrain_cragtail_hrnet-w18s_1xb4-10e_synthetic-480x288.py')
    model_cfg = Config.fromfile(cfg2).model
    model_cfg.init_cfg.checkpoint = osp.join(work, 'epoch_2.pth')
    wrapper = MODELS.build(model_cfg)
    wrapper.init_weights()
    with torch.no_grad():
        for p in wrapper.student.parameters():
            p.add_(0.01)  # the student moved away from the teacher
    ckpt = str(tmp_path / 'stage2.pth')
    torch.save(dict(state_dict=wrapper.state_dict(),
                    meta=dict(score_thr=0.42, score_thr_source='test')), ckpt)
    student = wrapper.student.state_dict()
    for config in (cfg2, CONFIG):
        model, thr, _ = init_point_model(config, ckpt)
        assert thr == 0.42 and type(model).__name__ == 'BottomupPoseEstimator'
        state = model.state_dict()
        assert state.keys() == student.keys()
        assert all(torch.equal(state[k], student[k]) for k in student)
    # the teacher instead, with semi_test_cfg.predict_on='teacher'
    model, _, _ = init_point_model(cfg2, ckpt,
                                   cfg_options={'model.semi_test_cfg.predict_on': 'teacher'})
    key = 'backbone.conv1.weight'
    assert torch.equal(model.state_dict()[key], wrapper.teacher.state_dict()[key])
    # a stage-one checkpoint with the stage-two config: no student.* weights
    with pytest.raises(ValueError, match=r"epoch_2\.pth does not fit.*'student\.'"):
        init_point_model(cfg2, osp.join(work, 'epoch_2.pth'))
    # a Crag and Tail checkpoint (logits, its Runner-saved meta['cfg']) read
    # as MSE scores, or a stage-two model reading it so: refused, naming
    # the key that fixes it
    as_scores = {'model.head.score_activation': None}
    with pytest.raises(ValueError, match=r"epoch_2\.pth was trained with score_activation="
                       r"'sigmoid' \(CragTailLoss\).*model\.head\.score_activation='sigmoid'"):
        init_point_model(CONFIG, osp.join(work, 'epoch_2.pth'), cfg_options=as_scores)
    with_cfg = str(tmp_path / 'stage2_with_cfg.pth')
    torch.save(dict(state_dict=wrapper.state_dict(),
                    meta=dict(cfg=Config.fromfile(cfg2).pretty_text)), with_cfg)
    with pytest.raises(ValueError, match=r"model\.detector\.head\.score_activation='sigmoid'"):
        init_point_model(cfg2, with_cfg,
                         cfg_options={'model.detector.head.score_activation': None})
    # tools/test.py, and tools/train.py fine-tuning from it (load_from),
    # refuse it before their Runner starts
    test_tool, train_tool = load_script('tools/test.py'), load_script('tools/train.py')
    with pytest.raises(ValueError, match=r"model\.head\.score_activation='sigmoid'"):
        test_tool.main([CONFIG, osp.join(work, 'epoch_2.pth'), '--work-dir', str(tmp_path / 't0'),
                        '--cfg-options', 'model.head.score_activation=None'])
    as_mse = ['model.head.score_activation=None', f'load_from={osp.join(work, "epoch_2.pth")}']
    with pytest.raises(ValueError, match=r"model\.head\.score_activation='sigmoid'"):
        train_tool.build_cfg(train_tool.parse_args([CONFIG, '--cfg-options', *as_mse]))
    assert train_tool.build_cfg(train_tool.parse_args([CONFIG, '--cfg-options', as_mse[1]]))
    assert init_point_model(cfg2, with_cfg)[0].head.score_activation == 'sigmoid'
    # tools/test.py --store-thr on a stage-two config (it crashed looking for
    # cfg.model.head): the student's threshold on validation, stored
    from helpers import data_options
    run([sys.executable, 'tools/test.py', cfg2, ckpt, '--work-dir', str(tmp_path / 't2'),
         '--store-thr', '--out', str(tmp_path / 'val2.json'),
         '--cfg-options', *data_options(data_root, 2)])
    stored, source = stored_score_thr(ckpt)
    val = json.loads((tmp_path / 'val2.json').read_text())
    assert stored == pytest.approx(val['point/best_thr']) and '--store-thr' in source
    torch.save(dict(state_dict=wrapper.state_dict(),
                    meta=dict(score_thr=0.42, score_thr_source='test')), ckpt)
    # the ONNX export tool takes the stage-two checkpoint as it is
    out = str(tmp_path / 's2.onnx')
    log = run([sys.executable, 'tools/export_onnx.py', cfg2, ckpt, '--out', out, '--check'])
    assert 'score threshold 0.42' in log and osp.isfile(out)
    # published: only the student, usable by MMPose's own init_model with the
    # stage-one config, the threshold kept
    from mmpose.apis import init_model
    log = run([sys.executable, 'tools/publish_model.py', ckpt, str(tmp_path / 'pub' / 'm.pth')])
    published = glob.glob(str(tmp_path / 'pub' / 'm-*.pth'))
    assert len(published) == 1 and f'to {published[0]}' in log
    assert stored_score_thr(published[0])[0] == 0.42
    plain = init_model(CONFIG, published[0], device='cpu')
    assert all(torch.equal(plain.state_dict()[k], student[k]) for k in student)
    again = run([sys.executable, 'tools/publish_model.py', ckpt, str(tmp_path / 'pub' / 'm.pth')])
    assert 'not overwritten' in again
    import subprocess
    bad = subprocess.run([sys.executable, 'tools/publish_model.py', ckpt,
                          str(tmp_path / 'x.pth'), '--network', 'student_b'],
                         cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode != 0 and "no 'student_b' network" in bad.stderr
    assert not glob.glob(str(tmp_path / 'x*'))


def test_unusable_input_is_a_one_line_error_and_a_failed_exit(tmp_path, capsys):
    # before: a truncated mp4 gave "completed: 0" and exit status 0, a
    # missing path a Python traceback; both fail before the model loads
    # (the config and checkpoint are never read here)
    import numpy as np

    from helpers import load_script
    infer = load_script('tools/infer.py')
    frames = [str(tmp_path / f'{i}.png') for i in range(8)]
    for i, p in enumerate(frames):
        cv2.imwrite(p, np.full((64, 96, 3), 30 * i, np.uint8))
    clip = make_video(frames, str(tmp_path / 'clip.mp4'))
    data = open(clip, 'rb').read()
    with open(tmp_path / 'truncated.mp4', 'wb') as f:
        f.write(data[:len(data) // 3])
    code = infer.main(['no.py', 'no.pth', str(tmp_path / 'truncated.mp4'),
                       '--out-dir', str(tmp_path / 'out')])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith('error: no readable frame')
    assert 'truncated.mp4' in err[0]
    code = infer.main(['no.py', 'no.pth', str(tmp_path / 'missing.mp4'),
                       '--out-dir', str(tmp_path / 'out')])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == [f'error: {tmp_path / "missing.mp4"}: no such file or folder']
