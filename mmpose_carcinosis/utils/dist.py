"""Distributed training on machines without a GPU (torch.distributed + gloo)."""
import os
import subprocess

import torch
import torch.distributed as torch_dist
from mmengine.config import Config


def setup_cpu_distributed(cfg: Config, launcher: str) -> None:
    """Make an MMEngine ``launcher='pytorch'`` or ``'slurm'`` run work on
    CPU-only machines.

    MMEngine 0.10.7 calls ``torch.cuda.set_device`` before initialising the
    process group and wraps the model in DDP with ``device_ids=[LOCAL_RANK]``;
    both fail without a GPU. When no GPU is visible this initialises the
    process group itself with gloo (MMEngine then skips its own init) and
    wraps the model without ``device_ids``. With a GPU it does nothing.

    Args:
        cfg (Config): The run's config; ``env_cfg.dist_cfg`` and
            ``model_wrapper_cfg`` are updated in place.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher == 'slurm':
        _slurm_env()
    elif launcher != 'pytorch':
        raise NotImplementedError(
            f'launcher={launcher!r} without a GPU: use torchrun (pytorch) or slurm')
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(
            backend='gloo', rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']))


def _slurm_env() -> None:
    """RANK, WORLD_SIZE, LOCAL_RANK and the master's address from Slurm's
    variables, as MMEngine's slurm launcher derives them (it also calls
    ``torch.cuda.set_device``, which fails without a GPU)."""
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['LOCAL_RANK'] = os.environ.get('SLURM_LOCALID', '0')
    os.environ.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in os.environ:
        node_list = os.environ['SLURM_NODELIST']
        os.environ['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {node_list} | head -n1')


def close_distributed() -> None:
    """Wait for every rank, then destroy the process group. MMEngine leaves
    it open; a rank that exits while another still writes a checkpoint can
    then abort in gloo's threads ("terminate called without an active
    exception", seen on a loaded 2-core machine)."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
