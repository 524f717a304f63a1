#!/usr/bin/env bash
# Fits Bradley-Terry on the same synthetic votes with `plumb rank`, choix and
# scikit-learn in one run (CSV parsing included everywhere), checks that they
# agree, and prints the times and ratios. Usage: bench/ratings.sh [ITEMS] [VOTES]
set -euo pipefail
cd "$(dirname "$0")/.."
items=${1:-1000}
votes=${2:-1000000}
if [ ! -x bench/.venv/bin/python ]; then
    python3 -m venv bench/.venv
fi
bench/.venv/bin/python -c 'import choix, sklearn' 2>/dev/null || bench/.venv/bin/pip install -q choix==0.3.6 scikit-learn==1.9.1 scipy==1.17.1 numpy
cargo build --release --locked -q -p plumb-cli
cargo build --release --locked -q -p plumb-ratings --example synth_votes
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
target/release/examples/synth_votes "$items" "$votes" 1 > "$data/votes.csv"
start=$(date +%s.%N)
target/release/plumb rank "$data/votes.csv" --json > "$data/plumb.json"
end=$(date +%s.%N)
ours=$(python3 -c "print($end - $start)")
echo "plumb rank: ${ours}s for $votes votes among $items items (CSV parsing included)"
bench/.venv/bin/python bench/ratings_baselines.py "$data/votes.csv" "$data/plumb.json" | while read -r line; do
    python3 - "$line" "$ours" <<'PY'
import json, sys
r, ours = json.loads(sys.argv[1]), float(sys.argv[2])
print(f"{r['tool']:<28} {r['seconds']:8.3f} s  {r['seconds'] / ours:6.1f}x plumb's time  max |Δ ability| vs plumb {r['max_abs_diff']:.2e}")
PY
done
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
