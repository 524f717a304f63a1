"""The TRL side of bench/dpo.sh: one epoch of DPO with Hugging Face TRL's
DPOTrainer on the model folder and preference pairs that bench/dpo_bench.plumb
trains with `plumb run`, with the same hyperparameters, on the CPU.

Settings (those of the plumb recipe): all rows of the pairs file (no split),
beta 0.1, sigmoid loss, AdamW (lr 1e-4 constant, no warmup, weight decay 0,
betas 0.9/0.999, eps 1e-8), max_grad_norm 1.0, 16 pairs per step, one epoch,
float32, no eval, no saving, logging every step, `torch.set_num_threads(THREADS)`.

Tokenisation is made to match plumb's (docs/models.md): prompt and completion
are tokenised separately without special tokens and concatenated; no EOS is
appended to the completions; no truncation. TRL's own preprocessing
(`DPOTrainer._prepare_dataset`) appends EOS to every chosen/rejected text and
tokenises prompt + completion as one string, so it is replaced here
(`PlumbTokenisedDPOTrainer`); the collator, the loss and the training loop are
TRL's.

Data order: with `--order plumb` (the default) the rows are visited in the
order of plumb's seeded shuffle for the same seed (xoshiro256** seeded by
SplitMix64, Fisher-Yates; a copy of crates/plumb-model/src/rng.rs and
`epoch_order` in crates/plumb-nn/src/train.rs), so the two loss curves see the
same batches step by step; `--order trl` keeps the Trainer's own random sampler.

Prints one JSON object (and writes it to --out): pairs per second over the
training wall time (`trainer.train()`, model loading and tokenisation
excluded), the reference log-prob precompute time (measured separately; a
second rate includes it), and the per-step losses.
"""
import argparse
import json
import os
import sys
import tempfile
import time

# Nothing is fetched from a hub; datasets' cache goes to a fresh folder so no
# precomputed reference log-probs survive from an earlier run.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
_CACHE = tempfile.mkdtemp(prefix="dpo_trl_")
os.environ["HF_DATASETS_CACHE"] = os.path.join(_CACHE, "datasets")
os.environ["HF_HOME"] = os.path.join(_CACHE, "hf")

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from torch.utils.data import SequentialSampler  # noqa: E402
from transformers import (  # noqa: E402
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    TrainerCallback,
)
import transformers  # noqa: E402
import trl  # noqa: E402
from trl import DPOConfig, DPOTrainer  # noqa: E402

MASK = (1 << 64) - 1


def _splitmix(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return x, z ^ (z >> 31)


def _rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


class PlumbRng:
    """plumb_model::Rng: xoshiro256** seeded by SplitMix64."""

    def __init__(self, seed):
        x = seed & MASK
        self.s = []
        for _ in range(4):
            x, z = _splitmix(x)
            self.s.append(z)

    @classmethod
    def stream(cls, seed, index):
        x = (seed ^ ((index * 0xD1B54A32D192ED03) & MASK)) & MASK
        _, z = _splitmix(x)
        return cls(z)

    def next_u64(self):
        s = self.s
        result = (_rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 45)
        return result

    def below(self, n):
        return (self.next_u64() * n) >> 64

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]


def plumb_epoch_order(seed, epoch, n):
    """crates/plumb-nn/src/train.rs `epoch_order`."""
    order = list(range(n))
    PlumbRng.stream(seed, epoch).shuffle(order)
    return order


class PlumbTokenisedDPOTrainer(DPOTrainer):
    """DPOTrainer whose preprocessing tokenises as plumb does (see the module docstring)."""

    order = "plumb"
    precompute_seconds = 0.0

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        def tokenize(example):
            encode = lambda text: processing_class(text, add_special_tokens=False)["input_ids"]  # noqa: E731
            return {
                "prompt_ids": encode(example["prompt"]),
                "chosen_ids": encode(example["chosen"]),
                "rejected_ids": encode(example["rejected"]),
            }

        return dataset.map(tokenize, remove_columns=dataset.column_names)

    def _precompute_ref_logps(self, dataset, name, batch_size):
        start = time.perf_counter()
        out = super()._precompute_ref_logps(dataset, name, batch_size)
        type(self).precompute_seconds += time.perf_counter() - start
        return out

    def _get_train_sampler(self, train_dataset=None):
        if self.order == "plumb":
            return SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)
        return super()._get_train_sampler(train_dataset)


