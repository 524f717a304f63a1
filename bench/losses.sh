#!/usr/bin/env bash
# Times fused forward + backward of DPO-family losses and PPO-clip with `plumb bench`,
# the same computations in PyTorch eager (CPU, same thread count), and a memcpy of the
# same bytes, in one run; prints the ratios.
# Usage: [ROUNDS=3] bench/losses.sh [THREADS] [PLUMB_BINARY]
# Without cargo, give a prebuilt plumb; without bench/.venv, a system python that
# imports torch is used when there is one (as on a machine with PyTorch preinstalled).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-$(nproc)}
plumb=${2:-target/release/plumb}

python=bench/.venv/bin/python
if [ ! -x "$python" ]; then
    if python3 -c 'import torch' 2>/dev/null; then
        python=python3
    else
        echo "== creating bench/.venv with PyTorch (about 2.7 GB, once)" >&2
        python3 -m venv bench/.venv
        bench/.venv/bin/pip install -q -r bench/requirements.txt
    fi
fi
if command -v cargo >/dev/null && [ -z "${2:-}" ]; then
    cargo build --release --locked -q -p plumb-cli
fi
echo "== PyTorch $("$python" -c 'import torch; print(torch.__version__)')" >&2

printf '%-10s %10s %8s %12s %12s %12s %10s %10s\n' loss rows tokens plumb_ms torch_ms floor_ms vs_torch vs_floor
# Each case is measured in ROUNDS alternating rounds (plumb, then PyTorch and the
# floor), and each column is the median over the rounds: this VM's speed drifts
# over seconds, and alternating keeps a slow stretch from landing on one side.
rounds=${ROUNDS:-3}
run() {
    local loss=$1 rows=$2 tokens=${3:-}
    local extra=()
    [ -n "$tokens" ] && extra=(--tokens "$tokens")
    local results=()
    for _ in $(seq "$rounds"); do
        results+=("$("$plumb" bench "$loss" --rows "$rows" "${extra[@]}" --threads "$threads" --runs 7 --json)")
        results+=("$("$python" bench/losses_torch.py --loss "$loss" --rows "$rows" ${tokens:+--tokens "$tokens"} --threads "$threads")")
    done
    python3 - "$loss" "$rows" "${tokens:--}" "${results[@]}" <<'PY'
import json, statistics, sys
loss, rows, tokens, *results = sys.argv[1:]
results = [json.loads(r) for r in results]
ours, theirs = results[0::2], results[1::2]
p = statistics.median(r["median_ms"] for r in ours)
t = statistics.median(r["torch_ms"] for r in theirs)
f = statistics.median(r["floor_ms"] for r in theirs)
print(f"{loss:<10} {rows:>10} {tokens:>8} {p:>12.3f} {t:>12.3f} {f:>12.3f} {t / p:>9.2f}x {p / f:>9.2f}x")
PY
}
for rows in 1000000 10000000; do
    for loss in dpo ipo simpo; do
        run "$loss" "$rows"
    done
done
run ppo_clip 512 2048
echo "threads: $threads; rounds: $rounds; machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
echo "vs_torch = PyTorch eager time / plumb time (higher is better); vs_floor = plumb time / memcpy time (lower is better)"
