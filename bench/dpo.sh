#!/usr/bin/env bash
# End to end: one epoch of DPO on examples/models/tiny and all the pairs of
# examples/data/review_pairs.jsonl with `plumb run bench/dpo_bench.plumb` and with
# Hugging Face TRL's DPOTrainer (bench/dpo_trl.py, in bench/.venv), same settings,
# same thread count, in one run. Prints pairs per second for both, the ratio, and
# the two loss curves side by side; writes both curves to bench/results/dpo_losses.csv
# and .svg and the numbers to bench/results/dpo_summary.json.
# Usage: bench/dpo.sh [THREADS] [REPEATS]
# Each plumb run is in a fresh temporary project (its own plumb.toml, so an empty
# cache: the reference log-prob stage always runs). Timings: the median (and the
# best) of REPEATS runs of each, plumb and TRL alternating; before each run the
# script waits (up to 60 s) for a second in which the CPUs are at most 15% busy, as
# other processes on a shared machine skew the times (libtorch's and PyTorch's
# OpenMP threads slow down many times over when a third process takes a core).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
repeats=${2:-3}
root=$(pwd)
plumb=$root/target/release/plumb
python=bench/.venv/bin/python

if [ ! -x "$python" ]; then
    echo "== creating bench/.venv (PyTorch, about 2.7 GB, once)" >&2
    python3 -m venv bench/.venv
fi
if ! "$python" -c 'import torch, transformers, trl, datasets, accelerate' 2>/dev/null; then
    "$python" -m pip install -q -r bench/requirements.txt
fi
if command -v cargo >/dev/null; then
    cargo build --release --locked -q -p plumb-cli -p plumb-nn
fi
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TQDM_DISABLE=1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

quiet() {  # wait until the CPUs were at most 15% busy for a second (60 s at most)
    for _ in $(seq 1 60); do
        local a b
        a=$(head -1 /proc/stat); sleep 1; b=$(head -1 /proc/stat)
        python3 -c "
a, b = [list(map(int, s.split()[1:])) for s in ('$a', '$b')]
d = [y - x for x, y in zip(a, b)]
raise SystemExit(0 if (sum(d) - d[3] - d[4]) <= 0.15 * sum(d) else 1)" && return 0
    done
    echo "   (the machine stayed busy; timing anyway)" >&2
}

run_plumb() {  # $1: run index; a fresh project with the recipe, the data and the model
    local project=$work/plumb-$1
    mkdir -p "$project/bench" "$project/examples/data" "$project/examples/models"
    cp plumb.toml "$project/"
    cp bench/dpo_bench.plumb "$project/bench/"
    cp examples/data/review_pairs.jsonl "$project/examples/data/"
    cp -r examples/models/tiny "$project/examples/models/"
    local start end
    quiet
    start=$(date +%s.%N)
    (cd "$project" && "$plumb" run bench/dpo_bench.plumb --json --quiet --threads "$threads" > run.json)
    end=$(date +%s.%N)
    python3 - "$project" "$start" "$end" > "$work/plumb-$1.json" <<'PY'
import glob, json, sys
project, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
run = json.load(open(f"{project}/run.json"))
train = run["metrics"]["train.policy"]
stages = {s["name"]: s["seconds"] for s in run["stages"]}
[metrics] = glob.glob(f"{project}/runs/*/metrics.jsonl")
rows = [json.loads(l) for l in open(metrics) if l.strip()]
losses = [r["loss"] for r in rows if r.get("stage") == "train.policy" and "loss" in r]
print(json.dumps({
    "tool": "plumb", "pairs": train["examples"], "steps": train["steps"],
    "train_seconds": train["seconds"], "pairs_per_second": train["examples_per_second"],
    "ref_seconds": stages.get("ref_logprobs.prefs"), "stages": stages,
    "process_seconds": end - start, "pairs_per_second_process": train["examples"] / (end - start),
    "losses": losses,
}))
PY
    echo "   plumb run $1: train stage $(python3 -c "import json;d=json.load(open('$work/plumb-$1.json'));print(f\"{d['train_seconds']:.2f} s, ref stage {d['ref_seconds']:.2f} s, whole process {d['process_seconds']:.2f} s\")")" >&2
}

run_trl() {  # $1: output name, then dpo_trl.py options
    local name=$1
    shift
    quiet
    local start end
    start=$(date +%s.%N)
    "$python" bench/dpo_trl.py --threads "$threads" --out "$work/$name.json" "$@" > /dev/null 2> "$work/$name.err" \
        || { cat "$work/$name.err" >&2; exit 1; }
    end=$(date +%s.%N)
    # the whole python process: imports, loading, tokenising, precompute, training
    python3 -c 'import json, sys; p = sys.argv[1]; d = json.load(open(p)); d["process_seconds"] = float(sys.argv[3]) - float(sys.argv[2]); json.dump(d, open(p, "w"))' \
        "$work/$name.json" "$start" "$end"
    echo "   $name: $(python3 -c "import json;d=json.load(open('$work/$name.json'));print(f\"trainer.train() {d['train_seconds']:.2f} s\" + (f\", ref precompute {d['ref_precompute_seconds']:.2f} s\" if d['precompute_ref_log_probs'] else ''))")" >&2
}

