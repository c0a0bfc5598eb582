"""Many GPUs train like one: 2 gloo processes on the CPU against 1 process,
for the loss's normalisation, the teacher refresh and the pseudo-label
quality hook (each rank scoring its share)."""
import os
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from mmpose.registry import MODELS

from test_losses import _gaussian_batch


def _init(rank, world, port):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.distributed.init_process_group('gloo', rank=rank, world_size=world)


def _port():
    return 29000 + os.getpid() % 500


def _loss_problem():
    """A 1x1 conv on fixed features, 4 frames, the last two without any
    click (a rank that gets them has no positive pixel)."""
    torch.manual_seed(0)
    _, target = _gaussian_batch(b=4, h=24, w=40, points=3)
    target[2:] = 0
    feats = torch.randn(4, 3, 24, 40)
    conv = torch.nn.Conv2d(3, 1, 1)
    torch.nn.init.constant_(conv.bias, -4.6)
    return conv, feats, target


def _loss_and_grads(model, feats, target, loss_cfg):
    loss = MODELS.build(loss_cfg)(model(feats), target)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


def _ddp_loss_worker(rank, world, port, loss_cfg, out):
    import mmpose_carcinosis  # noqa: F401  (registers the losses)
    _init(rank, world, port)
    conv, feats, target = _loss_problem()
    model = torch.nn.parallel.DistributedDataParallel(conv)
    share = slice(2 * rank, 2 * rank + 2)  # rank 1: the frames without clicks
    loss, grads = _loss_and_grads(model, feats[share], target[share], loss_cfg)
    torch.distributed.all_reduce(loss)  # what the logger shows: the mean over ranks
    if rank == 0:
        torch.save(dict(loss=loss / world, grads=grads), out)
    torch.distributed.destroy_process_group()


@pytest.mark.parametrize('fused', [True, False])
def test_two_processes_train_like_one_batch(tmp_path, fused):
    # normalize='positive' divides by the positive pixels of the whole batch
    # over ranks (MMDetection's reduce_mean of num_pos). Before, each rank
    # divided by its own count, and the rank without clicks by 1 (its
    # background sum alone): the mean loss was 1.056 against 1.623 for one
    # process with the 4 frames, and the gradients differed likewise.
    cfg = dict(type='CragTailLoss', fused=fused)
    out = str(tmp_path / 'ddp.pt')
    mp.spawn(_ddp_loss_worker, args=(2, _port(), cfg, out), nprocs=2, join=True)
    ddp = torch.load(out)
    conv, feats, target = _loss_problem()
    loss, grads = _loss_and_grads(conv, feats, target, cfg)
    assert ddp['loss'].item() == pytest.approx(loss.item(), rel=1e-5)
    for g_ddp, g in zip(ddp['grads'], grads):
        torch.testing.assert_close(g_ddp, g, rtol=1e-4, atol=1e-7)


# --------------------------------------------------------------- refresh
class _Pair(torch.nn.Module):
    """Stands for PointSelfTraining: a student, a teacher, a version."""

    def __init__(self, student_value):
        super().__init__()
        self.student = torch.nn.Linear(3, 2)
        self.teacher = torch.nn.Linear(3, 2)
        for p in self.student.parameters():
            torch.nn.init.constant_(p, student_value)
        for p in self.teacher.parameters():
            torch.nn.init.constant_(p, -1.0)
        self.register_buffer('teacher_version', torch.zeros((), dtype=torch.long))


def _refresh_worker(rank, world, port, best, out):
    import mmpose_carcinosis  # noqa: F401
    from mmengine.logging import MessageHub, MMLogger

    from mmpose_carcinosis.engine.hooks import TeacherRefreshHook
    _init(rank, world, port)
    # each rank's current student differs from the best checkpoint's (7.0)
    model = _Pair(student_value=float(rank + 1))
    hub = MessageHub.get_instance(f'refresh_{rank}')
    # every rank knows the best checkpoint's path (CheckpointHook updates
    # the message hub on all ranks), only rank 0 writes it, slowly
    hub.update_info('best_ckpt', best)
    if rank == 0:
        time.sleep(3)
        state = {f'student.{k}': torch.full_like(v, 7.0)
                 for k, v in model.student.state_dict().items()}
        state.update({f'teacher.{k}': v for k, v in model.teacher.state_dict().items()})
        torch.save(dict(state_dict=state), best + '.part')
        os.replace(best + '.part', best)
    runner = SimpleNamespace(epoch=5, model=model, message_hub=hub, rank=rank,
                             logger=MMLogger.get_instance(f'refresh_log_{rank}'))
    TeacherRefreshHook(interval=5, source='best').before_train_epoch(runner)
    torch.save({k: v.clone() for k, v in model.teacher.state_dict().items()},
               f'{out}.{rank}')
    torch.distributed.destroy_process_group()


def test_refresh_from_best_waits_for_rank_zero(tmp_path):
    # Before: rank 1 did not find the file rank 0 was still writing and
    # copied its own student (teacher weights 2.0 on rank 1, 7.0 on rank 0).
    best = str(tmp_path / 'best_ap_epoch_5.pth')
    out = str(tmp_path / 'teacher')
    mp.spawn(_refresh_worker, args=(2, _port() + 1, best, out), nprocs=2, join=True)
    for rank in range(2):
        teacher = torch.load(f'{out}.{rank}')
        for v in teacher.values():
            assert torch.equal(v, torch.full_like(v, 7.0)), rank


