#!/usr/bin/env bash
# Create .venv/ with the verified OpenMMLab CPU stack and this plugin in editable mode.
#
#   tools/install_env.sh            # idempotent; re-running only checks and fixes what is missing
#
# Environment:
#   PYTHON            interpreter for the venv (default: python3.11, else python3)
#   VENV              venv directory (default: .venv at the repository root)
#   CARCINOSIS_CACHE  where the built mmcv wheel is cached (default: ~/.cache/mmpose-carcinosis)
#
# Why each step looks the way it does (verified facts):
#   * mmcv must be the full build (mmpose.models imports mmcv.ops at module level). mmcv 2.1.0's
#     setup.py hard-codes -std=c++17 while torch 2.14 headers require C++20, so the source archive
#     is patched before building. The wheel is cached outside the repository.
#   * mmdet and mmpose are installed with --no-deps (mmpose's metadata requires chumpy, whose
#     setup fails under current pip); their real runtime needs are in requirements/mmpose_deps.txt.
#   * numpy<2 (xtcocotools binary), opencv-python<4.12 (newer needs numpy 2),
#     setuptools<80 (mmpose.apis imports pkg_resources).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
VENV="${VENV:-$ROOT/.venv}"
CACHE="${CARCINOSIS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmpose-carcinosis}"
MMCV_VERSION=2.1.0
WHEELS="$CACHE/wheels"
mkdir -p "$WHEELS"

log() { printf '\033[1m[install %s]\033[0m %s\n' "$(date +%H:%M:%S)" "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $PYTHON"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
# pip install, without the "Location ... is ignored" noise that empty local
# index folders in a machine-wide pip config produce; pip's status is kept
PIP=(pip_install)
pip_install() {
  "$PY" -m pip install --progress-bar off "$@" 2>&1 \
    | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
  return "${PIPESTATUS[0]}"
}

log "base tools, torch, mmengine"
"${PIP[@]}" -q "pip>=23" wheel "setuptools<80" "numpy<2"
"${PIP[@]}" -q -r requirements/openmmlab.txt -c requirements/mmpose_deps.txt

torch_ver=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
have_mmcv=$("$PY" - <<'PY' || true
try:
    import mmcv, mmcv.ops  # noqa: F401
    from mmcv.ops import nms  # noqa: F401
    print(mmcv.__version__)
except Exception:
    pass
PY
)
if [ "$have_mmcv" != "$MMCV_VERSION" ]; then
  # One cache directory per torch version: a torch change means a rebuild.
  wheeldir="$WHEELS/torch-$torch_ver"
  wheel=$(ls "$wheeldir"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    log "building mmcv $MMCV_VERSION with compiled ops against torch $torch_ver (about 10 min on 2 cores)"
    build="$(mktemp -d)"
    trap 'rm -rf "$build"' EXIT
    "$PY" -m pip download -q --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$build" 2>&1 \
      | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
    tar -xzf "$build"/mmcv-"$MMCV_VERSION".tar.gz -C "$build"
    src="$build/mmcv-$MMCV_VERSION"
    sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    grep -q -- '-std=c++20' "$src/setup.py" || { echo "mmcv setup.py patch did not apply" >&2; exit 1; }
    "${PIP[@]}" -q ninja  # the C++ build uses it when present
    (cd "$src" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS="${MAX_JOBS:-2}" \
        "$PY" -m pip wheel --no-build-isolation --no-deps -w "$build/dist" .)
    mkdir -p "$wheeldir"
    cp "$build"/dist/mmcv-*.whl "$wheeldir/"
    wheel=$(ls "$wheeldir"/mmcv-"$MMCV_VERSION"-*.whl | head -n1)
  fi
  log "installing $wheel"
  "${PIP[@]}" -q --no-deps --force-reinstall "$wheel"
  "${PIP[@]}" -q addict yapf packaging -c requirements/mmpose_deps.txt
fi

log "mmdet 3.3.0, mmpose 1.3.2 (no deps) and their runtime needs"
"${PIP[@]}" -q -r requirements/mmpose_deps.txt
"${PIP[@]}" -q --no-deps mmdet==3.3.0 mmpose==1.3.2

log "this plugin (editable) and test tools"
"${PIP[@]}" -q --no-deps --no-build-isolation -e .
"${PIP[@]}" -q -r requirements/runtime.txt -c requirements/mmpose_deps.txt
"${PIP[@]}" -q -r requirements/tests.txt -r requirements/deploy.txt \
  -c requirements/mmpose_deps.txt

log "import check"
"$PY" - <<'PY'
import numpy, torch, mmcv, mmengine, mmpose
import mmcv.ops  # compiled ops
import mmpose.models, mmpose.apis, mmpose.datasets, mmpose.evaluation  # noqa: F401
import mmpose_carcinosis  # noqa: F401
import onnx, onnxruntime  # noqa: F401,E401  (export and its check)
import tifffile  # noqa: F401  (instance masks)
assert numpy.__version__.startswith('1.'), numpy.__version__
print(f'ok: torch {torch.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, '
      f'mmpose {mmpose.__version__}, numpy {numpy.__version__}, mmpose_carcinosis '
      f'{mmpose_carcinosis.__version__}')
PY
