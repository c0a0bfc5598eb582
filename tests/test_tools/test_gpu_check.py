"""tools/gpu_check.sh: on a machine without CUDA it says so and exits 0;
its dry run takes the GPU path on the CPU (the Runner with fp32, emulated
fp16 and bf16, stage two with 2 gloo processes) and its checks pass."""
import json
import os.path as osp

import torch

from helpers import ROOT, run


def test_without_cuda_it_says_so_and_exits_zero():
    assert not torch.cuda.is_available()
    out = run([osp.join(ROOT, 'tools', 'gpu_check.sh')])
    assert 'no GPU found' in out


def test_dry_run_on_the_cpu(tmp_path):
    work = tmp_path / 'gpu_check'
    out = run([osp.join(ROOT, 'tools', 'gpu_check.sh'), '--dry-run', '--work-dir', str(work)])
    assert 'all checks passed (dry run on the CPU)' in out
    with open(work / 'gpu_check.json') as f:
        report = json.load(f)
    results = report['results']
    assert set(results) == {'stage1_fp32', 'stage1_fp16', 'stage1_bf16', 'stage2_fp32',
                            'stage2_fp16', 'stage2_fp32_2procs'}
    assert report['failed'] == {}
    for name, r in results.items():
        # 4 training frames at batch 2: 2 iterations, 1 per process with 2
        assert r['iters'] == (1 if r['processes'] == 2 else 2), name
        assert r['finite'] and r['zero_grad_fraction'] <= 0.01, name
    # the same seed, weights and first batch: emulated fp16 changes the first
    # loss in the low digits, not more
    assert results['stage1_fp16']['losses'] != results['stage1_fp32']['losses']
    assert abs(results['stage1_fp16']['losses'][0] - results['stage1_fp32']['losses'][0]) \
        < 0.05 * results['stage1_fp32']['losses'][0]
    two = results['stage2_fp32_2procs']
    assert two['processes'] == 2 and two['thresholds_equal'] and len(two['thresholds']) == 2
