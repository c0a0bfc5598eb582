"""The review loop's files: proposals exported for CVAT and LabelMe, a
reviewer's answers read back (tools/import_clicks.py --update), the dataset
keeping confirmed negatives and dense frames."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest

from helpers import load_script
from mmpose_carcinosis.datasets import parse_carcinosis_annotations
from mmpose_carcinosis.datasets.review import (PROPOSAL, REJECTED, ReviewFormatError,
                                              disagreement, proposals_frame, rank_frames,
                                              read_cvat,
                                              read_labelme, review_value, write_cvat,
                                              write_labelme)

W, H = 64, 48
# clicks that are not short decimals: the round trip must keep every bit
CLICKS = {'v1/a.png': [(10.1, 20.3), (1 / 3, 47.9)], 'v1/b.png': [], 'v2/c.png': [(63.25, 0.5)]}
PROPOSALS = {'v1/a.png': ([(30.2, 30.7), (50.0, 10.0)], [0.83125, 0.41]),
             'v1/b.png': ([(5.5, 5.5)], [0.5]),
             'v2/c.png': ([], [])}


@pytest.fixture(scope='module')
def tool():
    return load_script('tools/import_clicks.py')


@pytest.fixture
def base(tmp_path):
    """Images and a COCO training file with the clicks."""
    images, anns = [], []
    for i, (name, pts) in enumerate(CLICKS.items()):
        path = tmp_path / 'images' / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.zeros((H, W, 3), np.uint8))
        images.append(dict(id=i + 1, file_name=name, width=W, height=H, video_id=1 + (i > 1),
                           frame_id=i))
        for x, y in pts:
            anns.append(dict(id=len(anns) + 1, image_id=i + 1, category_id=1,
                             keypoints=[x, y, 2], num_keypoints=1, iscrowd=0))
    (tmp_path / 'annotations').mkdir()
    path = tmp_path / 'annotations' / 'train.json'
    path.write_text(json.dumps(dict(images=images, annotations=anns, categories=[
        dict(id=1, name='carcinosis', keypoints=['carcinosis'], skeleton=[])])))
    return tmp_path, path


def export(root, fmt):
    """The frames with their clicks and proposals, as tools/propose.py writes them."""
    frames = {n: proposals_frame(W, H, np.array(CLICKS[n]), np.array(PROPOSALS[n][0]),
                                 np.array(PROPOSALS[n][1]), n) for n in CLICKS}
    if fmt == 'cvat':
        write_cvat(frames, str(root / 'review.xml'))
        return [str(root / 'review.xml')]
    paths = []
    for n, fr in frames.items():
        target = str(root / 'images' / n).replace('.png', '.json')
        write_labelme(fr, target, str(root / 'images' / n))
        paths.append(target)
    return paths


def read_back(root, fmt, paths):
    frames = {}
    for p in paths:
        frames.update(read_cvat(p) if fmt == 'cvat' else read_labelme(p, str(root / 'images')))
    return frames


@pytest.mark.parametrize('fmt', ['cvat', 'labelme'])
def test_an_unchanged_export_imports_as_a_no_op(tool, base, fmt):
    root, train = base
    paths = export(root, fmt)
    frames = read_back(root, fmt, paths)
    # every point and score back bit for bit, proposals with their scores
    for n in CLICKS:
        got = frames[n]['points']
        assert [(x, y) for x, y, label, _ in got if label == 'carcinosis'] == CLICKS[n]
        assert [(x, y) for x, y, label, _ in got if label == PROPOSAL] == PROPOSALS[n][0]
        assert [s for *_, label, s in got if label == PROPOSAL] == PROPOSALS[n][1]
        assert not frames[n]['reviewed']
    logs = []
    tool.import_clicks(fmt, paths, str(root / 'images'), str(root), name='round0',
                       update=str(train), log=logs.append)
    before = json.loads(train.read_text())
    after = json.loads((root / 'annotations' / 'round0.json').read_text())
    assert after['images'] == before['images']
    key = [(a['image_id'], a['keypoints']) for a in before['annotations']]
    assert [(a['image_id'], a['keypoints']) for a in after['annotations']] == key
    assert 'unreviewed proposal 3' in logs[-1]  # the three proposals, ignored


def test_a_scripted_review_becomes_positives_negatives_and_a_dense_frame(tool, base):
    # the reviewer accepts a's first proposal, rejects its second, adds a
    # missed nodule and flags a as reviewed; b's proposal is left unanswered
    root, train = base
    (path, ) = export(root, 'cvat')
    text = open(path).read()
    text = text.replace('label="proposal" source="auto" occluded="0" points="30.2,30.7"',
                        'label="carcinosis" source="manual" occluded="0" points="30.2,30.7"')
    text = text.replace('label="proposal" source="auto" occluded="0" points="50.0,10.0"',
                        'label="not-carcinosis" source="manual" occluded="0" '
                        'points="50.0,10.0"')
    text = text.replace('<image id="0" name="v1/a.png" width="64" height="48">',
                        '<image id="0" name="v1/a.png" width="64" height="48">'
                        '<points label="carcinosis" points="40.5,40.5"/>'
                        '<tag label="reviewed" source="manual"/>')
    open(path, 'w').write(text)
    tool.import_clicks('cvat', [path], str(root / 'images'), str(root), name='round1',
                       update=str(train), log=lambda *_: None)
    out = root / 'annotations' / 'round1.json'
    data = json.loads(out.read_text())
    a = [x for x in data['annotations'] if x['image_id'] == 1]
    assert sorted(tuple(x['keypoints'][:2]) for x in a if not x.get('negative')) == sorted(
        CLICKS['v1/a.png'] + [(30.2, 30.7), (40.5, 40.5)])
    assert [x['keypoints'][:2] for x in a if x.get('negative')] == [[50.0, 10.0]]
    assert [img.get('dense', False) for img in data['images']] == [True, False, False]
    # the dataset keeps them: negatives are not points of the frame
    infos = parse_carcinosis_annotations(data, str(out))
    assert len(infos[0]['keypoints']) == 4 and infos[0]['dense']
    np.testing.assert_array_equal(infos[0]['negative_keypoints'], [[50.0, 10.0]])
    assert infos[1]['negative_keypoints'].shape == (0, 2) and not infos[1]['dense']
    # answers are never written over an existing file
    with pytest.raises(ReviewFormatError, match='round1.json exists'):
        tool.import_clicks('cvat', [path], str(root / 'images'), str(root), name='round1',
                           update=str(train), log=lambda *_: None)


def test_contradictory_or_foreign_answers_are_errors_naming_the_record(tool, base, tmp_path):
    root, train = base
    frames = {'v1/a.png': proposals_frame(W, H, np.array([[10.0, 10.0]]), np.zeros((0, 2)),
                                          np.zeros(0))}
    frames['v1/a.png']['points'].append((10.2, 10.1, REJECTED, None))  # within 0.5 px
    write_cvat(frames, str(tmp_path / 'bad.xml'))
    with pytest.raises(ReviewFormatError, match=r"bad\.xml: image\[0\] \(name='v1/a.png'\).*"
                       r"both 'carcinosis' and 'not-carcinosis'"):
        tool.import_clicks('cvat', [str(tmp_path / 'bad.xml')], str(root / 'images'),
                           str(root), name='x', update=str(train), log=lambda *_: None)
    write_cvat({'v9/z.png': proposals_frame(W, H, np.zeros((0, 2)), np.zeros((0, 2)),
                                            np.zeros(0))}, str(tmp_path / 'other.xml'))
    with pytest.raises(ReviewFormatError, match=r"other\.xml: image\[0\].*'v9/z.png' is not "
                       r'a frame of .*train\.json'):
        tool.import_clicks('cvat', [str(tmp_path / 'other.xml')], str(root / 'images'),
                           str(root), name='y', update=str(train), log=lambda *_: None)
    bad = dict(json.loads(train.read_text()))
    bad['annotations'][0]['negative'] = 'yes'
    from mmpose_carcinosis.datasets import AnnotationError
    with pytest.raises(AnnotationError, match=r'annotations\[0\] \(id=1\): negative must be'):
        parse_carcinosis_annotations(bad, 'f.json')


def test_review_value_and_ranking():
    # at the threshold 1, at +-0.1 one half, 0.2 or more away nothing
    assert review_value(np.array([0.3, 0.4, 0.2, 0.5, 0.9]), 0.3) == pytest.approx(2.0)
    assert review_value(np.zeros(0), 0.3) == 0.0
    values = {'a': 0.5, 'b': 2.0, 'c': 2.0, 'd': 0.0}
    assert rank_frames(values) == ['b', 'c', 'a', 'd']
    assert rank_frames(values, budget=2) == ['b', 'c']
    # videos take turns: b and c share video 1, so a (video 2) comes second
    videos = {'a': 2, 'b': 1, 'c': 1, 'd': 3}
    assert rank_frames(values, groups=videos) == ['b', 'a', 'd', 'c']
    assert rank_frames(values, budget=2, groups=videos) == ['b', 'a']


def test_propose_needs_the_previous_checkpoint_for_that_rank(capsys):
    propose = load_script('tools/propose.py')
    for extra in (['--rank', 'previous'], ['--previous', 'x.pth']):
        with pytest.raises(SystemExit):
            propose.parse_args(['c.py', 'k.pth', '--data-root', 'd', '--out', 'o', *extra])
        assert '--rank previous and --previous CKPT go together' in capsys.readouterr().err


def test_disagreement_of_two_predictions():
    # (0, 0) .5 pairs with (1, 0) .2: 0.3; (10, 10) .3 and (50, 50) .4 are
    # alone: their scores; the same prediction twice: 0
    a, sa = np.array([[0, 0], [10, 10.]]), np.array([0.5, 0.3])
    b, sb = np.array([[1, 0], [50, 50.]]), np.array([0.2, 0.4])
    assert disagreement(a, sa, b, sb, radius=3) == pytest.approx(1.0)
    assert disagreement(a, sa, a, sa, radius=3) == 0.0
    assert disagreement(a, sa, np.zeros((0, 2)), np.zeros(0), radius=3) == pytest.approx(0.8)


def test_one_review_round_from_the_command_line(trained, data_root, tmp_path):
    # propose -> a scripted reviewer edits the CVAT export -> import the
    # answers -> train on them -> propose again: the rejection and the
    # reviewed frame come back as the reviewer left them
    import re
    import shutil
    import sys

    from helpers import CONFIG, data_options, run
    work, _ = trained
    ckpt = osp.join(work, 'epoch_2.pth')
    data = str(tmp_path / 'data') + '/'
    shutil.copytree(data_root, data, symlinks=True)
    out = tmp_path / 'review1'
    # review threshold 1e-6: every decoded peak away from the clicks is a
    # proposal, so the round trip does not hang on what a 2-epoch model
    # scores (on a fresh install its sigmoid scores were all below 0.001)
    log = run([sys.executable, 'tools/propose.py', CONFIG, ckpt, '--data-root', data,
               '--format', 'cvat', '--thr', '1e-6', '--budget', '3', '--out', str(out),
               '--draw', '1', '--rank', 'threshold', 'flip', '--per-video'])
    assert 'review threshold 1e-06 (command line)' in log
    xml = (out / 'review.xml').read_text()
    ranking = (out / 'ranking.csv').read_text().splitlines()
    assert len(ranking) == 4  # header and the 3 frames of the budget
    assert ranking[0] == 'image,video_id,review_value,threshold,flip,proposals'
    rows = [r.split(',') for r in ranking[1:]]
    # the value is the sum of the chosen parts; videos take turns
    assert all(float(r[2]) == pytest.approx(float(r[3]) + float(r[4]), abs=2e-4) for r in rows)
    assert len({r[1] for r in rows}) == min(3, len({i['video_id'] for i in json.load(
        open(data + 'annotations/train.json'))['images']}))
    assert len(list((out / 'drawn').glob('*.png'))) == 1
    props = re.findall(r'label="proposal" source="auto" occluded="0" points="([^"]+)"', xml)
    assert len(props) >= 2, 'no decoded peak away from the clicks'
    accepted, rejected = props[0], props[1]
    xml = xml.replace(f'label="proposal" source="auto" occluded="0" points="{accepted}"',
                      f'label="carcinosis" source="manual" occluded="0" points="{accepted}"', 1)
    xml = xml.replace(f'label="proposal" source="auto" occluded="0" points="{rejected}"',
                      f'label="not-carcinosis" source="manual" occluded="0" '
                      f'points="{rejected}"', 1)
    first = re.search(r'<image id="0" name="([^"]+)"[^>]*>', xml)
    xml = xml.replace(first.group(0), first.group(0) + '<tag label="reviewed" source="manual"/>')
    (out / 'review.xml').write_text(xml)
    log = run([sys.executable, 'tools/import_clicks.py', '--format', 'cvat',
               str(out / 'review.xml'), '--images-root', data + 'images', '--out', data,
               '--name', 'train_review1', '--update', data + 'annotations/train.json'])
    assert '1 confirmed negatives, 1 dense frame(s)' in log
    again = str(tmp_path / 'work1')
    run([sys.executable, 'tools/train.py', CONFIG, '--work-dir', again, '--cfg-options',
         *data_options(data, 1),
         'train_dataloader.dataset.ann_file=annotations/train_review1.json'])
    out2 = tmp_path / 'review2'
    assert osp.isfile(osp.join(again, 'epoch_1.pth'))
    # the same model proposes again on the answered file: the peaks the
    # reviewer answered are not asked twice
    log = run([sys.executable, 'tools/propose.py', CONFIG, ckpt,
               '--data-root', data, '--ann-file', 'annotations/train_review1.json',
               '--format', 'cvat', '--thr', '1e-6', '--out', str(out2),
               '--rank', 'threshold', 'previous', '--previous', ckpt])
    # the same model as the last round's: no disagreement anywhere
    ranking = [r.split(',') for r in (out2 / 'ranking.csv').read_text().splitlines()]
    assert ranking[0][3:5] == ['threshold', 'previous']
    assert {r[4] for r in ranking[1:]} == {'0.0000'}
    frames = read_cvat(str(out2 / 'review.xml'))
    rx, ry = map(float, rejected.split(','))
    negatives = [(x, y) for fr in frames.values() for x, y, label, _ in fr['points']
                 if label == REJECTED]
    assert negatives == [(rx, ry)]
    # and nothing is proposed again where the reviewer said no
    (where, ) = [fr for fr in frames.values()
                 if any(label == REJECTED for *_, label, _ in fr['points'])]
    proposed = np.array([(x, y) for x, y, label, _ in where['points']
                         if label == PROPOSAL]).reshape(-1, 2)
    radius = float(re.search(r'click radius ([\d.]+) px', log).group(1))
    assert len(proposed) and (np.hypot(*(proposed - (rx, ry)).T) > radius).all()
    assert frames[first.group(1)]['reviewed']
    ax, ay = map(float, accepted.split(','))
    assert any((x, y, label) == (ax, ay, 'carcinosis') for fr in frames.values()
               for x, y, label, _ in fr['points'])


def test_an_exported_frame_is_drawn_as_a_reviewer_sees_it():
    from mmpose_carcinosis.visualization import REVIEW_COLOURS, draw_review_frame
    img = np.zeros((48, 64, 3), np.uint8)
    frame = proposals_frame(64, 48, np.array([[10.0, 10.0]]), np.array([[40.0, 30.0]]),
                            np.array([0.5]))
    frame['points'].append((50.0, 10.0, REJECTED, None))
    out = draw_review_frame(img, frame, radius=4)
    assert not img.any()  # the input is not modified
    assert np.abs(out[10, 10].astype(int) - REVIEW_COLOURS['carcinosis']).max() <= 8  # centre

    def near(colour, x, y):
        patch = out[y - 5:y + 6, x - 5:x + 6].reshape(-1, 3).astype(int)
        return (np.abs(patch - colour).sum(1) < 60).any()
    assert near(REVIEW_COLOURS['proposal'], 40, 30) and not out[30, 40].any()  # a ring
    assert near(REVIEW_COLOURS['not-carcinosis'], 50, 10)
