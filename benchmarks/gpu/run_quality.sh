#!/usr/bin/env bash
# The quality benchmark's arms on the lent GPU machine (issue 12: "run the benchmark's arms
# there too"): every search and retraining trains on CUDA, several processes sharing the GPU.
#
#   bash benchmarks/gpu/run_quality.sh OUT_DIR [ARMS] [SEEDS] [JOBS] [LIMIT_S]
#
# Writes OUT_DIR/quality.{json,md} and OUT_DIR/env.txt; a run stopped at LIMIT_S seconds keeps
# OUT_DIR/quality.partial.json (its searches) and OUT_DIR/run.log. lrsearch's missing
# dependencies travel as wheels in .whl/ (see the device tool's README).
set -uo pipefail
out=${1:?usage: run_quality.sh OUT_DIR [ARMS] [SEEDS] [JOBS] [LIMIT_S]}
arms=${2:-defaults,schedule-pruner,plain-optuna}
seeds=${3:-5}
jobs=${4:-8}
limit=${5:-420}
mkdir -p "$out"
py=${PYTHON:-python3}
{
    date -u +%Y-%m-%dT%H:%M:%SZ
    $py -c "import torch, platform; print('python', platform.python_version(), 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
    echo "cpus $(nproc); arms $arms; seeds $seeds; jobs $jobs; limit ${limit}s"
} | tee "$out/env.txt"
timeout "$limit" $py -m benchmarks.quality --device cuda --arms "$arms" --seeds "$seeds" \
    --jobs "$jobs" --out "$out" > "$out/run.log" 2>&1
rc=$?
echo "exit $rc" | tee -a "$out/env.txt"
tail -40 "$out/run.log"
exit $rc