# --------------------------------------------------------- quality hook
# 7 training frames with constructed teacher predictions, truth and clicks
def _quality_frames():
    rng = np.random.default_rng(0)
    frames = []
    for i in range(7):
        truth = rng.uniform(0, 100, (6, 2))
        clicks = truth[:1]
        pred = np.concatenate([truth[1:4] + rng.normal(0, 1, (3, 2)),
                               rng.uniform(0, 100, (2, 2))])
        scores = rng.uniform(0.2, 0.9, len(pred))
        frames.append(dict(img_path=f'f{i}.png', truth=truth, clicks=clicks,
                           pred=pred, scores=scores))
    return frames


def _quality_stats(rank, world):
    from mmengine.logging import MessageHub

    from mmpose_carcinosis.engine.hooks import PseudoLabelQualityHook
    from mmpose_carcinosis.engine.hooks import pseudo_label_quality_hook as module
    frames = _quality_frames()
    seen = []

    def fake_predictions(model, dataset, indices, batch_size=4, pair=0, score_floor=None):
        for i in indices:
            seen.append(i)
            f = frames[i]
            yield SimpleNamespace(
                img_id=i, img_path=f['img_path'],
                pred_instances=SimpleNamespace(keypoints=f['pred'][:, None],
                                               keypoint_scores=f['scores'][:, None]),
                gt_instances=SimpleNamespace(keypoints=f['truth'][:, None]))
    real = module.teacher_predictions
    module.teacher_predictions = fake_predictions
    try:
        hook = PseudoLabelQualityHook('annotations/train_dense.json', radius=5.0)
        hook._dataset = list(range(len(frames)))
        hook._clicks = {f['img_path']: f['clicks'] for f in frames}
        model = SimpleNamespace(teachers=lambda: [None], pair_suffixes=('', ),
                                click_radius=5.0, thresholds=lambda pair: (0.5, 0.1, None),
                                frozen=lambda img_id: np.zeros((0, 2)))
        hub = MessageHub.get_instance(f'quality_{rank}_{world}')
        runner = SimpleNamespace(
            epoch=0, rank=rank, model=model, message_hub=hub,
            logger=SimpleNamespace(info=lambda *a: None),
            visualizer=SimpleNamespace(add_scalars=lambda stats, step: None))
        hook.check(runner, model, 0)
    finally:
        module.teacher_predictions = real
    logged = {k[len('train/'):]: v.current() for k, v in hub.log_scalars.items()}
    return logged, seen


def _quality_worker(rank, world, port, out):
    import mmpose_carcinosis  # noqa: F401
    _init(rank, world, port)
    torch.save(_quality_stats(rank, world), f'{out}.{rank}')
    torch.distributed.destroy_process_group()


def test_quality_hook_shards_frames_over_ranks(tmp_path):
    # Before: rank 0 ran the teacher over every training frame alone while
    # the other ranks waited (NCCL's 10-minute timeout on large sets).
    out = str(tmp_path / 'quality')
    mp.spawn(_quality_worker, args=(2, _port() + 2, out), nprocs=2, join=True)
    single, seen = _quality_stats(0, 1)
    assert sorted(seen) == list(range(7))
    assert single['pseudo/precision'] > 0 and single['pseudo/per_frame'] > 0
    shares = []
    for rank in range(2):
        logged, seen = torch.load(f'{out}.{rank}')
        shares.append(sorted(seen))
        assert logged == pytest.approx(single)
    assert shares == [[0, 2, 4, 6], [1, 3, 5]]


def _prototype_batch():
    """4 frames of 3-channel features; frames 2 and 3 without a click."""
    g = torch.Generator().manual_seed(0)
    feats = torch.nn.functional.normalize(torch.randn(4, 3, 6, 8, generator=g), dim=1)
    mask = torch.rand(4, 1, 6, 8, generator=g) > 0.7
    mask[2:] = False
    return feats, mask


def _prototype_worker(rank, world, port, out):
    from mmpose_carcinosis.models.utils import masked_mean, updated_prototype
    _init(rank, world, port)
    feats, mask = _prototype_batch()
    mine = slice(rank * 2, rank * 2 + 2)  # rank 1 has no click pixel at all
    total, count = masked_mean(feats[mine], mask[mine])
    torch.save(updated_prototype(torch.zeros(3), total, count, 0.9, fresh=True), f'{out}.{rank}')
    torch.distributed.destroy_process_group()


def test_appearance_prototypes_are_summed_over_ranks(tmp_path):
    # the verifier's prototypes: every rank gets the prototype of the whole
    # batch, the rank without any click included
    from mmpose_carcinosis.models.utils import masked_mean, updated_prototype
    out = str(tmp_path / 'proto')
    mp.spawn(_prototype_worker, args=(2, _port() + 3, out), nprocs=2, join=True)
    feats, mask = _prototype_batch()
    single = updated_prototype(torch.zeros(3), *masked_mean(feats, mask), 0.9, fresh=True)
    assert float(single.norm()) == pytest.approx(1.0)
    for rank in range(2):
        torch.testing.assert_close(torch.load(f'{out}.{rank}'), single)