echo "== $repeats runs each, $threads threads; load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for i in $(seq 1 "$repeats"); do
    run_plumb "$i"
    run_trl "trl-$i"
    run_trl "trl-noprecompute-$i" --no-precompute
done
run_trl trl-ownorder --order trl

echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg) (other processes on the machine skew the times)" >&2
mkdir -p bench/results
machine="$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores"
rustc=$(rustc --version 2>/dev/null || echo "rustc: n/a")
python3 - "$work" "$repeats" "$threads" "$machine" "$rustc" "$(git rev-parse --short HEAD 2>/dev/null || echo -)" <<'PY'
import json, statistics, sys
work, repeats, threads, machine, rustc, commit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
load = lambda name: json.load(open(f"{work}/{name}.json"))
plumb = [load(f"plumb-{i}") for i in range(1, repeats + 1)]
trl = [load(f"trl-{i}") for i in range(1, repeats + 1)]
noref = [load(f"trl-noprecompute-{i}") for i in range(1, repeats + 1)]
own = load("trl-ownorder")
med = lambda runs, key: statistics.median(r[key] for r in runs)

p_train, p_proc = med(plumb, "pairs_per_second"), med(plumb, "pairs_per_second_process")
t_train, t_with = med(trl, "pairs_per_second"), med(trl, "pairs_per_second_with_ref")
t_noref = med(noref, "pairs_per_second")
best = lambda runs, key: max(r[key] for r in runs)
print(f"\nDPO, one epoch, {plumb[0]['pairs']} pairs, batch 16, {plumb[0]['steps']} steps, {threads} threads; median of {repeats} runs")
for r in trl:
    r["with_ref_seconds"] = r["train_seconds"] + r["ref_precompute_seconds"]
print(f"{'':48} {'seconds':>8} {'pairs/s':>8} {'best pairs/s':>13}")
rows = [
    ("TRL: trainer.train() (ref log-probs precomputed)", med(trl, "train_seconds"), t_train, best(trl, "pairs_per_second")),
    (f"TRL: ref precompute ({plumb[0]['pairs']} pairs)", med(trl, "ref_precompute_seconds"), None, None),
    ("TRL: ref precompute + trainer.train()", med(trl, "with_ref_seconds"), t_with, best(trl, "pairs_per_second_with_ref")),
    ("TRL: trainer.train(), ref forward every step", med(noref, "train_seconds"), t_noref, best(noref, "pairs_per_second")),
    ("TRL: whole python process (imports included)", med(trl, "process_seconds"), None, None),
    ("plumb: train stage", med(plumb, "train_seconds"), p_train, best(plumb, "pairs_per_second")),
    (f"plumb: ref stage ({plumb[0]['pairs']} pairs)", med(plumb, "ref_seconds"), None, None),
    ("plumb: whole `plumb run` process", med(plumb, "process_seconds"), p_proc, best(plumb, "pairs_per_second_process")),
]
fmt = lambda r: "-" if r is None else f"{r:.1f}"
for label, s, r, b in rows:
    print(f"{label:<48} {s:8.2f} {fmt(r):>8} {fmt(b):>13}")
print(f"ratio, train loop: plumb train stage / TRL trainer.train() = {p_train / t_train:.2f}x")
print(f"ratio, with the reference pass: plumb whole process / TRL (precompute + train) = {p_proc / t_with:.2f}x")
print(f"ratio vs TRL without precompute: plumb train stage / TRL = {p_train / t_noref:.2f}x")
print(f"best-run ratios: train loop {best(plumb, 'pairs_per_second') / best(trl, 'pairs_per_second'):.2f}x, "
      f"with the reference pass {best(plumb, 'pairs_per_second_process') / best(trl, 'pairs_per_second_with_ref'):.2f}x")

pl, tl, ol = plumb[0]["losses"], trl[0]["losses"], own["losses"]
n = min(len(pl), len(tl))
diffs = [abs(pl[i] - tl[i]) for i in range(n)]
print(f"\nloss per step (same data order: dpo_trl.py replays plumb's shuffle, seed 42; last column: TRL's own sampler)")
print(f"{'step':>5} {'plumb':>10} {'TRL':>10} {'|diff|':>10} {'TRL own order':>14}")
for s in sorted(set([1] + list(range(10, n + 1, 10)) + [n])):
    i = s - 1
    print(f"{s:>5} {pl[i]:10.6f} {tl[i]:10.6f} {diffs[i]:10.2e} {ol[i]:14.6f}")
last = lambda xs: sum(xs[-10:]) / len(xs[-10:])
print(f"max |plumb - TRL| over all {n} steps: {max(diffs):.2e} (step {diffs.index(max(diffs)) + 1}); "
      f"TRL with the reference forward every step: {max(abs(a - b) for a, b in zip(pl, noref[0]['losses'])):.2e}")
