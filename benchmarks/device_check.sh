#!/usr/bin/env bash
# The accelerator figures of benchmarks/ in one call of at most 10 minutes: bench_mle,
# the full reproduction grid (grid_time) and bench_sweep on jax's default device, each
# under its own time limit so that one slow step cannot take the others' figures with
# it. The result files a step writes (benchmarks/results/*_<platform>.*) and a log are
# copied to $OUT after it.
#
#   OUT=/tmp/out bash benchmarks/device_check.sh
#
# It uses the python3 on PATH as it is (no network needed). On a machine without
# jaxcert's dependencies, put their wheels in .whl/ first; for the workplace GPU image
# (jax with CUDA, numpyro, optax, chex, scipy, pandas preinstalled):
#   pip download --no-deps -d .whl jaxopt==0.8.5 ppi-python==0.2.3 gdown beautifulsoup4 soupsieve
set -uo pipefail
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/jaxcert_site .whl/*.whl \
    && export PYTHONPATH="$PYTHONPATH:/tmp/jaxcert_site"
fi
python3 -c "import jax; print('jax', jax.__version__, jax.devices())" 2>&1 | tee "$OUT/device_check.log"

snapshot() { find benchmarks/results -maxdepth 1 -type f -printf '%p\t%T@\n' | sort; }

step() {  # step SECONDS SCRIPT ARGS...
  local limit=$1; shift
  local before; before=$(snapshot)
  echo "== $* (limit ${limit} s) $(date -u +%FT%TZ)" | tee -a "$OUT/device_check.log"
  timeout "$limit" python3 "$@" 2>&1 | tail -n 40 | tee -a "$OUT/device_check.log"
  echo "== exit ${PIPESTATUS[0]}" | tee -a "$OUT/device_check.log"
  # files whose name or modification time changed during the step (not -newer: a file
  # written in the same clock tick as a stamp would not count as newer)
  comm -13 <(echo "$before") <(snapshot) | cut -f1 | while read -r f; do cp "$f" "$OUT"/; done
}

step 200 benchmarks/bench_mle.py
step 240 benchmarks/grid_time.py
step 150 benchmarks/bench_sweep.py
ls -l "$OUT"
