#!/usr/bin/env bash
# The GPU check of issue 11: a command trial (examples/cifar_like) and a function trial
# (examples/lightning) searched on the agent's GPU, and the same searches on the CPU, timed.
#
#   bash benchmarks/gpu/run_trials.sh OUT_DIR [DEVICE]     # DEVICE: cuda (default) or cpu
#
# On the lent GPU machine (no package index there) lrsearch's missing dependencies travel as
# wheels in .whl/ (see the device tool's README); here it runs with the project's .venv.
set -euo pipefail
out=${1:?usage: run_trials.sh OUT_DIR [DEVICE]}
device=${2:-cuda}
mkdir -p "$out"
py=${PYTHON:-python3}
work=$(mktemp -d)
{
    echo "# lrsearch trials on $device"
    date -u +%Y-%m-%dT%H:%M:%SZ
    $py -c "import torch, platform; print('python', platform.python_version(), 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
    nproc
} | tee "$out/env-$device.txt"

search() {  # name spec trials
    local name=$1 spec=$2 trials=$3
    sed -e "s/^trials = .*/trials = $trials/" -e "s/^name = .*/name = \"$name-$device\"/" "$spec" > "$work/$name.toml"
    local start
    start=$(date +%s)
    $py -m lrsearch search "$work/$name.toml" --workers 1 --device "$device" \
        --storage "sqlite:///$work/db.sqlite" > "$out/$name-$device.log" 2>&1 || {
        echo "$name on $device failed:"; tail -30 "$out/$name-$device.log"; return 1; }
    echo "$name $device trials=$trials wall_s=$(( $(date +%s) - start ))" | tee -a "$out/summary-$device.txt"
    grep -E "complete|best|trial [0-9]+ " "$out/$name-$device.log" | head -20 || true
}

search cifar-like examples/cifar_like/spec.toml 6
search lightning examples/lightning/spec.toml 6
$py -m lrsearch studies --storage "sqlite:///$work/db.sqlite" | tee -a "$out/summary-$device.txt"
