#!/usr/bin/env bash
# Rebuilds the embedded default models (examples/models/tiny, examples/models/tiny-rm)
# and the demo data (examples/data/{review_pairs,prompts,feedback}.jsonl) from the
# review corpus of plumb-judge: about two minutes on two cores. See docs/models.md.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup-libtorch.sh
cargo build --release --locked -p plumb-nn
target/release/plumb-nn make-default-models --out examples/models --data examples/data "$@"
