#!/usr/bin/env bash
# The whole GPU check in one go, offline, within GPU_CHECK_BUDGET_S (default 440 s < 8 min;
# each step is cut at the smaller of its own limit and the time left):
#
#   1. environment: Python, CuPy, GPU, nvcc;
#   2. wheels the machine lacks from .whl/ (bench/gpu_prepare.sh fetched them), then the
#      project: `pip install --no-deps --no-build-isolation -e .`, or, where that fails, a
#      generated .gpu-shim/ on PYTHONPATH whose sitecustomize maps cygno_mw.gpu & co. to
#      the checkout (as setup.cfg's package_dir does);
#   3. pytest -m gpu: CPU/GPU parity on simulated images and on the real pixel lists,
#      read from .gpu-data/ (copied there by gpu_prepare.sh) through $CYGNO_SHARED_DATA;
#   4. bench/reco_gpu.py: steady-state ms/image in batches of 8 with the host-to-device
#      copy, its ratio to the bare copy, peak GPU memory of a batch of 8, CPU ratio;
#   5. bench/reco.py (CPU path, reference and its own GPU numbers);
#   6. bench/online.py: the online analyzer's rate (backend 'auto': the GPU where present);
#   7. the kernel checks CI runs (nvcc compile, host shim), on this machine too.
#
# Everything lands in one folder, $OUT if set, else ./gpu-check-out: summary.txt, env.txt
# and one log per step (8 files at most).  Without CuPy or a GPU every step still runs (GPU
# parts skip, benches small), "no GPU" is reported and the exit status is 0; it is 1 when a
# step fails.
#
#   bash bench/gpu_check.sh            # PYTHON=python3 by default
set -u
cd "$(dirname "$0")/.." || exit 1
REPO=$(pwd)
OUT=${OUT:-$REPO/gpu-check-out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PY=${PYTHON:-python3}
BUDGET=${GPU_CHECK_BUDGET_S:-440}
export PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
SUMMARY=$OUT/summary.txt
ENVLOG=$OUT/env.txt
: >"$SUMMARY"
: >"$ENVLOG"
FAILED=0

say() { echo "$*" | tee -a "$SUMMARY"; }

# run_step NAME CAP_SECONDS LOGFILE CMD...: runs CMD with the smaller of CAP and the time left
run_step() {
    local name=$1 cap=$2 log=$3
    shift 3
    local left=$((BUDGET - SECONDS))
    if ((left < 20)); then
        say "$name: NOT RUN (time budget spent)"
        FAILED=1
        return 0
    fi
    local limit=$((cap < left ? cap : left))
    local started=$SECONDS
    echo "== $name (limit ${limit}s): $*"
    timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
    local rc=$?
    tail -n 25 "$log"
    local took=$((SECONDS - started))
    if ((rc == 0)); then
        say "$name: ok (${took}s)"
    elif ((rc == 124 || rc == 137)); then
        say "$name: TIMED OUT after ${took}s (limit ${limit}s)"
        FAILED=1
    else
        say "$name: FAILED rc=$rc (${took}s), see $(basename "$log")"
        FAILED=1
    fi
}

# --- 1. environment -------------------------------------------------------------------
{
    echo "date: $(date -u +%FT%TZ)  host: $(uname -srm)"
    echo "python: $(command -v "$PY") $("$PY" --version 2>&1)"
    "$PY" -c "import cupy; print('cupy', cupy.__version__)" 2>&1 | tail -n 1
    command -v nvidia-smi >/dev/null && nvidia-smi -L
    NVCC=$(command -v nvcc)
    for candidate in /usr/local/cuda*/bin/nvcc; do
        [ -z "$NVCC" ] && [ -x "$candidate" ] && NVCC=$candidate
    done
    [ -n "$NVCC" ] && "$NVCC" --version | tail -n 2
} >>"$ENVLOG" 2>&1
cat "$ENVLOG"

# --- 2. wheels and the project --------------------------------------------------------
# module:wheel of what `import cygno_mw.gpu`, the tests and the benches need beyond the
# machine's scientific stack (NumPy, SciPy, scikit-learn, pandas, pyarrow, pytest), with their
# own dependencies, so that pip installs them with --no-deps and resolves nothing
NEEDED="lz4:lz4 sqlalchemy:sqlalchemy alembic:alembic mako:mako uproot:uproot awkward:awkward
awkward_cpp:awkward-cpp cramjam:cramjam"
if "$PY" -c 'import sys; sys.exit(sys.version_info >= (3, 12))'; then
    NEEDED="$NEEDED importlib_metadata:importlib-metadata lazy_importer:lazy-importer zipp:zipp"
fi
missing_wheels() {
    local pair
    for pair in $NEEDED "$@"; do
        "$PY" -c "import ${pair%%:*}" >/dev/null 2>&1 || printf '%s ' "${pair#*:}"
    done
}
install_wheels() {
    local missing
    missing=$(missing_wheels "$@")
    [ -z "$missing" ] && return 0
    if [ ! -d .whl ]; then
        echo "missing $missing and no .whl/ folder (run bench/gpu_prepare.sh where pip works)"
        return 1
    fi
    echo "installing from .whl/: $missing"
    # shellcheck disable=SC2086
    "$PY" -m pip install -q --no-index --no-deps --find-links .whl $missing && return 0
    echo "site-packages not writable? installing into .gpu-site/ instead"
    # shellcheck disable=SC2086
    "$PY" -m pip install -q --no-index --no-deps --find-links .whl --target .gpu-site \
        $missing || return 1
    export PYTHONPATH="$REPO/.gpu-site${PYTHONPATH:+:$PYTHONPATH}"
}

make_shim() {
    # cygno_mw.<x> -> the checkout's folder, as setup.cfg's package_dir maps them
    mkdir -p .gpu-shim
    cat >.gpu-shim/sitecustomize.py <<EOF
"""Generated by bench/gpu_check.sh: cygno_mw importable from $REPO without installing."""
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys

_REPO = "$REPO"
_PACKAGES = {"cygno_mw": "cygno_mw", "cygno_mw.gpu": "gpu", "cygno_mw.frontends": "frontends",
             "cygno_mw.analyzers": "analyzers", "cygno_mw.odb_templates": "odb_templates"}


class _CheckoutFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        folder = _PACKAGES.get(name)
        if folder is None:
            return None
        where = os.path.join(_REPO, folder)
        return importlib.util.spec_from_file_location(
            name, os.path.join(where, "__init__.py"), submodule_search_locations=[where])


sys.meta_path.insert(0, _CheckoutFinder())
# then the interpreter's own sitecustomize, if it has one
_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.machinery.PathFinder.find_spec(
    "sitecustomize", [p for p in sys.path if os.path.abspath(p or ".") != _here])
if _spec is not None and _spec.loader is not None:
    _spec.loader.exec_module(importlib.util.module_from_spec(_spec))
EOF
    export PYTHONPATH="$REPO/.gpu-shim${PYTHONPATH:+:$PYTHONPATH}"
}

install_project() {
    install_wheels || return 1
    if [ "${GPU_CHECK_NO_INSTALL:-0}" != 1 ]; then
        install_wheels "setuptools:setuptools" "wheel:wheel" || true
        if "$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e .; then
            echo "project: editable install"
            return 0
        fi
        echo "editable install failed: falling back to the .gpu-shim/ on PYTHONPATH"
    fi
    make_shim
    echo "project: .gpu-shim/ on PYTHONPATH"
}
echo "== install" | tee -a "$ENVLOG"
install_project >>"$ENVLOG" 2>&1 || {
    say "install: FAILED, see env.txt"
    FAILED=1
}
tail -n 4 "$ENVLOG"
(cd / && "$PY" -c "import cygno_mw.gpu.pipeline as p; print('cygno_mw.gpu from', p.__file__)") \
    >>"$ENVLOG" 2>&1 || {
    say "import cygno_mw.gpu: FAILED, see env.txt"
    FAILED=1
}
GPU=$(cd / && "$PY" -c "
from cygno_mw.gpu.backend import cupy_backend
b = cupy_backend()
print(b.device_name if b else '')" 2>>"$ENVLOG")
if [ -n "$GPU" ]; then
    say "GPU: $GPU"
    RECO_ARGS=${GPU_CHECK_RECO_ARGS:---images 4 --repeats 2}
    RECO_GPU_ARGS=${GPU_CHECK_RECO_GPU_ARGS:---images 8 --repeats 5 --cpu-images 2}
    ONLINE_ARGS=${GPU_CHECK_ONLINE_ARGS:---events 24}
else
    say "no GPU: CuPy >= 14.2 with a CUDA device not found; GPU steps skip, benches run small"
    RECO_ARGS=${GPU_CHECK_RECO_ARGS:---images 1 --repeats 1 --no-gpu}
    RECO_GPU_ARGS=${GPU_CHECK_RECO_GPU_ARGS:-}
    ONLINE_ARGS=${GPU_CHECK_ONLINE_ARGS:---events 2 --small}
fi

# --- 3.-7. the checks, most wanted first ---------------------------------------------
if [ -d .gpu-data/pixels ]; then
    export CYGNO_SHARED_DATA=${CYGNO_SHARED_DATA:-$REPO/.gpu-data}
fi
say "real data: ${CYGNO_SHARED_DATA:-none (the real-pixel tests skip)}"
# only the modules that hold gpu tests: the others import servers' clients (boto3, moto...)
# that this machine need not have
GPU_TESTS=$(grep -l "pytest.mark.gpu" tests/test_*.py)
# shellcheck disable=SC2086
run_step "pytest -m gpu" 240 "$OUT/pytest_gpu.log" \
    "$PY" -m pytest -m gpu -p no:cacheprovider -q -rs $GPU_TESTS
# shellcheck disable=SC2086
run_step "bench/reco_gpu.py" 150 "$OUT/reco_gpu.log" \
    "$PY" bench/reco_gpu.py $RECO_GPU_ARGS --json "$OUT/reco_gpu.json"
# shellcheck disable=SC2086
run_step "bench/reco.py" 120 "$OUT/reco.log" "$PY" bench/reco.py $RECO_ARGS
# shellcheck disable=SC2086
run_step "bench/online.py" 90 "$OUT/online.log" "$PY" bench/online.py $ONLINE_ARGS
# last: CI runs these on every commit; here they confirm the shim and nvcc on this machine
run_step "kernel checks (nvcc, host shim)" 60 "$OUT/host_kernels.log" \
    "$PY" -m pytest -p no:cacheprovider -q -rs tests/test_cuda_compile.py \
    tests/test_cuda_kernels_host.py tests/test_gpu_path_emulated.py tests/test_gpu_backend.py

[ -s "$OUT/reco.log" ] && grep -E "^GPU|bare host-to-device|GPU memory" "$OUT/reco.log" |
    sed 's/^/bench\/reco.py: /' >>"$SUMMARY"
[ -s "$OUT/online.log" ] && grep -E "^frames|^online analyzer|^ratio" "$OUT/online.log" |
    sed 's/^/bench\/online.py: /' >>"$SUMMARY"
if [ -s "$OUT/reco_gpu.json" ]; then
    "$PY" - "$OUT/reco_gpu.json" <<'EOF' | tee -a "$SUMMARY"
import json, sys
r = json.load(open(sys.argv[1]))
if not r.get("gpu"):
    print("numbers: no GPU, nothing measured")
else:
    print(f"numbers: {r['ms_per_image']:.2f} ms/image (goal <= 5: "
          f"{'met' if r['goal_ms_ok'] else 'NOT met'}), {r['ratio_to_copy']:.1f} x the bare "
          f"copy ({r['bare_copy_ms']:.3f} ms), peak {r['peak_gpu_bytes'] / 2**20:.0f} MiB for "
          f"a batch of {r['batch']} (goal <= 2 GiB: "
          f"{'met' if r['goal_memory_ok'] else 'NOT met'}), {r['speedup_over_cpu']:.0f} x the "
          f"CPU path, same cluster counts: {r['same_cluster_counts']}")
EOF
fi
say "total: ${SECONDS}s of ${BUDGET}s; results in $OUT"
echo
cat "$SUMMARY"
exit "$FAILED"
