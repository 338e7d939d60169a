# Shared by the bench/run*.sh scripts (sourced from the repository root).
#   ms_of:   the ms_per_step value of a bench line
#   best:    of several bench lines, the fastest
#   machine: one line describing the machine and the settings of the run
#   inference_bench_dir NAME: sets QAT, PY (the oracle Python, make oracles) and out,
#            the emptied bench/out/NAME; json EXPR FILE: a value of a JSON file
# PyTorch gets the OpenBLAS kernel that qat selects (OpenBLAS 0.3.21 falls back to its slow
# generic kernel on CPUs newer than it knows): the race is against the fast setup.
ms_of() { sed -n 's/.*ms_per_step=\([0-9.]*\).*/\1/p'; }
best() { awk -F'ms_per_step=' 'NR == 1 || $2 + 0 < min { min = $2 + 0; line = $0 } END { print line }'; }
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    if grep -qw avx512bw /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX
    elif grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; fi
fi
machine() {
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), OpenBLAS kernel ${OPENBLAS_CORETYPE:-auto}, OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-default}, load $(cut -d' ' -f1-3 /proc/loadavg)"
}
have_torch=0
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then have_torch=1; fi
inference_bench_dir() {
    QAT=${BUILD:-build}/qat
    PY=${QAT_PYTHON:-.venv-oracles/bin/python}
    out=bench/out/$1
    rm -rf "$out"
    mkdir -p "$out"
}
json() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print($1)" "$2"; }
