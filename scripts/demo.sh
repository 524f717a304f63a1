#!/usr/bin/env bash
# Builds plumb and runs the quickstart: DPO on the embedded tiny model with
# shipped preference pairs, ending with an eval where the judge prefers the
# trained policy; then shows the cache (a second run, and a beta change that
# re-runs training but not the reference log-probs), the diagnostics for a
# recipe with late-failure bugs, loss evaluation, ranking, and the model commands.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
    echo "error: cargo is not installed; install Rust 1.95 (https://rustup.rs) first" >&2
    exit 1
fi
./scripts/setup-libtorch.sh
cargo build --release --locked -p plumb-cli -p plumb-nn
plumb=target/release/plumb

echo "== plumb check examples"
"$plumb" check examples
echo
echo "== plumb run examples/quickstart.plumb   (DPO on the tiny policy; a few minutes the first time)"
"$plumb" run examples/quickstart.plumb
echo
echo "== the same run again: every stage comes from the cache"
"$plumb" run examples/quickstart.plumb --quiet
echo
echo "== beta = 0.2 instead of 0.1: training and eval re-run, the reference log-probs do not"
"$plumb" status examples/quickstart.plumb --set train.policy.beta=0.2 || true
"$plumb" run examples/quickstart.plumb --set train.policy.beta=0.2 --quiet
echo
echo "== plumb check tests/ui/demo_mistakes.plumb (a recipe with late-failure bugs)"
"$plumb" check tests/ui/demo_mistakes.plumb || true
echo
echo "== plumb eval-loss: DPO and IPO on four rows of model log-probabilities, with gradients"
"$plumb" eval-loss dpo --param beta=0.1 --input examples/data/dpo_rows.jsonl
"$plumb" eval-loss ipo --input examples/data/dpo_rows.jsonl --json
echo
echo "== plumb dump ir: the compute graph of a custom loss and its gradient"
"$plumb" dump ir examples/custom_loss.plumb | head -40
echo
echo "== plumb rank: a leaderboard from pairwise votes, with bootstrap intervals"
"$plumb" rank examples/data/votes.csv --l2 0.1 --bootstrap 200 --seed 1
echo
echo "== the embedded tiny policy (examples/models/tiny) writes reviews; the judge prefers positive ones"
"$plumb" generate --model examples/models/tiny --prompt "The kettle" --n 3 --seed 3 --max-new 40
echo
echo "== plumb logprobs and plumb score: two shipped preference pairs under the policy and the reward model"
head -2 examples/data/review_pairs.jsonl | sed 's/"rejected":.*/}/; s/"chosen"/"completion"/; s/,}/}/' > target/demo_rows.jsonl
"$plumb" logprobs --model examples/models/tiny --input target/demo_rows.jsonl
"$plumb" score --model examples/models/tiny-rm --input target/demo_rows.jsonl --json
echo
echo "== plumb explain P0305"
"$plumb" explain P0305
