#!/usr/bin/env bash
# Prepare bench/gpu_check.sh for a GPU machine that has no network, on a machine that has:
#
#   .gpu-data/pixels/  the real pixel lists of the shared data ($CYGNO_SHARED_DATA, else
#                      ../shared/data/cygno), which the gpu tests read there;
#   .whl/              wheels of what the GPU machine's Python lacks for `import cygno_mw.gpu`,
#                      the gpu tests and the benches (its image has NumPy, SciPy, scikit-learn,
#                      pandas, pyarrow, pytest, numba, CuPy), for each Python version in
#                      GPU_PYTHON_VERSIONS (default: 3.12, the GPU machine's, and this
#                      machine's own, for a rehearsal here).
#
# Both folders are ignored by git; send them along with the checkout (e.g. `carry`).
#
#   bash bench/gpu_prepare.sh && bash bench/gpu_check.sh   # rehearsal: no GPU, exits 0
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

SRC=${CYGNO_SHARED_DATA:-../shared/data/cygno}
if [ ! -d "$SRC/pixels" ]; then
    echo "no pixel lists in $SRC/pixels: set CYGNO_SHARED_DATA to the shared data/cygno folder" >&2
    exit 1
fi
mkdir -p .gpu-data/pixels
cp -f "$SRC"/pixels/*.npy .gpu-data/pixels/
echo "data: $(find .gpu-data/pixels -name "*.npy" | wc -l) pixel lists in .gpu-data/pixels"

# The versions the project is tested with; --no-deps, so each dependency the machine lacks is
# named (sqlalchemy, mako for alembic; awkward, awkward-cpp, cramjam for uproot;
# importlib-metadata, lazy-importer, zipp for awkward on Python < 3.12; setuptools and wheel
# for the editable install).  Keep in step with NEEDED in gpu_check.sh.
WHEELS="lz4==4.4.5 sqlalchemy==2.1.9 alembic==1.20.1 mako==1.4.3 uproot==5.7.7 awkward==2.14.0
awkward-cpp==57 cramjam==2.14.0 importlib-metadata==10.2.0 lazy-importer==0.1.0 zipp==4.1.2
setuptools==80.9.0 wheel==0.45.1"
HERE=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
VERSIONS=${GPU_PYTHON_VERSIONS:-"3.12 $HERE"}
mkdir -p .whl
for version in $(echo "$VERSIONS" | tr ' ' '\n' | sort -u); do
    echo "wheels for Python $version..."
    # shellcheck disable=SC2086
    "$PY" -m pip download -q --no-deps --only-binary=:all: -d .whl \
        --python-version "$version" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform manylinux_2_24_x86_64 --platform manylinux1_x86_64 \
        --platform any $WHEELS
done
echo "wheels: $(find .whl -name "*.whl" | wc -l) files, $(du -sh .whl | cut -f1) in .whl/"