class StepLosses(TrainerCallback):
    def __init__(self):
        self.rows = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs and "train_runtime" not in logs:
            self.rows.append({"step": state.global_step, **{k: float(v) for k, v in logs.items()}})


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.path.join(root, "examples/models/tiny"))
    parser.add_argument("--data", default=os.path.join(root, "examples/data/review_pairs.jsonl"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42, help="the plumb recipe's train seed (data order)")
    parser.add_argument("--order", choices=["plumb", "trl"], default="plumb")
    parser.add_argument("--no-precompute", dest="precompute", action="store_false",
                        help="reference forward at every step instead of precomputed log-probs")
    parser.add_argument("--out", help="write the JSON here too")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    load_start = time.perf_counter()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=os.path.join(args.model, "tokenizer.json"),
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )
    model = LlamaForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    with open(args.data) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    rows = [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in rows]
    if args.order == "plumb":
        rows = [rows[i] for i in plumb_epoch_order(args.seed, 0, len(rows))]
    dataset = Dataset.from_list(rows)

    config = DPOConfig(
        output_dir=os.path.join(_CACHE, "out"),
        num_train_epochs=1,
        per_device_train_batch_size=16,
        gradient_accumulation_steps=1,
        learning_rate=1e-4,
        lr_scheduler_type="constant",
        warmup_steps=0,
        optim="adamw_torch",
        weight_decay=0.0,
        adam_beta1=0.9,
        adam_beta2=0.999,
        adam_epsilon=1e-8,
        max_grad_norm=1.0,
        beta=0.1,
        loss_type=["sigmoid"],
        precompute_ref_log_probs=args.precompute,
        max_length=None,  # no truncation (TRL's default is 1024 tokens)
        activation_checkpointing=False,  # TRL's default (as `gradient_checkpointing`) is True
        bf16=False,  # TRL's default is True where fp16 is not set: keep float32
        fp16=False,
        use_cpu=True,
        logging_steps=1,
        eval_strategy="no",
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=args.seed,
        data_seed=args.seed,
    )
    PlumbTokenisedDPOTrainer.order = args.order
    losses = StepLosses()
    init_start = time.perf_counter()
    trainer = PlumbTokenisedDPOTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[losses],
    )
    init_seconds = time.perf_counter() - init_start
    load_seconds = init_start - load_start

    # The tokenisation really is plumb's: no EOS, no special tokens, nothing cut.
    first = trainer.train_dataset[0]
    eos = tokenizer.eos_token_id
    completions = list(trainer.train_dataset["chosen_ids"]) + list(trainer.train_dataset["rejected_ids"])
    assert all(eos not in ids for ids in completions)
    assert not config.gradient_checkpointing and not config.bf16
    assert first["chosen_ids"] == tokenizer(rows[0]["chosen"], add_special_tokens=False)["input_ids"]

    train_start = time.perf_counter()
    output = trainer.train()
    train_seconds = time.perf_counter() - train_start

    pairs = len(dataset) * int(config.num_train_epochs)
    precompute = PlumbTokenisedDPOTrainer.precompute_seconds
    result = {
        "tool": "trl",
        "versions": {
            "trl": trl.__version__,
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "python": sys.version.split()[0],
        },
        "threads": args.threads,
        "order": args.order,
        "precompute_ref_log_probs": args.precompute,
        "pairs": pairs,
        "steps": output.global_step,
        "train_seconds": train_seconds,
        "trainer_train_runtime": output.metrics.get("train_runtime"),
        "ref_precompute_seconds": precompute,
        "init_seconds": init_seconds,
        "load_seconds": load_seconds,
        "pairs_per_second": pairs / train_seconds,
        "pairs_per_second_with_ref": pairs / (train_seconds + precompute),
        "loss_first": losses.rows[0]["loss"] if losses.rows else None,
        "loss_last": losses.rows[-1]["loss"] if losses.rows else None,
        "losses": [r["loss"] for r in losses.rows],
        "steps_log": losses.rows,
    }
    text = json.dumps(result)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