print(f"mean loss of the last 10 steps: plumb {last(pl):.6f}, TRL {last(tl):.6f}, TRL own order {last(ol):.6f}")
print(f"mean loss over the epoch: plumb {sum(pl) / len(pl):.6f}, TRL {sum(tl) / len(tl):.6f}, TRL own order {sum(ol) / len(ol):.6f}")
same_runs = all(r["losses"] == pl for r in plumb), all(r["losses"] == tl for r in trl)
print(f"repeat runs bitwise equal: plumb {same_runs[0]}, TRL {same_runs[1]}")

with open("bench/results/dpo_losses.csv", "w") as f:
    f.write("step,plumb,trl,trl_own_order\n")
    for i in range(n):
        f.write(f"{i + 1},{pl[i]:.9f},{tl[i]:.9f},{ol[i]:.9f}\n")

# A hand-written SVG of the three curves.
W, H, L, R, T, B = 640, 360, 60, 20, 30, 40
lo = min(pl + tl + ol); hi = max(pl + tl + ol)
pad = (hi - lo) * 0.05
lo, hi = lo - pad, hi + pad
x = lambda s: L + (s - 1) / max(n - 1, 1) * (W - L - R)
y = lambda v: T + (hi - v) / (hi - lo) * (H - T - B)
def path(values, color, width, dash=""):
    d = " ".join(f"{'M' if i == 0 else 'L'}{x(i + 1):.1f},{y(v):.1f}" for i, v in enumerate(values[:n]))
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<path d="{d}" fill="none" stroke="{color}" stroke-width="{width}"{extra}/>'
parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{L}" y="18">DPO loss per step: plumb run vs TRL DPOTrainer ({n} steps, batch 16)</text>']
for k in range(5):
    v = lo + (hi - lo) * k / 4
    parts.append(f'<line x1="{L}" x2="{W - R}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
    parts.append(f'<text x="{L - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.3f}</text>')
for s in sorted(set([1] + list(range(10, n + 1, 10)))):
    parts.append(f'<text x="{x(s):.1f}" y="{H - B + 16}" text-anchor="middle">{s}</text>')
parts.append(f'<text x="{(L + W - R) / 2}" y="{H - 6}" text-anchor="middle">step</text>')
parts.append(path(ol, "#999", 1.5, "4 3"))
parts.append(path(tl, "#d62728", 3))
parts.append(path(pl, "#1f77b4", 1.5))
for k, (label, color) in enumerate([("plumb", "#1f77b4"), ("TRL, same order", "#d62728"), ("TRL, own order", "#999")]):
    ly = H - B - 52 + 16 * k  # bottom left: the curves fall from the top left
    parts.append(f'<line x1="{L + 12}" x2="{L + 37}" y1="{ly}" y2="{ly}" stroke="{color}" stroke-width="2"/>')
    parts.append(f'<text x="{L + 42}" y="{ly + 4}">{label}</text>')
parts.append("</svg>")
open("bench/results/dpo_losses.svg", "w").write("\n".join(parts) + "\n")

summary = {
    "machine": machine, "threads": threads, "repeats": repeats, "commit": commit,
    "versions": {**trl[0]["versions"], "rustc": rustc, "libtorch (plumb)": "2.13.0"},
    "plumb": {"train_pairs_per_second": p_train, "process_pairs_per_second": p_proc,
              "train_seconds": [r["train_seconds"] for r in plumb], "ref_seconds": [r["ref_seconds"] for r in plumb],
              "process_seconds": [r["process_seconds"] for r in plumb]},
    "trl": {"train_pairs_per_second": t_train, "with_ref_precompute_pairs_per_second": t_with,
            "no_precompute_pairs_per_second": t_noref,
            "train_seconds": [r["train_seconds"] for r in trl],
            "ref_precompute_seconds": [r["ref_precompute_seconds"] for r in trl],
            "process_seconds": [r["process_seconds"] for r in trl],
            "no_precompute_train_seconds": [r["train_seconds"] for r in noref]},
    "best": {"plumb_train": best(plumb, "pairs_per_second"), "plumb_process": best(plumb, "pairs_per_second_process"),
             "trl_train": best(trl, "pairs_per_second"), "trl_with_ref": best(trl, "pairs_per_second_with_ref"),
             "trl_no_precompute": best(noref, "pairs_per_second")},
    "ratio_train": p_train / t_train, "ratio_with_ref": p_proc / t_with, "ratio_vs_no_precompute": p_train / t_noref,
    "loss_max_abs_diff": max(diffs),
    "loss_last10_mean": {"plumb": last(pl), "trl": last(tl), "trl_own_order": last(ol)},
}
open("bench/results/dpo_summary.json", "w").write(json.dumps(summary, indent=1) + "\n")
print(f"\nwrote bench/results/dpo_losses.csv, dpo_losses.svg, dpo_summary.json")
print(f"machine: {machine}; {rustc}; trl {trl[0]['versions']['trl']}, transformers {trl[0]['versions']['transformers']}, "
      f"torch {trl[0]['versions']['torch']} (TRL side), libtorch 2.13.0 (plumb side)")
PY
