#!/usr/bin/env bash
# Every GPU figure from one command on the device (README, "GPU benchmarks"):
#   bash bench/gpu/run.sh                      # the device: the kit carried in gpu-kit/, tables under $OUT
#   bash bench/gpu/run.sh --device cpu --quick # the rehearsal here (make gpu-rehearsal)
# Installs the kit's wheels into a temporary site folder (nothing from a registry), checks the GPU, then runs
# bench.gpu.run from the kit's copy of Chorus's code under a 6-minute limit.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
kit=${GPU_KIT:-$repo/gpu-kit}
python=${PYTHON:-python3}
case $python in */*) python=$(cd "$(dirname "$python")" && pwd)/$(basename "$python") ;; esac  # run from the kit
out=${OUT:-$(mktemp -d /tmp/chorus-gpu-out.XXXXXX)}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 TQDM_DISABLE=1
[ -f "$kit/MANIFEST.json" ] || { echo "no kit at $kit: run make gpu-kit and carry gpu-kit" >&2; exit 2; }
site=$(mktemp -d /tmp/chorus-site.XXXXXX)
"$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check \
	--target "$site" "$kit"/wheels/*.whl
export PYTHONPATH="$site:$kit/chorus"
device=cuda
for arg in "$@"; do [ "$arg" = cpu ] && device=cpu; done
if [ "$device" = cuda ]; then
	nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
	"$python" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else "torch sees no CUDA device")'
fi
cd "$kit/chorus"
set +e
timeout 360 "$python" -m bench.gpu.run --inputs "$kit/inputs/kokoro_inputs.json" --out "$out" "$@" 2>&1 | tee "$out/run.log"
status=${PIPESTATUS[0]}
rm -rf "$site"
echo "tables and gpu_figures.json in $out (exit $status)"
exit "$status"
