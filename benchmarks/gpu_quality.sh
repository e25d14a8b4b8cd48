#!/usr/bin/env bash
# Time to quality on a CUDA GPU: first the CUDA-graph tests (tests/test_graphs.py), then
# where a step's time goes (bench_step.py, graphs on and off; profile_step.py), then
# bench_quality.py at 512 px (all five recipes, the report's 4000 steps run in full, the
# reference in bf16 too) and 384 px, then the other device-sensitive unit tests (SKIP_TESTS=1:
# no tests). One short run (about 3 minutes on an H200), made for a lent GPU machine that has
# torch but not this package installed, and no network:
#
#   TORCH_HOME=<folder holding hub/checkpoints/hed_vgg16_bsds500-*.pth> OUT=<results> \
#       bash benchmarks/gpu_quality.sh
#
# The converted HED weights come from torch's hub cache of a machine where `make venv` ran
# (~/.cache/torch/hub/checkpoints/); results (log, JSON, plot, pictures) go to $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-outputs/gpu}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 NST_WEIGHTS=hed
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
TESTS="NST_WEIGHTS=random NST_QUICK=1 MPLBACKEND=Agg NST_TESTING=1"
if [ "${SKIP_TESTS:-0}" != 1 ]; then
    env $TESTS timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_graphs.py 2>&1 \
        | tail -n 25 | tee "$OUT/pytest_graphs.log"
    echo "pytest graphs rc=${PIPESTATUS[0]}"
fi
{ NST_WEIGHTS=random timeout 120 python3 benchmarks/bench_step.py --device cuda --size 512 \
      --steps 100
  timeout 90 python3 benchmarks/profile_step.py --device cuda --size 512 --steps 40 --rows 12
} 2>&1 | tee "$OUT/gpu_step.log"
timeout "${BENCH_TIMEOUT:-420}" python3 benchmarks/bench_quality.py --device cuda \
    --sizes 512,384 --curves 512 --auto-reference --json "$OUT/gpu_quality.json" \
    --plot "$OUT/time_to_quality_cuda.png" --save-images "$OUT/img" 2>&1 | tee "$OUT/gpu_quality.log"
echo "bench_quality rc=${PIPESTATUS[0]}"
[ "${SKIP_TESTS:-0}" = 1 ] && exit 0
env $TESTS timeout "${TEST_TIMEOUT:-120}" python3 -m pytest -q -p no:cacheprovider -x \
    tests/test_devices.py tests/test_stylize.py tests/test_memory.py 2>&1 | tail -n 25 | tee "$OUT/pytest.log"
echo "pytest rc=${PIPESTATUS[0]}"
