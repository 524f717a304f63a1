//! The table of diagnostic codes: title, explanation, and a wrong and a right example each.

use crate::codes::CodeInfo;

// Generated content: the registry of diagnostic codes, included by codes.rs.
pub static CODES: &[CodeInfo] = &[
    CodeInfo {
        code: "P0001",
        title: "binary or non-text file",
        explanation: r#"The file contains a NUL byte or bytes that are not valid UTF-8, so it is not a recipe at all (often a data file, a checkpoint, or a recipe saved as UTF-16 passed to `plumb check` by mistake). Plumb reads recipes as UTF-8 text and stops before parsing, rather than reporting hundreds of meaningless syntax errors. Save the recipe as UTF-8, or point `plumb check` at the `.plumb` file instead of the data."#,
        wrong: r#"# a file that contains a NUL byte, or bytes that are not valid UTF-8
# (e.g. a recipe saved as UTF-16, or a .parquet file passed to `plumb check`)
"#,
        right: r#"# the same recipe saved as plain UTF-8 text
"#,
    },
    CodeInfo {
        code: "P0002",
        title: "syntax error",
        explanation: r#"The parser met a token that cannot continue the item, for example a missing comma between arguments, a binary operator at the start of a line, or a space between a function and its `(`. Plumb reports syntax errors per item, so one broken item does not hide the diagnostics of the others, and nothing is run until the recipe parses. Read the "expected ..." list in the message, and remember the newline rule: an operator ends a line, it never starts one."#,
        wrong: r#"use std.data.{Pairwise, jsonl, split}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise
let parts = split(prefs, holdout = 0.1
    seed = 7)

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on parts.train {
    loss = dpo(beta = 0.1)
    batch = 16
}
"#,
        right: r#"use std.data.{Pairwise, jsonl, split}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise
let parts = split(prefs, holdout = 0.1,
    seed = 7)

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on parts.train {
    loss = dpo(beta = 0.1)
    batch = 16
}
"#,
    },
    CodeInfo {
        code: "P0003",
        title: "brackets nested too deeply",
        explanation: r#"An item nests `(`, `[` and `{` more than 64 levels deep. Such a recipe is almost always generated or corrupted, and parsing it could exhaust the stack, so Plumb refuses the item before parsing it. Split the expression into `let` bindings, each of a reasonable depth."#,
        wrong: r#"# an item whose brackets nest more than 64 levels deep, e.g.
# let x = ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1))))...
"#,
        right: r#"# the same computation split into `let` bindings:
# let a = (1 + 2) * 3
# let b = (a + 4) * 5
"#,
    },
    CodeInfo {
        code: "P0004",
        title: "expression nested too deeply",
        explanation: r#"An expression is more than 200 levels deep, for example a chain of hundreds of prefix minus signs or a generated formula. Deep expression trees would make every later pass (type checking, differentiation, lowering) recurse too far, so Plumb rejects them when the tree is built. Split the expression into `let` bindings, or sum long lists with a reduction such as `sum(x, over = batch)`."#,
        wrong: r#"# an expression nested more than 200 levels deep, e.g. 201 prefix minus signs:
# let x = - - - - - ... - 1
"#,
        right: r#"# the same value computed in steps with `let` bindings, or with a reduction:
# let total = sum(x, over = batch)
"#,
    },
    CodeInfo {
        code: "P0005",
        title: "invalid escape in a string",
        explanation: r#"A string contains a backslash escape that Plumb does not know, such as `\p` in a Windows path, or a malformed `\u{...}`. Silently keeping or dropping the backslash would open a different file than the one you meant (and fail only when the data loader runs), so it is an error. Use forward slashes in paths, or write the escape correctly: `\n`, `\t`, `\r`, `\0`, `\\`, `\"` or `\u{1F600}`."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data\pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
    },
    CodeInfo {
        code: "P0007",
        title: "number out of range",
        explanation: r#"A number literal does not fit: an integer larger than a 64-bit integer, or a float that overflows to infinity (such as `1e400`). Passing such a value on would wrap around or become `inf` in the trainer's config and fail, or silently misbehave, deep inside a run. Write a value that fits in i64 (integers) or a finite f64 (floats)."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
    seed = 123456789012345678901234567890
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
    seed = 1234567
}
"#,
    },
    CodeInfo {
        code: "P0008",
        title: "empty file",
        explanation: r#"The file is empty or contains only whitespace. An empty recipe describes no pipeline, and is usually a file truncated by an editor or a failed generation step, so it is reported rather than silently accepted. Write at least one item, or delete the file."#,
        wrong: r#"# a .plumb file with no content, or only spaces and newlines
"#,
        right: r#"# a file with at least one item, e.g. a complete recipe with `use`, `model` and `train`
"#,
    },
    CodeInfo {
        code: "P0009",
        title: "file too large",
        explanation: r#"The file is larger than 8 MiB, the most a recipe may be. Recipes describe pipelines; a file this size almost always has data pasted into it, which belongs in a data file. Keep rows in jsonl, csv or parquet files and load them with `jsonl(path) as Schema`."#,
        wrong: r#"# a recipe of more than 8 MiB, e.g. with thousands of examples pasted into it
"#,
        right: r#"# the examples moved to data/pairs.jsonl and loaded with:
# let prefs = jsonl("data/pairs.jsonl") as Pairwise
"#,
    },
    CodeInfo {
        code: "P0101",
        title: "name not found",
        explanation: r#"A name is used that is not defined in the recipe, not imported with `use`, and not in the prelude (`std.math`). Plumb resolves every name before anything runs, so a typo or a missing import fails here instead of as a Python `NameError` or a wrong default halfway through a job. Import the name (the help says from which module), define it, or fix the spelling; inside a loss, the names in scope are the parameters, the columns of the `on` schema, `policy`, `reference` and the prelude."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
    },
    CodeInfo {
        code: "P0102",
        title: "name defined more than once",
        explanation: r#"Two top-level items (or an item and an import) define the same name. Later stages would silently use one of them, for example training on the held-out set because a second `let` reused the name, so Plumb requires each top-level name to be defined once per file. Rename one of them."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo
use std.metrics.reward_accuracy

let prefs = jsonl("data/train_pairs.jsonl") as Pairwise
let prefs = jsonl("data/test_pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}

eval policy on prefs { reward_accuracy() }
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo
use std.metrics.reward_accuracy

let prefs = jsonl("data/train_pairs.jsonl") as Pairwise
let test_prefs = jsonl("data/test_pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}

eval policy on test_prefs { reward_accuracy() }
"#,
    },
    CodeInfo {
        code: "P0103",
        title: "unknown module",
        explanation: r#"A `use` names a module that does not exist. The stdlib modules are `std.data`, `std.models`, `std.losses`, `std.train`, `std.pipeline`, `std.metrics`, `std.ratings` and `std.math`; anything else is a typo or a file that should be imported by path. Fix the module name (the help suggests the closest one), or import a file of your own with `use "path.plumb".{name}`."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.loss.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
    },
    CodeInfo {
        code: "P0104",
        title: "name not defined in the imported module",
        explanation: r#"A `use` asks a module or file for a name it does not define, often a name from another trainer (TRL's `sft`, `sigmoid`) or a typo. Plumb checks imports before anything runs, so the recipe cannot start with a loss that does not exist. Import a name the module defines (the help lists the closest one); for example supervised fine-tuning is `std.losses.nll`."#,
        wrong: r#"use std.data.{Pointwise, jsonl}
use std.models.causal_lm
use std.losses.sft

let demos = jsonl("data/demos.jsonl") as Pointwise

model policy = causal_lm("models/tiny")

train policy on demos {
    loss = sft()
}
"#,
        right: r#"use std.data.{Pointwise, jsonl}
use std.models.causal_lm
use std.losses.nll

let demos = jsonl("data/demos.jsonl") as Pointwise

model policy = causal_lm("models/tiny")

train policy on demos {
    loss = nll()
}
"#,
    },
    CodeInfo {
        code: "P0105",
        title: "imported file not found",
        explanation: r#"A `use "path.plumb"` names a file that cannot be found or read. Paths are relative to the directory of the importing file, not to the current working directory, so a recipe that works from one directory does not break when launched from another. Fix the path, create the file, or define the item in the recipe itself."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use "lib/my_losses.plumb".{margin_dpo}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = margin_dpo(beta = 0.1)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}

/// DPO with a target margin: -log σ(β·Δ - γ).
loss margin_dpo(beta: f32 > 0 = 0.1, gamma: f32 >= 0 = 0.5) on Pairwise {
    let rho_c = policy.logp(chosen | prompt) - reference.logp(chosen | prompt)
    let rho_r = policy.logp(rejected | prompt) - reference.logp(rejected | prompt)
    -log_sigmoid(beta * (rho_c - rho_r) - gamma)
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = margin_dpo(beta = 0.1)
}
"#,
    },
    CodeInfo {
        code: "P0106",
        title: "file imports itself",
        explanation: r#"A recipe imports its own path with `use "..."`. The file's own names are already in scope, and a self-import would make name resolution circular, so it is rejected. Remove the `use`."#,
        wrong: r#"// saved as recipe.plumb
use std.data.{Pairwise, jsonl}
use std.models.causal_lm
use "recipe.plumb".{simple_loss}

loss simple_loss(beta: f32 > 0 = 1.0) on Pairwise {
    -log_sigmoid(beta * (policy.logp(chosen | prompt) - policy.logp(rejected | prompt)))
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = simple_loss()
}
"#,
        right: r#"// saved as recipe.plumb
use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss simple_loss(beta: f32 > 0 = 1.0) on Pairwise {
    -log_sigmoid(beta * (policy.logp(chosen | prompt) - policy.logp(rejected | prompt)))
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = simple_loss()
}
"#,
    },
    CodeInfo {
        code: "P0107",
        title: "unused import",
        explanation: r#"A name is imported with `use` but never used. It is only a warning, but an unused loss or metric import often means the recipe does not do what its author intended (for example `ipo` imported but the stage still trains with `dpo`). Remove the name from the `use`, or use it."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.{dpo, ipo}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
    },
    CodeInfo {
        code: "P0109",
        title: "unknown schema",
        explanation: r#"A schema name (after `as`, or after `on` in a loss) is not defined or imported. Without the schema Plumb cannot check that the data has the columns the loss reads, which in TRL or OpenRLHF surfaces only as a `KeyError` when the first batch is collated. Import the schema (the standard ones are in `std.data`) or declare it with `schema`."#,
        wrong: r#"use std.data.jsonl
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
    },
    CodeInfo {
        code: "P0110",
        title: "no such field or column",
        explanation: r#"A field access names something the value does not have: a split has only `.train` and `.holdout`, and data has only the columns of its schema. Catching this at compile time avoids a `KeyError` on the dataset (for example asking for a `test` split that `train_test_split` never made) after models are already loaded. Use one of the names listed in the help."#,
        wrong: r#"use std.data.{Pairwise, jsonl, split}
use std.models.{causal_lm, frozen}
use std.losses.dpo
use std.metrics.reward_accuracy

let prefs = jsonl("data/pairs.jsonl") as Pairwise
let parts = split(prefs, holdout = 0.1)

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on parts.train {
    loss = dpo(beta = 0.1)
}

eval policy on parts.test { reward_accuracy() }
"#,
        right: r#"use std.data.{Pairwise, jsonl, split}
use std.models.{causal_lm, frozen}
use std.losses.dpo
use std.metrics.reward_accuracy

let prefs = jsonl("data/pairs.jsonl") as Pairwise
let parts = split(prefs, holdout = 0.1)

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on parts.train {
    loss = dpo(beta = 0.1)
}

eval policy on parts.holdout { reward_accuracy() }
"#,
    },
    CodeInfo {
        code: "P0112",
        title: "import names nothing",
        explanation: r#"A `use` names a source but nothing to import from it. Plumb has no wildcard imports: every name a recipe uses must be listed, so a reader can see where each loss and metric comes from. Name what to import: `use "lib.plumb".{my_loss}` or `use std.losses.dpo`."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use "lib/losses.plumb"

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
    },
    CodeInfo {
        code: "P0114",
        title: "definition depends on itself",
        explanation: r#"A `let` refers back to itself, directly or through other definitions, so its value can never be computed. A pipeline with a cycle has no order in which its stages could run, so Plumb rejects it instead of hanging or recursing at run time. Break the cycle: give the input its own name and derive the new value from it."#,
        wrong: r#"use std.data.{Pairwise, jsonl, split}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let parts = split(prefs, holdout = 0.1)
let prefs = parts.train

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl, split}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise
let parts = split(prefs, holdout = 0.1)

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on parts.train {
    loss = dpo(beta = 0.1)
}
"#,
    },
    CodeInfo {
        code: "P0115",
        title: "pipeline value used inside a loss",
        explanation: r#"A loss body refers to a top-level pipeline value (a `let`, `model`, `fit`, sampler or selector). A loss is a pure function of one batch: its parameters, the columns of its schema and the model roles; it is differentiated and run inside the training loop, where pipeline values do not exist. Pass the value in as a loss parameter and set it at the stage, e.g. `loss = my_loss(gamma = 0.5)`."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}

let target_margin = 0.5

loss margin_dpo(beta: f32 > 0 = 0.1) on Pairwise {
    let rho_c = policy.logp(chosen | prompt) - reference.logp(chosen | prompt)
    let rho_r = policy.logp(rejected | prompt) - reference.logp(rejected | prompt)
    -log_sigmoid(beta * (rho_c - rho_r) - target_margin)
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = margin_dpo(beta = 0.1)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}

loss margin_dpo(beta: f32 > 0 = 0.1, target_margin: f32 >= 0 = 0.0) on Pairwise {
    let rho_c = policy.logp(chosen | prompt) - reference.logp(chosen | prompt)
    let rho_r = policy.logp(rejected | prompt) - reference.logp(rejected | prompt)
    -log_sigmoid(beta * (rho_c - rho_r) - target_margin)
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = margin_dpo(beta = 0.1, target_margin = 0.5)
}
"#,
    },
    CodeInfo {
        code: "P0116",
        title: "extern function outside the stdlib",
        explanation: r#"A recipe declares an `extern fn`. Extern functions are built-ins whose implementation (and gradient) ships with Plumb's interpreter and backends; a declaration in a recipe has no implementation and would fail only when the stage runs. Use a prelude function, or write the math out in a `loss`."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

extern fn logistic_loss(x: f32) -> f32

loss pairwise(beta: f32 > 0 = 1.0) on Pairwise {
    logistic_loss(beta * (policy.logp(chosen | prompt) - policy.logp(rejected | prompt)))
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = pairwise()
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss pairwise(beta: f32 > 0 = 1.0) on Pairwise {
    -log_sigmoid(beta * (policy.logp(chosen | prompt) - policy.logp(rejected | prompt)))
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = pairwise()
}
"#,
    },
    CodeInfo {
        code: "P0120",
        title: "not a model",
        explanation: r#"A `train` or `eval` stage names something that is not a model in the model position (`train MODEL on DATA`), often data and model swapped. Plumb checks the roles of every stage before loading weights, so this cannot fail after minutes of model loading. Put a model declared with `model` first and the data after `on`."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train prefs on policy {
    loss = dpo(beta = 0.1)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
    },
    CodeInfo {
        code: "P0121",
        title: "model declared with let, or model item that is not a model",
        explanation: r#"Models must be declared with `model NAME = ...`, and a `model` item must be a model. The name of a `model` item is its role: Plumb tracks which models are trainable, frozen or scorers and binds `reference` from them, which a `let` would hide. Write `model policy = causal_lm(path)`, and use `let` for data and other values."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

let policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
    },
    CodeInfo {
        code: "P0201",
        title: "operator applied to the wrong type",
        explanation: r#"An operator is applied to values it does not work on: arithmetic on a text or a bool, `and`/`or` on numbers, `not` on a number, or an ordering comparison of texts. In PyTorch such a slip is a `TypeError` in the middle of the first training step, or worse a silent broadcast; Plumb types every loss before it runs. For texts use `len(text)` (token count) or a model call such as `policy.logp(text | prompt)`; turn a bool into a number with `if b { 1 } else { 0 }`."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss norm_pairwise(beta: f32 > 0 = 1.0) on Pairwise {
    let a_c = policy.logp(chosen | prompt) / chosen
    let a_r = policy.logp(rejected | prompt) / rejected
    -log_sigmoid(beta * (a_c - a_r))
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = norm_pairwise()
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss norm_pairwise(beta: f32 > 0 = 1.0) on Pairwise {
    let a_c = policy.logp(chosen | prompt) / len(chosen)
    let a_r = policy.logp(rejected | prompt) / len(rejected)
    -log_sigmoid(beta * (a_c - a_r))
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = norm_pairwise()
}
"#,
    },
    CodeInfo {
        code: "P0202",
        title: "loss value is per token or per candidate",
        explanation: r#"The value of a loss body still has a `tok` (per-token) or `k` (per-candidate) dim, but a loss must give one number per example (or one per batch). Frameworks that accept a tensor here either crash on `backward()` ("grad can be implicitly created only for scalar outputs") or average over padding; Plumb makes you say how to reduce. Reduce the value explicitly, e.g. `mean(x, over = tok)` or `sum(x, over = tok)`."#,
        wrong: r#"use std.data.{Pointwise, jsonl}
use std.models.causal_lm

loss token_nll() on Pointwise {
    -policy.logp_tokens(completion | prompt)
}

let demos = jsonl("data/demos.jsonl") as Pointwise

model policy = causal_lm("models/tiny")

train policy on demos {
    loss = token_nll()
}
"#,
        right: r#"use std.data.{Pointwise, jsonl}
use std.models.causal_lm

loss token_nll() on Pointwise {
    -mean(policy.logp_tokens(completion | prompt), over = tok)
}

let demos = jsonl("data/demos.jsonl") as Pointwise

model policy = causal_lm("models/tiny")

train policy on demos {
    loss = token_nll()
}
"#,
    },
    CodeInfo {
        code: "P0203",
        title: "loss value is not a number",
        explanation: r#"The last expression of a loss body, its value, is not a number: here it is a bool (a comparison), which has no gradient. Such a loss would train nothing, or fail in `backward()`, so Plumb rejects it before anything runs. Make the value an f32, for example turn the comparison into a smooth margin loss with `log_sigmoid`."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss prefer_chosen() on Pairwise {
    policy.logp(chosen | prompt) > policy.logp(rejected | prompt)
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = prefer_chosen()
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss prefer_chosen() on Pairwise {
    -log_sigmoid(policy.logp(chosen | prompt) - policy.logp(rejected | prompt))
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = prefer_chosen()
}
"#,
    },
    CodeInfo {
        code: "P0204",
        title: "wrong number of arguments",
        explanation: r#"A call passes more positional arguments than the function has parameters, or leaves out a parameter that has no default. In Python the same mistake is a `TypeError` when the trainer or metric is built, often after the models are loaded. Pass every required parameter (the help names the missing ones) and no extra ones."#,
        wrong: r#"use std.data.{Pairwise, jsonl, split}
use std.models.{causal_lm, frozen}
use std.losses.dpo
use std.metrics.kl_to

let prefs = jsonl("data/pairs.jsonl") as Pairwise
let parts = split(prefs, holdout = 0.1)

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on parts.train {
    loss = dpo(beta = 0.1)
}

eval policy on parts.holdout { kl_to() }
"#,
        right: r#"use std.data.{Pairwise, jsonl, split}
use std.models.{causal_lm, frozen}
use std.losses.dpo
use std.metrics.kl_to

let prefs = jsonl("data/pairs.jsonl") as Pairwise
let parts = split(prefs, holdout = 0.1)

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on parts.train {
    loss = dpo(beta = 0.1)
}

eval policy on parts.holdout { kl_to(reference) }
"#,
    },
    CodeInfo {
        code: "P0205",
        title: "unknown named argument",
        explanation: r#"A named argument does not match any parameter of the function, often a name from another library (`learning_rate` instead of `lr`) or a typo. Where a Python config might ignore an unknown key and train with the default value, Plumb refuses it. Use one of the function's parameter names; the help suggests the closest."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo
use std.train.adamw

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
    optimizer = adamw(learning_rate = 5e-7)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo
use std.train.adamw

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
    optimizer = adamw(lr = 5e-7)
}
"#,
    },
    CodeInfo {
        code: "P0206",
        title: "argument of the wrong type",
        explanation: r#"An argument's type does not match its parameter: a data set where a column is expected, a float where an integer is expected, a number where a model is expected, or a non-text in a model call. In a Python pipeline this surfaces as a `TypeError` or an `AttributeError` deep inside generation or the collator. Pass a value of the type the message names; for prompts, pass a column such as `prompts.prompt`."#,
        wrong: r#"use std.data.jsonl
use std.models.{causal_lm, reward_model}
use std.pipeline.{generate, score, select}
use std.losses.nll

schema Prompts { prompt: Text }

let prompts = jsonl("data/prompts.jsonl") as Prompts

model policy = causal_lm("models/tiny")
model rm = reward_model("models/tiny-rm")

let best = select(score(rm, generate(policy, prompts, n = 8)), top = 1)

train policy on best {
    loss = nll()
}
"#,
        right: r#"use std.data.jsonl
use std.models.{causal_lm, reward_model}
use std.pipeline.{generate, score, select}
use std.losses.nll

schema Prompts { prompt: Text }

let prompts = jsonl("data/prompts.jsonl") as Prompts

model policy = causal_lm("models/tiny")
model rm = reward_model("models/tiny-rm")

let best = select(score(rm, generate(policy, prompts.prompt, n = 8)), top = 1)

train policy on best {
    loss = nll()
}
"#,
    },
    CodeInfo {
        code: "P0207",
        title: "argument outside its parameter's constraint",
        explanation: r#"A literal argument breaks the constraint declared on its parameter, such as `beta: f32 > 0` or `holdout: f32 in (0, 1)`. With `beta = 0` DPO's loss is the constant log 2 and the policy never moves, yet TRL and OpenRLHF train happily for hours; other values (a `top_p` of 0, a `label_smoothing` of 0.5) divide by zero or make the loss meaningless. Choose a value inside the constraint the message shows."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
    },
    CodeInfo {
        code: "P0208",
        title: "parameter default breaks its own constraint",
        explanation: r#"A loss parameter's default value is outside the parameter's own constraint, so every stage that relies on the default would be rejected (or, if it ran, would compute a degenerate loss such as a division by zero). The declaration contradicts itself. Change the default or the constraint so that the default is allowed."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss scaled_pairwise(temperature: f32 > 0 = 0.0) on Pairwise {
    -log_sigmoid((policy.logp(chosen | prompt) - policy.logp(rejected | prompt)) / temperature)
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = scaled_pairwise()
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss scaled_pairwise(temperature: f32 > 0 = 1.0) on Pairwise {
    -log_sigmoid((policy.logp(chosen | prompt) - policy.logp(rejected | prompt)) / temperature)
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = scaled_pairwise()
}
"#,
    },
    CodeInfo {
        code: "P0209",
        title: "constraint on a non-numeric parameter",
        explanation: r#"A parameter constraint such as `> 0` or `in [0, 1]` is attached to a parameter that is not a number (a bool or a text). Constraints are numeric bounds checked at compile time and on `--param` overrides; on a bool they have no meaning. Remove the constraint, or make the parameter an f32 or i64."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss pairwise(normalize: bool in [0, 1] = true) on Pairwise {
    let a_c = policy.logp(chosen | prompt)
    let a_r = policy.logp(rejected | prompt)
    let d = if normalize { a_c / len(chosen) - a_r / len(rejected) } else { a_c - a_r }
    -log_sigmoid(d)
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = pairwise()
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss pairwise(normalize: bool = true) on Pairwise {
    let a_c = policy.logp(chosen | prompt)
    let a_r = policy.logp(rejected | prompt)
    let d = if normalize { a_c / len(chosen) - a_r / len(rejected) } else { a_c - a_r }
    -log_sigmoid(d)
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = pairwise()
}
"#,
    },
    CodeInfo {
        code: "P0210",
        title: "unknown type",
        explanation: r#"A type annotation (here of a schema field) names a type that does not exist. The value types are `f32`, `i64`, `bool` and `Text`, with dims such as `f32[tok]` and `?` for optional; Python names like `float` or `str` are not types here. Use one of those; the help suggests the closest."#,
        wrong: r#"use std.data.jsonl
use std.models.causal_lm

schema WeightedDemo {
    prompt: Text,
    completion: Text,
    weight: float = 1.0,
}

loss weighted_nll() on WeightedDemo {
    -weight * policy.logp(completion | prompt) / len(completion)
}

let demos = jsonl("data/demos.jsonl") as WeightedDemo

model policy = causal_lm("models/tiny")

train policy on demos {
    loss = weighted_nll()
}
"#,
        right: r#"use std.data.jsonl
use std.models.causal_lm

schema WeightedDemo {
    prompt: Text,
    completion: Text,
    weight: f32 = 1.0,
}

loss weighted_nll() on WeightedDemo {
    -weight * policy.logp(completion | prompt) / len(completion)
}

let demos = jsonl("data/demos.jsonl") as WeightedDemo

model policy = causal_lm("models/tiny")

train policy on demos {
    loss = weighted_nll()
}
"#,
    },
    CodeInfo {
        code: "P0211",
        title: "unknown or misplaced dim",
        explanation: r#"A dim is not one of `batch`, `tok` or `k`, or `batch` is written in a type, where it is implicit. Reducing over the wrong axis is one of the most common silent bugs in hand-written losses (a mean over the batch instead of over tokens still gives a number); naming the dims makes the reduction explicit and checkable. Write `over = tok`, `over = k` or `over = batch`, and leave `batch` out of types."#,
        wrong: r#"use std.data.{Pointwise, jsonl}
use std.models.causal_lm

loss token_nll() on Pointwise {
    -mean(policy.logp_tokens(completion | prompt), over = tokens)
}

let demos = jsonl("data/demos.jsonl") as Pointwise

model policy = causal_lm("models/tiny")

train policy on demos {
    loss = token_nll()
}
"#,
        right: r#"use std.data.{Pointwise, jsonl}
use std.models.causal_lm

loss token_nll() on Pointwise {
    -mean(policy.logp_tokens(completion | prompt), over = tok)
}

let demos = jsonl("data/demos.jsonl") as Pointwise

model policy = causal_lm("models/tiny")

train policy on demos {
    loss = token_nll()
}
"#,
    },
    CodeInfo {
        code: "P0212",
        title: "reduction over a dim the value does not have",
        explanation: r#"A reduction or scan names a dim that its argument does not have, for example `mean(x, over = tok)` where `x = policy.logp(...)` is already summed over tokens, one number per example. In PyTorch the equivalent `.mean(dim=-1)` would quietly average over the batch instead; Plumb rejects it. Reduce a value that has the dim (use `logp_tokens` for per-token log-probs), or reduce over the dim it does have."#,
        wrong: r#"use std.data.{Pointwise, jsonl}
use std.models.causal_lm

loss token_nll() on Pointwise {
    -mean(policy.logp(completion | prompt), over = tok)
}

let demos = jsonl("data/demos.jsonl") as Pointwise

model policy = causal_lm("models/tiny")

train policy on demos {
    loss = token_nll()
}
"#,
        right: r#"use std.data.{Pointwise, jsonl}
use std.models.causal_lm

loss token_nll() on Pointwise {
    -mean(policy.logp_tokens(completion | prompt), over = tok)
}

let demos = jsonl("data/demos.jsonl") as Pointwise

model policy = causal_lm("models/tiny")

train policy on demos {
    loss = token_nll()
}
"#,
    },
    CodeInfo {
        code: "P0214",
        title: "unknown model method, or method not called",
        explanation: r#"Inside a loss, a model role has only the methods `logp(y | x)`, `logp_tokens(y | x)` and `reward(y | x)`, and they must be called. Plumb needs to know exactly which forward passes a loss makes, to batch them, to cache frozen-reference calls and to differentiate the loss; an unknown method would otherwise be an `AttributeError` on the first step. Use one of the three methods, called with `(completion | prompt)`."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss pairwise() on Pairwise {
    -log_sigmoid(policy.log_prob(chosen | prompt) - policy.log_prob(rejected | prompt))
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = pairwise()
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss pairwise() on Pairwise {
    -log_sigmoid(policy.logp(chosen | prompt) - policy.logp(rejected | prompt))
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = pairwise()
}
"#,
    },
    CodeInfo {
        code: "P0215",
        title: "`|` outside a model call",
        explanation: r#"The `given` bar, `completion | prompt`, conditions a model call and means nothing elsewhere. In a function such as `len` it usually means the author expected the prompt to be counted or conditioned on, which does not happen. Write `len(completion)` for a token count, and keep `|` for `policy.logp(y | x)` and the other model methods."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss norm_pairwise() on Pairwise {
    let a_c = policy.logp(chosen | prompt) / len(chosen | prompt)
    let a_r = policy.logp(rejected | prompt) / len(rejected | prompt)
    -log_sigmoid(a_c - a_r)
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = norm_pairwise()
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss norm_pairwise() on Pairwise {
    let a_c = policy.logp(chosen | prompt) / len(chosen)
    let a_r = policy.logp(rejected | prompt) / len(rejected)
    -log_sigmoid(a_c - a_r)
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = norm_pairwise()
}
"#,
    },
    CodeInfo {
        code: "P0216",
        title: "`if` condition is not a bool",
        explanation: r#"The condition of an `if` is not a bool, for example a number used as a flag. Plumb has no truthiness: in Python `if alpha:` on a tensor raises "Boolean value of Tensor with more than one value is ambiguous" at run time, and on a float silently treats 1e-9 as true. Compare explicitly, e.g. `if alpha > 0 { ... }`, or use a `bool` parameter."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss pairwise_sft(alpha: f32 >= 0 = 1.0) on Pairwise {
    let pi_c = policy.logp(chosen | prompt)
    let pairwise = -log_sigmoid(pi_c - policy.logp(rejected | prompt))
    if alpha { pairwise - alpha * pi_c / len(chosen) } else { pairwise }
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = pairwise_sft()
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss pairwise_sft(alpha: f32 >= 0 = 1.0) on Pairwise {
    let pi_c = policy.logp(chosen | prompt)
    let pairwise = -log_sigmoid(pi_c - policy.logp(rejected | prompt))
    if alpha > 0 { pairwise - alpha * pi_c / len(chosen) } else { pairwise }
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = pairwise_sft()
}
"#,
    },
    CodeInfo {
        code: "P0217",
        title: "`if` branches of different types",
        explanation: r#"The two branches of an `if` give different kinds of values, for example a number and a bool. An `if` in a loss selects per row, so both branches must be the same kind of value for the result to have one type (and a gradient). Make both branches numbers (or both bools, or both texts)."#,
        wrong: r#"use std.data.{Pointwise, jsonl}
use std.models.{causal_lm, frozen}

loss thumbs(beta: f32 > 0 = 0.1) on Pointwise {
    let rho = policy.logp(completion | prompt) - reference.logp(completion | prompt)
    if label { 1 - sigmoid(beta * rho) } else { rho > 0 }
}

let feedback = jsonl("data/feedback.jsonl") as Pointwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on feedback {
    loss = thumbs()
}
"#,
        right: r#"use std.data.{Pointwise, jsonl}
use std.models.{causal_lm, frozen}

loss thumbs(beta: f32 > 0 = 0.1) on Pointwise {
    let rho = policy.logp(completion | prompt) - reference.logp(completion | prompt)
    if label { 1 - sigmoid(beta * rho) } else { sigmoid(beta * rho) }
}

let feedback = jsonl("data/feedback.jsonl") as Pointwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on feedback {
    loss = thumbs()
}
"#,
    },
    CodeInfo {
        code: "P0218",
        title: "positional argument after a named one",
        explanation: r#"A positional argument follows a named argument, so it is unclear which parameter it is meant for (here: is `7` the seed?). As in Python, positional arguments come first; Plumb rejects the call rather than guess. Put positional arguments first, or name this one."#,
        wrong: r#"use std.data.{Pairwise, jsonl, split}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise
let parts = split(prefs, holdout = 0.1, 7)

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on parts.train {
    loss = dpo(beta = 0.1)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl, split}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise
let parts = split(prefs, holdout = 0.1, seed = 7)

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on parts.train {
    loss = dpo(beta = 0.1)
}
"#,
    },
    CodeInfo {
        code: "P0219",
        title: "parameter given twice",
        explanation: r#"The same parameter receives two values, positionally and by name or by name twice. Plumb will not pick one silently, since the two values usually come from an edit that kept the old value. Give each parameter once."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(0.1, beta = 0.05)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.05)
}
"#,
    },
    CodeInfo {
        code: "P0220",
        title: "value called like a function",
        explanation: r#"Something that is not a function is called: a number, a column, data or a model. A common cause is a missing `*`, as in `beta(rho_c - rho_r)`, which in Python is a `TypeError: 'float' object is not callable` at the first step. Only losses and stdlib functions can be called; write the multiplication (or the intended function) explicitly."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}

loss my_dpo(beta: f32 > 0 = 0.1) on Pairwise {
    let rho_c = policy.logp(chosen | prompt) - reference.logp(chosen | prompt)
    let rho_r = policy.logp(rejected | prompt) - reference.logp(rejected | prompt)
    -log_sigmoid(beta(rho_c - rho_r))
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = my_dpo()
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}

loss my_dpo(beta: f32 > 0 = 0.1) on Pairwise {
    let rho_c = policy.logp(chosen | prompt) - reference.logp(chosen | prompt)
    let rho_r = policy.logp(rejected | prompt) - reference.logp(rejected | prompt)
    -log_sigmoid(beta * (rho_c - rho_r))
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = my_dpo()
}
"#,
    },
    CodeInfo {
        code: "P0221",
        title: "value with both `tok` and `k` dims",
        explanation: r#"A type or an operation would combine the per-token dim `tok` with the per-candidate dim `k`. Per-token values of several candidates are ragged in two directions, which the masking and the batched forward passes do not support; mixing them would broadcast tokens of one candidate against scores of another. Reduce one of the dims first, or store one value per candidate (`f32[k]`) or per token (`f32[tok]`)."#,
        wrong: r#"use std.data.jsonl
use std.models.causal_lm

schema ScoredRollout {
    prompt: Text,
    response: Text,
    token_scores: f32[tok, k],
}

loss weighted_nll() on ScoredRollout {
    -mean(policy.logp_tokens(response | prompt), over = tok)
}

let rollouts = jsonl("data/rollouts.jsonl") as ScoredRollout

model policy = causal_lm("models/tiny")

train policy on rollouts {
    loss = weighted_nll()
}
"#,
        right: r#"use std.data.jsonl
use std.models.causal_lm

schema ScoredRollout {
    prompt: Text,
    response: Text,
    token_scores: f32[tok],
}

loss weighted_nll() on ScoredRollout {
    -mean(policy.logp_tokens(response | prompt), over = tok)
}

let rollouts = jsonl("data/rollouts.jsonl") as ScoredRollout

model policy = causal_lm("models/tiny")

train policy on rollouts {
    loss = weighted_nll()
}
"#,
    },
    CodeInfo {
        code: "P0222",
        title: "default of the wrong type",
        explanation: r#"The default value of a schema field or a loss parameter has a different type than the one declared, for example a text default for an `f32` field. Rows missing the field would otherwise be filled with a value the loss cannot use, and fail only when such a row reaches a batch. Write a default of the declared type."#,
        wrong: r#"use std.data.jsonl
use std.models.causal_lm

schema WeightedDemo {
    prompt: Text,
    completion: Text,
    weight: f32 = "1.0",
}

loss weighted_nll() on WeightedDemo {
    -weight * policy.logp(completion | prompt) / len(completion)
}

let demos = jsonl("data/demos.jsonl") as WeightedDemo

model policy = causal_lm("models/tiny")

train policy on demos {
    loss = weighted_nll()
}
"#,
        right: r#"use std.data.jsonl
use std.models.causal_lm

schema WeightedDemo {
    prompt: Text,
    completion: Text,
    weight: f32 = 1.0,
}

loss weighted_nll() on WeightedDemo {
    -weight * policy.logp(completion | prompt) / len(completion)
}

let demos = jsonl("data/demos.jsonl") as WeightedDemo

model policy = causal_lm("models/tiny")

train policy on demos {
    loss = weighted_nll()
}
"#,
    },
    CodeInfo {
        code: "P0223",
        title: "field or parameter declared twice",
        explanation: r#"A schema declares the same field twice, or a loss (or function) the same parameter twice. Only one of the two declarations could be used, and which one is ambiguous (a JSON loader keeps the last key, a config the first). Give each field and parameter its own name."#,
        wrong: r#"use std.data.jsonl
use std.models.causal_lm

schema Demo {
    prompt: Text,
    completion: Text,
    completion: Text?,
}

loss demo_nll() on Demo {
    -policy.logp(completion | prompt) / len(completion)
}

let demos = jsonl("data/demos.jsonl") as Demo

model policy = causal_lm("models/tiny")

train policy on demos {
    loss = demo_nll()
}
"#,
        right: r#"use std.data.jsonl
use std.models.causal_lm

schema Demo {
    prompt: Text,
    completion: Text,
}

loss demo_nll() on Demo {
    -policy.logp(completion | prompt) / len(completion)
}

let demos = jsonl("data/demos.jsonl") as Demo

model policy = causal_lm("models/tiny")

train policy on demos {
    loss = demo_nll()
}
"#,
    },
    CodeInfo {
        code: "P0224",
        title: "`as` applied to something that is not data",
        explanation: r#"`expr as Schema` checks the rows of a data set against a schema when it is loaded; it cannot be applied to a split, a model or a number. Put the `as` where the data is read, so the rows are validated (with line numbers) before the split and before any training. Write `jsonl(path) as Schema`, then split the typed data."#,
        wrong: r#"use std.data.{Pairwise, jsonl, split}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let parts = split(jsonl("data/pairs.jsonl"), holdout = 0.1) as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on parts.train {
    loss = dpo(beta = 0.1)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl, split}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let parts = split(jsonl("data/pairs.jsonl") as Pairwise, holdout = 0.1)

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on parts.train {
    loss = dpo(beta = 0.1)
}
"#,
    },
    CodeInfo {
        code: "P0225",
        title: "chained comparison",
        explanation: r#"Comparisons cannot be chained: `a < b < c` is an error. In Python it means `a < b and b < c`, in most other languages `(a < b) < c`, and on tensors it raises an error at run time; Plumb accepts neither reading silently. Compare twice and join with `and`: `a < b and b < c`."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss banded(beta: f32 > 0 = 1.0) on Pairwise {
    let d = policy.logp(chosen | prompt) - policy.logp(rejected | prompt)
    if 0 < d < 5 { -log_sigmoid(beta * d) } else { 0 }
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = banded()
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss banded(beta: f32 > 0 = 1.0) on Pairwise {
    let d = policy.logp(chosen | prompt) - policy.logp(rejected | prompt)
    if 0 < d and d < 5 { -log_sigmoid(beta * d) } else { 0 }
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = banded()
}
"#,
    },
    CodeInfo {
        code: "P0226",
        title: "model call not written as `completion | prompt`",
        explanation: r#"A model call (`logp`, `logp_tokens`, `reward`) takes exactly one argument of the form `completion | prompt`. Writing the two texts as separate arguments makes the order ambiguous, and swapping prompt and completion is a classic silent bug: the loss trains on the prompt tokens. Write `policy.logp(chosen | prompt)`: the completion, the bar, then what it is conditioned on."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss pairwise() on Pairwise {
    -log_sigmoid(policy.logp(prompt, chosen) - policy.logp(prompt, rejected))
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = pairwise()
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss pairwise() on Pairwise {
    -log_sigmoid(policy.logp(chosen | prompt) - policy.logp(rejected | prompt))
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = pairwise()
}
"#,
    },
    CodeInfo {
        code: "P0227",
        title: "indexing a value",
        explanation: r#"Values cannot be indexed with `[i]`. A fixed position such as `completions[0]` assumes every row has that many candidates and in a fixed order, which fails with an index error on a short row or silently picks the wrong one; Plumb works over whole named dims instead. Reduce over the dim (`amax(x, over = k)`, `logsumexp(x, over = k)`), or restructure the data into columns (e.g. Pairwise `chosen` and `rejected`)."#,
        wrong: r#"use std.data.{Ranked, jsonl}
use std.models.causal_lm

loss best_nll() on Ranked {
    -policy.logp(completions[0] | prompt)
}

let ranked = jsonl("data/ranked.jsonl") as Ranked

model policy = causal_lm("models/tiny")

train policy on ranked {
    loss = best_nll()
}
"#,
        right: r#"use std.data.{Ranked, jsonl}
use std.models.causal_lm

loss listwise_nll() on Ranked {
    -mean(policy.logp(completions | prompt), over = k)
}

let ranked = jsonl("data/ranked.jsonl") as Ranked

model policy = causal_lm("models/tiny")

train policy on ranked {
    loss = listwise_nll()
}
"#,
    },
    CodeInfo {
        code: "P0228",
        title: "loss or pipeline function called inside a loss",
        explanation: r#"A loss body calls another loss, or a pipeline function such as `generate` or `split`. A loss body is pure per-batch math that Plumb differentiates; another loss carries its own schema, roles and batch reduction, and pipeline functions are whole cached stages, so neither can run inside the training step. Write the math out in the body (copy the formula from the stdlib loss), or give the stage the loss directly with `loss = ...`."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

loss dpo_sft(beta: f32 > 0 = 0.1, alpha: f32 >= 0 = 1.0) on Pairwise {
    dpo(beta = beta) - alpha * policy.logp(chosen | prompt) / len(chosen)
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo_sft()
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}

loss dpo_sft(beta: f32 > 0 = 0.1, alpha: f32 >= 0 = 1.0) on Pairwise {
    let rho_c = policy.logp(chosen | prompt) - reference.logp(chosen | prompt)
    let rho_r = policy.logp(rejected | prompt) - reference.logp(rejected | prompt)
    -log_sigmoid(beta * (rho_c - rho_r)) - alpha * policy.logp(chosen | prompt) / len(chosen)
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo_sft()
}
"#,
    },
    CodeInfo {
        code: "P0229",
        title: "model role used without a call",
        explanation: r#"Inside a loss, `policy` and `reference` are model roles, not values: they only give numbers through a call such as `reference.logp(y | x)`. Plumb needs each forward pass spelled out, to know which roles a stage must bind and which calls are constant and can be cached. Call the role with the texts you mean."#,
        wrong: r#"use std.data.{Pointwise, jsonl}
use std.models.{causal_lm, frozen}

loss anchored_nll(beta: f32 > 0 = 0.1) on Pointwise {
    let pi = policy.logp(completion | prompt)
    -pi / len(completion) + beta * (pi - reference)^2
}

let demos = jsonl("data/demos.jsonl") as Pointwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on demos {
    loss = anchored_nll()
}
"#,
        right: r#"use std.data.{Pointwise, jsonl}
use std.models.{causal_lm, frozen}

loss anchored_nll(beta: f32 > 0 = 0.1) on Pointwise {
    let pi = policy.logp(completion | prompt)
    -pi / len(completion) + beta * (pi - reference.logp(completion | prompt))^2
}

let demos = jsonl("data/demos.jsonl") as Pointwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on demos {
    loss = anchored_nll()
}
"#,
    },
    CodeInfo {
        code: "P0301",
        title: "loss and data have different schemas",
        explanation: r#"The loss is defined on one schema (e.g. `kto` on Pointwise: prompt, completion, label) but the stage trains on data of another (e.g. Pairwise: prompt, chosen, rejected). In TRL or OpenRLHF this is a `KeyError` in the collator or tokenizer map after the models are loaded, or worse a silent column rename. Train on data of the loss's schema, or pick a loss defined on your data's schema (for pairs: `dpo`, `ipo`, `simpo`, ...)."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.kto

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = kto(beta = 0.1)
    batch = 8
}
"#,
        right: r#"use std.data.{Pointwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.kto

let feedback = jsonl("data/feedback.jsonl") as Pointwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on feedback {
    loss = kto(beta = 0.1)
    batch = 8
}
"#,
    },
    CodeInfo {
        code: "P0302",
        title: "unknown option",
        explanation: r#"A stage (or sampler, selector, fit) sets an option it does not have. Many come from other trainers: in Plumb the learning rate belongs to the optimizer, `beta` to the loss, and batch sizes are `batch` and `micro_batch`; an HF-style config would often ignore or misplace such a key and train with a default. Use the option the help names, or move the setting to the loss or optimizer."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
    learning_rate = 5e-7
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo
use std.train.adamw

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
    optimizer = adamw(lr = 5e-7)
}
"#,
    },
    CodeInfo {
        code: "P0303",
        title: "option set twice",
        explanation: r#"The same option appears twice in one block. Which value would win is exactly the kind of ambiguity that makes a run irreproducible (YAML keeps the last key, many CLIs the first), so Plumb requires one value. Keep one of them."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
    batch = 16
    epochs = 1
    batch = 32
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
    batch = 32
    epochs = 1
}
"#,
    },
    CodeInfo {
        code: "P0304",
        title: "both epochs and max_steps",
        explanation: r#"A stage sets both `epochs` and `max_steps`. In HF's Trainer `max_steps` silently overrides `num_train_epochs`, so the run length is not what the recipe appears to say. Say how long to train one way: either `epochs` or `max_steps`."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
    epochs = 3
    max_steps = 1000
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
    max_steps = 1000
}
"#,
    },
    CodeInfo {
        code: "P0305",
        title: "training a frozen model or a judge",
        explanation: r#"The stage trains a model that cannot be trained: a `frozen` or `snapshot` copy, or a programmatic `judge`. Training the frozen reference would also move the baseline of every loss that uses it, and a judge has no weights at all. Train the trainable model (the `causal_lm` or `reward_model` the copy was made from)."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train reference on prefs {
    loss = dpo(beta = 0.1)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
    },
    CodeInfo {
        code: "P0306",
        title: "loss needs a reference model the stage cannot bind",
        explanation: r#"The loss calls `reference`, but the stage has no `reference = ...` option and the recipe has no single frozen copy of the trained model (either none, or several so the choice is ambiguous). TRL would quietly create a reference copy of the policy, doubling memory, or use a different model than you meant. Declare `model reference = frozen(policy)`, or set `reference = ...` in the stage."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
    },
    CodeInfo {
        code: "P0307",
        title: "reference is the policy itself",
        explanation: r#"The reference is the very model being trained (`model reference = policy`, or `reference = policy` in the stage), not a copy. Then the policy/reference log-ratio is identically 0 and the DPO-style loss has no signal, or the reference drifts with the policy; the run completes without error but learns nothing. Use a frozen copy: `frozen(policy)`, or `snapshot(policy)` for iterative methods."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = policy

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
    },
    CodeInfo {
        code: "P0308",
        title: "train stage without a loss",
        explanation: r#"A `train` stage has no `loss` option. Plumb has no default objective: a silent default (SFT, or DPO with beta 0.1) would train something other than what the author intended. Add the objective, e.g. `loss = dpo(beta = 0.1)`."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo
use std.train.adamw

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    optimizer = adamw(lr = 5e-7)
    batch = 16
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo
use std.train.adamw

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
    optimizer = adamw(lr = 5e-7)
    batch = 16
}
"#,
    },
    CodeInfo {
        code: "P0309",
        title: "option value of the wrong kind",
        explanation: r#"An option's value is not what the option takes: a loss or optimizer named but not called, a float where a whole number is expected (`batch = 16.5`), or a value outside its range (`batch = 0`, `grad_clip = 0`, `top_p = 1.5`). These fail deep inside the trainer (division by zero in gradient accumulation, an empty dataloader) or are silently rounded. Call functions to configure them (`dpo()`), and give each option a value of the kind the message names."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo
    batch = 0
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo()
    batch = 16
}
"#,
    },
    CodeInfo {
        code: "P0310",
        title: "micro_batch does not divide batch",
        explanation: r#"`micro_batch` (examples per forward pass) must divide `batch` (examples per optimizer step), since each step accumulates `batch / micro_batch` forward passes. Otherwise a trainer either rounds the accumulation steps and silently trains with a different effective batch size than the recipe states, or fails on the last micro-batch. Choose a micro_batch that divides batch, e.g. a power of two."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
    batch = 32
    micro_batch = 6
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
    batch = 32
    micro_batch = 8
}
"#,
    },
    CodeInfo {
        code: "P0311",
        title: "max_prompt_len leaves no room for the completion",
        explanation: r#"`max_prompt_len` is at least `max_len`, so after truncation a long prompt keeps no completion tokens. Those rows have empty completions, whose log-probability is 0 and whose per-token mean is NaN; in TRL this shows up as `nan` losses or rows that silently contribute nothing. Make `max_len` larger than `max_prompt_len`."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
    max_len = 512
    max_prompt_len = 512
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
    max_len = 1024
    max_prompt_len = 512
}
"#,
    },
    CodeInfo {
        code: "P0313",
        title: "model of the wrong kind for its role",
        explanation: r#"A model is used in a role its kind cannot play: a reward-model loss (one that calls `policy.reward`) on a causal LM, a log-probability loss on a reward model, a scorer as `reference`, or a policy as a `judge`. A causal LM has no value head and a reward model has no vocabulary distribution, so in TRL/OpenRLHF this fails at the first forward pass or, worse, trains a freshly initialised head. Train a `reward_model(path)` with reward losses such as `reward_bt`, and causal LMs with policy losses."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm
use std.losses.reward_bt

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model rm = causal_lm("models/tiny")

train rm on prefs {
    loss = reward_bt()
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.reward_model
use std.losses.reward_bt

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model rm = reward_model("models/tiny-rm")

train rm on prefs {
    loss = reward_bt()
}
"#,
    },
    CodeInfo {
        code: "P0315",
        title: "stage needs data",
        explanation: r#"A `train` or `eval` stage is given something that is not a data set after `on`, most often a whole split instead of one of its parts. A trainer handed a `DatasetDict` instead of a `Dataset` fails only when it starts iterating. Use the split's `.train` or `.holdout`, or another data value."#,
        wrong: r#"use std.data.{Pairwise, jsonl, split}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise
let parts = split(prefs, holdout = 0.1)

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on parts {
    loss = dpo(beta = 0.1)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl, split}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise
let parts = split(prefs, holdout = 0.1)

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on parts.train {
    loss = dpo(beta = 0.1)
}
"#,
    },
    CodeInfo {
        code: "P0316",
        title: "data schema not declared",
        explanation: r#"Data is trained on, or its columns are read, but its schema was never declared with `as`. Without a schema Plumb cannot check that the rows have the columns and types the loss needs, and a missing or misspelled column would fail only when the first batch is collated. Declare the schema where the data is loaded: `jsonl(path) as Pairwise`; rows are then checked on load, with line numbers."#,
        wrong: r#"use std.data.jsonl
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl")

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}
"#,
    },
    CodeInfo {
        code: "P0317",
        title: "fit needs a rating model",
        explanation: r#"`fit NAME = ...` fits a non-neural preference model over items (ratings such as Bradley-Terry); its value must be one of those, not a neural model or data. Neural models are trained with `train`. Fit `bradley_terry`, `thurstone`, `davidson` or `plackett_luce` from `std.ratings`."#,
        wrong: r#"use std.data.{Comparisons, csv}
use std.ratings.{leaderboard, bootstrap}

let votes = csv("data/votes.csv") as Comparisons

fit ratings = votes

report leaderboard(ratings, ci = bootstrap(200))
"#,
        right: r#"use std.data.{Comparisons, csv}
use std.ratings.{bradley_terry, leaderboard, bootstrap}

let votes = csv("data/votes.csv") as Comparisons

fit ratings = bradley_terry(votes)

report leaderboard(ratings, ci = bootstrap(200))
"#,
    },
    CodeInfo {
        code: "P0318",
        title: "eval without a metric",
        explanation: r#"An `eval` stage computes no metric, or lists something that is not a metric (often a metric function named but not called). An evaluation that measures nothing would still load the model and generate, for no result. List metrics from `std.metrics`, called: `{ reward_accuracy(), kl_to(reference) }`."#,
        wrong: r#"use std.data.{Pairwise, jsonl, split}
use std.models.{causal_lm, frozen}
use std.losses.dpo
use std.metrics.reward_accuracy

let prefs = jsonl("data/pairs.jsonl") as Pairwise
let parts = split(prefs, holdout = 0.1)

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on parts.train {
    loss = dpo(beta = 0.1)
}

eval policy on parts.holdout { reward_accuracy }
"#,
        right: r#"use std.data.{Pairwise, jsonl, split}
use std.models.{causal_lm, frozen}
use std.losses.dpo
use std.metrics.reward_accuracy

let prefs = jsonl("data/pairs.jsonl") as Pairwise
let parts = split(prefs, holdout = 0.1)

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on parts.train {
    loss = dpo(beta = 0.1)
}

eval policy on parts.holdout { reward_accuracy() }
"#,
    },
    CodeInfo {
        code: "P0319",
        title: "report needs a report",
        explanation: r#"`report EXPR` emits a report, so its value must be one (such as a `leaderboard`), not fitted ratings or data. Plumb does not guess how to render an arbitrary value. Build a report with a stdlib function, e.g. `report leaderboard(ratings, ci = bootstrap(200))`."#,
        wrong: r#"use std.data.{Comparisons, csv}
use std.ratings.bradley_terry

let votes = csv("data/votes.csv") as Comparisons

fit ratings = bradley_terry(votes)

report ratings
"#,
        right: r#"use std.data.{Comparisons, csv}
use std.ratings.{bradley_terry, leaderboard, bootstrap}

let votes = csv("data/votes.csv") as Comparisons

fit ratings = bradley_terry(votes)

report leaderboard(ratings, ci = bootstrap(200))
"#,
    },
    CodeInfo {
        code: "P0320",
        title: "repeat count is not a positive integer literal",
        explanation: r#"`repeat N { ... }` needs N to be a positive whole number written as a literal, so the number of rounds (and so of generations, checkpoints and cache entries) is known when the recipe is compiled. A computed, zero or fractional count would make the pipeline's shape depend on run-time values. Write the number of rounds, e.g. `repeat 3 { ... }`."#,
        wrong: r#"use std.data.jsonl
use std.models.{causal_lm, frozen, reward_model, snapshot}
use std.pipeline.{generate, score, pair, best_vs_worst}
use std.losses.dpo

schema Prompts { prompt: Text }

let prompts = jsonl("data/prompts.jsonl") as Prompts

model policy = causal_lm("models/tiny")
model reference = frozen(policy)
model rm = reward_model("models/tiny-rm")

repeat 0 {
    let pairs = pair(score(rm, generate(policy, prompts.prompt, n = 4)), by = best_vs_worst())
    train policy on pairs {
        loss = dpo(beta = 0.1)
        reference = snapshot(policy)
    }
}
"#,
        right: r#"use std.data.jsonl
use std.models.{causal_lm, frozen, reward_model, snapshot}
use std.pipeline.{generate, score, pair, best_vs_worst}
use std.losses.dpo

schema Prompts { prompt: Text }

let prompts = jsonl("data/prompts.jsonl") as Prompts

model policy = causal_lm("models/tiny")
model reference = frozen(policy)
model rm = reward_model("models/tiny-rm")

repeat 3 {
    let pairs = pair(score(rm, generate(policy, prompts.prompt, n = 4)), by = best_vs_worst())
    train policy on pairs {
        loss = dpo(beta = 0.1)
        reference = snapshot(policy)
    }
}
"#,
    },
    CodeInfo {
        code: "P0326",
        title: "malformed stage constraint",
        explanation: r#"A `constraint` must compare a metric with a literal number, `metric <= number` (or `<`, `>=`, `>`), and only `train` stages take constraints. Anything else (a number on the left, a non-metric, a computed bound, a constraint in a sampler) has no clear meaning as a budget the trainer can enforce. Write e.g. `constraint kl_to(reference) <= 5.0` inside a `train` stage."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo
use std.metrics.kl_to

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
    constraint 5.0 >= kl_to(reference)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo
use std.metrics.kl_to

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
    constraint kl_to(reference) <= 5.0
}
"#,
    },
    CodeInfo {
        code: "P0401",
        title: "unused definition",
        explanation: r#"A top-level `let` is defined but never used. It is only a warning, but an unused data set or split usually means a stage uses the wrong one, for example evaluating on the training data while the held-out split goes unused. Use it in a stage, or remove it."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo
use std.metrics.reward_accuracy

let prefs = jsonl("data/train_pairs.jsonl") as Pairwise
let test_prefs = jsonl("data/test_pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}

eval policy on prefs { reward_accuracy() }
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.dpo
use std.metrics.reward_accuracy

let prefs = jsonl("data/train_pairs.jsonl") as Pairwise
let test_prefs = jsonl("data/test_pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = dpo(beta = 0.1)
}

eval policy on test_prefs { reward_accuracy() }
"#,
    },
    CodeInfo {
        code: "P0402",
        title: "unused loss parameter",
        explanation: r#"A loss parameter is never used in the body. It is only a warning, but setting it at a stage then has no effect, which is easy to miss when sweeping hyperparameters (every run of the sweep computes the same loss). Use it in the body, or remove it."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss pairwise(beta: f32 > 0 = 1.0, gamma: f32 >= 0 = 0.5) on Pairwise {
    -log_sigmoid(beta * (policy.logp(chosen | prompt) - policy.logp(rejected | prompt)))
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = pairwise(gamma = 1.0)
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm

loss pairwise(beta: f32 > 0 = 1.0, gamma: f32 >= 0 = 0.5) on Pairwise {
    -log_sigmoid(beta * (policy.logp(chosen | prompt) - policy.logp(rejected | prompt)) - gamma)
}

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = pairwise(gamma = 1.0)
}
"#,
    },
    CodeInfo {
        code: "P0403",
        title: "reference set for a loss that does not use one",
        explanation: r#"The stage sets `reference = ...`, but its loss never calls `reference` (reference-free losses such as `simpo`, `cpo`, `orpo` and `nll`). It is only a warning, but the setting has no effect: it often means the wrong loss was chosen, and a frozen copy of the model is loaded into memory for nothing. Remove the `reference` option, or pick a loss that uses a reference."#,
        wrong: r#"use std.data.{Pairwise, jsonl}
use std.models.{causal_lm, frozen}
use std.losses.simpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")
model reference = frozen(policy)

train policy on prefs {
    loss = simpo(beta = 2.0, gamma = 0.5)
    reference = reference
}
"#,
        right: r#"use std.data.{Pairwise, jsonl}
use std.models.causal_lm
use std.losses.simpo

let prefs = jsonl("data/pairs.jsonl") as Pairwise

model policy = causal_lm("models/tiny")

train policy on prefs {
    loss = simpo(beta = 2.0, gamma = 0.5)
}
"#,
    },
    CodeInfo {
        code: "P0330",
        title: "data file not found",
        explanation: r#"A data source names a file by a literal path that does not exist. Paths are relative to the recipe's directory. It is a warning, not an error, because a recipe may be checked before its data is produced; `plumb run` fails on it. When the file exists, `plumb check` also reads its first rows and checks them against the declared schema (P0331)."#,
        wrong: r#"# a recipe with `jsonl("data/pairs.jsonl") as Pairwise`, run from a directory without data/pairs.jsonl"#,
        right: r#"# the same recipe next to data/pairs.jsonl, or the path corrected"#,
    },
    CodeInfo {
        code: "P0331",
        title: "data file does not match its schema",
        explanation: r#"`plumb check` opened a data file named by a literal path and found that it does not fit the schema declared with `as`: a JSONL row lacks a required column, a column has the wrong type (a number where the schema declares Text, a string where it declares f32, a scalar where it declares a list), a line is not a JSON object, or a CSV header lacks a required column. Trainers find this when the data loader reaches the row, often after the reference model has been loaded; Plumb reports the file and line at once. Fix the data, or declare the schema the data has. The first 200 rows of a JSONL file are checked here; every row is checked on load by `plumb run`."#,
        wrong: r#"# data/pairs.jsonl holds {"prompt": "Hi", "chosen": "Hello!"} (no "rejected"),
# and the recipe reads it with jsonl("data/pairs.jsonl") as Pairwise"#,
        right: r#"# every row has prompt, chosen and rejected as strings:
# {"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."}"#,
    },
    CodeInfo {
        code: "P0501",
        title: "loss parameter outside its constraint (eval-loss)",
        explanation: r#"A `--param` value breaks the constraint the loss declares for that parameter, for example `exo_pair` with `label_smoothing = 0` (its log ε term would be infinite) or `dpo` with `beta = 0`. The constraint is part of the loss's signature (`plumb explain` shows it in the stdlib source); choose a value inside it."#,
        wrong: r#"# plumb eval-loss exo_pair --param label_smoothing=0 --input rows.jsonl"#,
        right: r#"# plumb eval-loss exo_pair --param label_smoothing=0.001 --input rows.jsonl"#,
    },
    CodeInfo {
        code: "P0502",
        title: "missing column (eval-loss)",
        explanation: r#"A row of the `--input` file lacks a column the loss reads, and the column has no default. The message names the line and the column. The columns each loss reads are listed in docs/stdlib.md: `dpo` reads pi_chosen, pi_rejected, ref_chosen and ref_rejected; length-normalised losses also read len_chosen and len_rejected."#,
        wrong: r#"# a dpo row without ref_rejected: {"pi_chosen": -3, "pi_rejected": -4, "ref_chosen": -3.5}"#,
        right: r#"# {"pi_chosen": -3, "pi_rejected": -4, "ref_chosen": -3.5, "ref_rejected": -3.9}"#,
    },
    CodeInfo {
        code: "P0503",
        title: "column of the wrong type (eval-loss)",
        explanation: r#"A column holds a value of the wrong type: a string where a number is needed, a scalar where a list of per-token values is needed, or a label that is not true/false/1/0. The message names the line and the column."#,
        wrong: r#"# {"pi_chosen": "-3", ...}  (a string)"#,
        right: r#"# {"pi_chosen": -3, ...}"#,
    },
    CodeInfo {
        code: "P0504",
        title: "length below 1 (eval-loss)",
        explanation: r#"A completion-length column (`len_chosen`, `len_rejected`, `len`) is below 1. Lengths are token counts of non-empty completions; a zero length would divide by zero in length-normalised losses. Truncation that leaves a completion empty is the usual cause."#,
        wrong: r#"# {"len_chosen": 0, ...}"#,
        right: r#"# {"len_chosen": 12, ...}"#,
    },
    CodeInfo {
        code: "P0505",
        title: "token lists of different lengths (eval-loss)",
        explanation: r#"Within one row, the per-token lists (`logp`, `old_logp`, `advantages`, `mask`) must all have one length: they describe the same tokens. Rows may differ from each other."#,
        wrong: r#"# {"logp": [-1, -2], "old_logp": [-1], "advantages": [0.5, 0.1], "mask": [1, 1]}"#,
        right: r#"# {"logp": [-1, -2], "old_logp": [-1, -2.1], "advantages": [0.5, 0.1], "mask": [1, 1]}"#,
    },
    CodeInfo {
        code: "P0506",
        title: "no unmasked token (eval-loss)",
        explanation: r#"A token-level loss such as `ppo_clip` averages over unmasked tokens; when every token of the batch is masked there is nothing to average and the loss would be NaN."#,
        wrong: r#"# every row has "mask": [0, 0, ...]"#,
        right: r#"# at least one row has an unmasked token: "mask": [1, 1, 0]"#,
    },
    CodeInfo {
        code: "P0507",
        title: "value outside a function's domain (eval-loss)",
        explanation: r#"A row drives a function outside its domain. The common case is `orpo`: its log-odds use log(1 - e^a) with a = log π / len, which needs log-probabilities below 0 (probabilities below 1); a row with `pi_chosen` or `pi_rejected` ≥ 0 cannot be evaluated. The message names the line."#,
        wrong: r#"# plumb eval-loss orpo with a row {"pi_chosen": 0.0, ...}"#,
        right: r#"# log-probabilities are negative: {"pi_chosen": -12.5, ...}"#,
    },
    CodeInfo {
        code: "P0508",
        title: "unknown loss parameter (eval-loss)",
        explanation: r#"`--param NAME=VALUE` names a parameter the loss does not have. The message lists the parameters it does have and suggests the closest one. Names follow docs/stdlib.md (TRL's `loss_type` values are losses of their own here)."#,
        wrong: r#"# plumb eval-loss dpo --param bta=0.1"#,
        right: r#"# plumb eval-loss dpo --param beta=0.1"#,
    },
    CodeInfo {
        code: "P0509",
        title: "parameter value of the wrong type (eval-loss)",
        explanation: r#"A `--param` value does not parse as the parameter's type: numbers for f32 parameters, whole numbers for i64, and `true`/`false` for booleans."#,
        wrong: r#"# plumb eval-loss ipo --param normalize_length=yes"#,
        right: r#"# plumb eval-loss ipo --param normalize_length=false"#,
    },
    CodeInfo {
        code: "P0510",
        title: "unknown loss (eval-loss)",
        explanation: r#"The loss named on the command line is neither a stdlib loss nor defined in the `--recipe` file. The message suggests the closest stdlib name."#,
        wrong: r#"# plumb eval-loss dpoo --input rows.jsonl"#,
        right: r#"# plumb eval-loss dpo --input rows.jsonl"#,
    },
    CodeInfo {
        code: "P0511",
        title: "unreadable input rows (eval-loss)",
        explanation: r#"A line of the `--input` file is not a JSON object, or the file has no rows at all. Every non-blank line must be one JSON object."#,
        wrong: r#"# a line `pi_chosen=-3` in rows.jsonl"#,
        right: r#"# a line {"pi_chosen": -3, ...}"#,
    },
    CodeInfo {
        code: "P0512",
        title: "recipe with errors (eval-loss)",
        explanation: r#"`--recipe` names a file that does not check. Run `plumb check` on it and fix the errors first: eval-loss evaluates only recipes that check."#,
        wrong: r#"# plumb eval-loss mine --recipe broken.plumb"#,
        right: r#"# plumb check broken.plumb, fix it, then evaluate"#,
    },
    CodeInfo {
        code: "P0513",
        title: "loss that cannot be compiled (eval-loss)",
        explanation: r#"The loss checked, but it cannot be turned into a compute graph: for example it uses a construct that has no numeric meaning inside a loss. The message says which expression."#,
        wrong: r#"# a loss whose value depends on a list literal"#,
        right: r#"# compute the value from columns, parameters and model calls"#,
    },
    CodeInfo {
        code: "P0514",
        title: "GPU backend unavailable or failed (eval-loss, bench)",
        explanation: r#"`--backend gpu` needs a GPU adapter: a Vulkan (or Metal, DX12) driver and, on Linux, the Vulkan loader (`libvulkan1`). Without one, or when the device fails, the command stops with this code and the adapter's reason instead of falling back silently. Mesa's software Vulkan (`mesa-vulkan-drivers`) runs the kernels on the CPU for testing. Use `--backend cpu` for the CPU JIT or `--backend interp` for the f64 reference."#,
        wrong: r#"# plumb eval-loss dpo --backend gpu --input rows.jsonl   (on a machine without a Vulkan driver)"#,
        right: r#"# apt-get install mesa-vulkan-drivers libvulkan1, or use --backend cpu"#,
    },
    CodeInfo {
        code: "P0601",
        title: "unreadable ratings file (rank)",
        explanation: r#"The file given to `plumb rank` cannot be read, is not UTF-8, is empty, or its CSV header is not one of the two accepted forms: `item_a,item_b,winner` (one comparison per row, winner a, b or tie) or `item_a,item_b,wins_a,wins_b[,ties]` (counts). Files ending in `.jsonl` (or starting with `[`) are read as rankings, one JSON array of item names per line, best first. See docs/ratings.md."#,
        wrong: r#"# plumb rank votes.csv   with the header `left,right,result`"#,
        right: r#"# item_a,item_b,winner"#,
    },
    CodeInfo {
        code: "P0602",
        title: "bad comparison row (rank)",
        explanation: r#"A row of a pairwise CSV file has the wrong number of fields, an empty item name, an item compared with itself, a winner other than a, b or tie, or a count that is not a number ≥ 0. The message names the file and line."#,
        wrong: r#"# item_a,item_b,winner
# gpt,claude,left"#,
        right: r#"# item_a,item_b,winner
# gpt,claude,a"#,
    },
    CodeInfo {
        code: "P0603",
        title: "bad ranking line (rank)",
        explanation: r#"A line of a JSONL rankings file is not a JSON array of item names, lists fewer than two items, or lists an item twice. Each line is one ranking, best first. The message names the file and line."#,
        wrong: r#"# ["a"]"#,
        right: r#"# ["a", "b", "c"]"#,
    },
    CodeInfo {
        code: "P0604",
        title: "disconnected comparison graph (rank)",
        explanation: r#"Some items are never linked to the others by a chain of comparisons, so their abilities relative to the rest are not identified by the data: any shift of one part fits equally well. Add comparisons that link the parts, or add a prior with `--l2 λ` (e.g. 0.01), which pulls every ability towards 0 and makes the estimate unique. Also raised when there is only one item."#,
        wrong: r#"# item_a,item_b,winner
# a,b,a
# c,d,a   (a and b are never compared with c or d)"#,
        right: r#"# plumb rank votes.csv --l2 0.01"#,
    },
    CodeInfo {
        code: "P0605",
        title: "item that never wins or never loses (rank)",
        explanation: r#"Without a prior, the maximum-likelihood ability of an item that never wins is −∞ (one that never loses, +∞); the same holds for a group of items that never wins (or never loses) against the rest. Add `--l2 λ` for a finite, shrunken estimate, or collect comparisons where the item wins and loses. With `--ties half` (and with the Davidson model) a tie counts as both a win and a loss for this check."#,
        wrong: r#"# item_a,item_b,winner
# a,b,a
# a,c,a
# b,c,a
# c,b,a   (a never loses)"#,
        right: r#"# plumb rank votes.csv --l2 0.01"#,
    },
    CodeInfo {
        code: "P0606",
        title: "bad --reference or prior (rank)",
        explanation: r#"`--reference ITEM` must name an item that appears in the file, spelled exactly as there (items are strings: `000` and `0` differ), and `--l2` must be a number ≥ 0."#,
        wrong: r#"# plumb rank votes.csv --reference gpt4   (the file says gpt-4)"#,
        right: r#"# plumb rank votes.csv --reference gpt-4"#,
    },
    CodeInfo {
        code: "P0607",
        title: "model that does not fit the data (rank)",
        explanation: r#"Rankings (a JSONL file) are fitted by the Plackett–Luce model (`--model pl`, the default for rankings); Bradley–Terry, Thurstone and Davidson take pairwise CSV. A pairwise CSV may be fitted with `--model pl`, which treats each decided comparison as a two-item ranking (this equals Bradley–Terry; ties are dropped)."#,
        wrong: r#"# plumb rank rankings.jsonl --model bt"#,
        right: r#"# plumb rank rankings.jsonl --model pl"#,
    },
    CodeInfo {
        code: "P0608",
        title: "Davidson fit without ties, or with only ties (rank)",
        explanation: r#"Davidson's tie parameter ν is estimated from the share of ties: with no ties its estimate is 0, with only ties it is infinite, and neither is a finite fit. Use `--model bt` for data without ties (or `--ties half`)."#,
        wrong: r#"# plumb rank decisive_votes.csv --model davidson"#,
        right: r#"# plumb rank decisive_votes.csv --model bt"#,
    },
    CodeInfo {
        code: "P0609",
        title: "fit that did not converge (rank)",
        explanation: r#"Newton's method did not reach the tolerance (abilities stable to 1e-8) within its iteration limit, or the Hessian was singular. This points to data near the edge of identifiability (a nearly separated comparison graph); add `--l2 λ` with a small λ such as 0.01."#,
        wrong: r#"# plumb rank nearly_separated.csv"#,
        right: r#"# plumb rank nearly_separated.csv --l2 0.01"#,
    },
    CodeInfo {
        code: "P0610",
        title: "too many items for the dense solver (rank)",
        explanation: r#"`plumb rank` fits by Newton's method on a dense Hessian with one row and column per item, which takes 8·n² bytes per matrix and O(n³) time for the standard errors; it refuses more than 5 000 items (plus Davidson's tie parameter). Rank a subset of items, or merge rare items, until a sparse solver is added."#,
        wrong: r#"# plumb rank votes_over_20000_items.csv"#,
        right: r#"# plumb rank votes_top_5000_items.csv"#,
    },
    CodeInfo {
        code: "P0611",
        title: "backend that cannot run the fit's kernels (rank)",
        explanation: r#"The fit's Newton iterations evaluate their per-pair (or per-position) terms as fused f64 kernels on the chosen backend, and that backend could not compile or run them. With `--backend gpu` this means: no GPU adapter was found (install a Vulkan driver; for software Vulkan `apt-get install mesa-vulkan-drivers libvulkan1` and set `WGPU_BACKEND=vulkan`), the device lacks 64-bit floats or integers in shaders (`SHADER_F64`, `SHADER_INT64`: most integrated and mobile GPUs), or the device failed during the fit. The message names the cause. The CPU backend (the default) runs every fit."#,
        wrong: r#"# plumb rank votes.csv --backend gpu   (on a machine without a GPU driver)"#,
        right: r#"# plumb rank votes.csv"#,
    },
    CodeInfo {
        code: "P0701",
        title: "model folder or file not found (model)",
        explanation: r#"The folder given to `--model` (of `plumb logprobs`, `plumb generate` or `plumb score`) does not exist, is not a folder, or lacks one of the three files Plumb reads: config.json, model.safetensors and tokenizer.json. Also raised when one of them cannot be read, and when a model or a training checkpoint cannot be written (a read-only folder, a full disk). Plumb reads Hugging Face folders whose weights are in one model.safetensors file: PyTorch `pytorch_model.bin` files and sharded weights (model-00001-of-00002.safetensors and an index) are not read. Save the model with `model.save_pretrained(dir, safe_serialization=True, max_shard_size="100GB")` and its tokenizer with `tokenizer.save_pretrained(dir)`, which writes tokenizer.json."#,
        wrong: r#"# plumb logprobs --model models/tiny --input rows.jsonl
# where models/tiny/ holds config.json and pytorch_model.bin"#,
        right: r#"# plumb logprobs --model models/tiny --input rows.jsonl
# where models/tiny/ holds config.json, model.safetensors and tokenizer.json"#,
    },
    CodeInfo {
        code: "P0702",
        title: "invalid or unsupported config.json (model)",
        explanation: r#"config.json is not valid JSON (the message gives its line and column), lacks a field the architecture needs (`n_embd`, `hidden_size`, `num_attention_heads`, ...), has a field of the wrong type or an inconsistent one (heads that do not divide the hidden size), or describes a model Plumb does not implement. Plumb runs `model_type` "gpt2" and "llama" with the architectures GPT2LMHeadModel, LlamaForCausalLM (causal LMs), GPT2ForSequenceClassification and LlamaForSequenceClassification (reward models). Options that change what the network computes and that Plumb does not implement are refused by name rather than ignored, because ignoring them would give numbers that differ from transformers': `rope_scaling` or a `rope_type` other than "default", `scale_attn_by_inverse_layer_idx` = true, `scale_attn_weights` = false, an unknown activation. Use a model of a supported architecture; do not delete the option from config.json, since the weights were trained with it."#,
        wrong: r#"# config.json
# {"model_type": "llama", "rope_scaling": {"rope_type": "linear", "factor": 2.0}, ...}"#,
        right: r#"# config.json
# {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "rope_theta": 10000.0, ...}"#,
    },
    CodeInfo {
        code: "P0703",
        title: "weights that do not fit the config (model)",
        explanation: r#"model.safetensors (or value_head.safetensors) is not a safetensors file or is truncated, lacks a tensor the config implies, has a tensor of another shape than the config implies, stores a tensor in a type other than F32, F16, BF16 or F64, or holds a tensor the model does not use. The message names the file and the tensor, and for a missing tensor lists similar names that are present (often the same tensor under another prefix, as when the weights of a bare `LlamaModel` are given for `LlamaForCausalLM`). Most of the time config.json and the weights come from different models, or a download or copy was cut short: take both files from the same `save_pretrained` folder."#,
        wrong: r#"# config.json says "hidden_size": 64, but model.safetensors comes from a model with
# hidden size 32: tensor `model.embed_tokens.weight` has shape [384, 32], the config implies [384, 64]"#,
        right: r#"# config.json and model.safetensors saved together by save_pretrained"#,
    },
    CodeInfo {
        code: "P0704",
        title: "tokenizer that does not fit the model (model)",
        explanation: r#"tokenizer.json cannot be read by the Hugging Face `tokenizers` library (it is not JSON, or not a fast tokenizer's file), a text cannot be encoded, or the tokenizer can produce token ids the model has no embedding for: its vocabulary, added tokens included, is larger than `vocab_size` in config.json. The last means the tokenizer and the weights come from different models, or tokens were added to the tokenizer without resizing the model's embeddings. Use the tokenizer saved with the model, or call `model.resize_token_embeddings(len(tokenizer))` before saving both."#,
        wrong: r#"# tokenizer.json of a 50 257-token tokenizer next to a config.json with "vocab_size": 384"#,
        right: r#"# tokenizer.json saved with the model (tokenizer.save_pretrained(dir))"#,
    },
    CodeInfo {
        code: "P0705",
        title: "malformed input row (model)",
        explanation: r#"A row of the `--input` file of `plumb logprobs` or `plumb score` is not a JSON object, lacks `prompt` or `completion`, or has an empty one; the prompt given to `plumb generate` is empty; or a sequence of token ids handed to the model holds an id outside its vocabulary. The message names the row. Log-probs and scores are of a non-empty completion given a non-empty prompt. Prompt and completion are tokenized separately and joined, without special tokens, so put the space that separates them at the start of the completion."#,
        wrong: r#"# rows.jsonl
# {"prompt": "Q: What is 2 + 2? A:", "answer": "4"}"#,
        right: r#"# rows.jsonl
# {"prompt": "Q: What is 2 + 2? A:", "completion": " 4"}"#,
    },
    CodeInfo {
        code: "P0706",
        title: "sequence longer than the model's context (model)",
        explanation: r#"A row's prompt and completion together have more tokens than the model's context (`n_positions` of GPT-2, `max_position_embeddings` of Llama), or, in `plumb generate`, the prompt's tokens plus `--max-new` do. Plumb does not truncate rows silently, since that would change the log-probs or scores asked for. Shorten the row, lower `--max-new` (the help line gives the largest value that fits), or use a model with a longer context."#,
        wrong: r#"# plumb generate --model models/tiny --prompt "Once upon a time" --max-new 100
# (a context of 64 tokens, a prompt of 10)"#,
        right: r#"# plumb generate --model models/tiny --prompt "Once upon a time" --max-new 54"#,
    },
    CodeInfo {
        code: "P0707",
        title: "generation or training option out of range (model)",
        explanation: r#"An option of `plumb generate` is outside its range: `--temperature` must be a number ≥ 0 (0 picks the most likely token), `--top-p` must be in (0, 1], `--top-k` at least 1 (leave it out to keep every token) and `--max-new` at least 1. During training the same code reports a gradient whose norm is not finite (NaN or infinite: lower the learning rate, or look for a loss that overflows) and an upstream gradient whose shape does not match the model output it belongs to."#,
        wrong: r#"# plumb generate --model models/tiny --prompt "Once" --top-p 0"#,
        right: r#"# plumb generate --model models/tiny --prompt "Once" --top-p 0.9"#,
    },
    CodeInfo {
        code: "P0708",
        title: "model without the head asked for (model)",
        explanation: r#"`plumb logprobs` and `plumb generate` need a causal language model (GPT2LMHeadModel, LlamaForCausalLM), whose head gives next-token logits; `plumb score` needs a reward model (GPT2ForSequenceClassification, LlamaForSequenceClassification), whose head gives one score per row. A model of the other kind has no such head, and Plumb does not invent one. Per-token values likewise need a value head (value_head.safetensors, as TRL saves it). Check the `architectures` field of the folder's config.json, and pass the policy to `plumb logprobs` and `plumb generate` and the reward model to `plumb score`."#,
        wrong: r#"# plumb score --model models/policy --input rows.jsonl
# (config.json: "architectures": ["LlamaForCausalLM"])"#,
        right: r#"# plumb score --model models/reward --input rows.jsonl
# (config.json: "architectures": ["LlamaForSequenceClassification"])"#,
    },
    CodeInfo {
        code: "P0709",
        title: "unreadable or mismatched training checkpoint (model)",
        explanation: r#"A training checkpoint cannot be resumed from: the file is missing, truncated or corrupt, is not a Plumb training checkpoint (for example a model.safetensors given in its place), lacks the step or RNG state, or belongs to another model (a tensor is missing, unexpected or of another shape; the message names it). Checkpoints hold the parameters, the AdamW moments and step, the sampler's RNG state and the trainer's position, and are written atomically (a temporary file renamed over the old one), so an interrupted run never leaves half a checkpoint under its name; damage comes from copying or the disk. A refused checkpoint changes nothing: resume from an earlier checkpoint of the same model, or start the run again."#,
        wrong: r#"# resuming a Llama run from a checkpoint written while training a GPT-2 model
# (missing tensor `param/lm_head.weight`)"#,
        right: r#"# resuming from the latest checkpoint that the same run wrote"#,
    },
    CodeInfo {
        code: "P0710",
        title: "libtorch failure (model)",
        explanation: r#"libtorch, the tensor library the model commands (`plumb logprobs`, `plumb generate`, `plumb score`) and training run on, reported an error; the message carries its text. The usual causes are running out of memory (lower `--batch`, or use a smaller model) and a libtorch installation that does not match the one Plumb was built against (run scripts/setup-libtorch.sh and rebuild). If it happens with a valid model and valid input, it is a bug in Plumb: please report it with the command line and the message."#,
        wrong: r#"# plumb logprobs --model models/large --input rows.jsonl --batch 512
# (more activations than memory holds)"#,
        right: r#"# plumb logprobs --model models/large --input rows.jsonl --batch 16"#,
    },
    CodeInfo {
        code: "P0801",
        title: "path outside the project (run)",
        explanation: r#"A path in the recipe (a data file, a model folder) resolves outside the project root, the nearest folder above the recipe that holds a `plumb.toml` file (or the recipe's own folder when there is none). `plumb run` only reads and writes inside the project, so a shared recipe cannot touch files elsewhere on the machine. Move the file into the project, or put `plumb.toml` in a folder that contains both."#,
        wrong: r#"# let prefs = jsonl("../../secrets/pairs.jsonl") as Pairwise"#,
        right: r#"# let prefs = jsonl("data/pairs.jsonl") as Pairwise"#,
    },
    CodeInfo {
        code: "P0802",
        title: "cache or project file I/O failure (run)",
        explanation: r#"Reading, hashing, writing or renaming a file of the project or of its cache under `.plumb/` failed (permissions, a full disk, a symbolic link where a file was expected). The message names the file. Writes are atomic, so a failure leaves the previous contents intact; fix the cause and run again."#,
        wrong: r#"# plumb run recipe.plumb   (with .plumb/ not writable)"#,
        right: r#"# chmod u+w .plumb && plumb run recipe.plumb"#,
    },
    CodeInfo {
        code: "P0803",
        title: "cannot take the project lock (run)",
        explanation: r#"`plumb run` and `plumb gc` hold an exclusive lock on `.plumb/lock` while they use the cache, so two runs on one project never corrupt it; a second run waits for the first. This error means the lock file could not be opened or locked at all (for example on a file system without locks)."#,
        wrong: r#"# plumb run recipe.plumb   (on a file system without flock)"#,
        right: r#"# run the project from a local disk"#,
    },
    CodeInfo {
        code: "P0810",
        title: "stage that plumb run does not run yet",
        explanation: r#"The recipe checks, but `plumb run` cannot execute this part of it yet: nested `repeat` loops, token-level (PPO-style) losses in train stages, other optimizers than adamw, or sampler/selector items. docs/runtime.md lists what runs today. The rest of Plumb (check, eval-loss, rank) handles these recipes."#,
        wrong: r#"# repeat 2 { repeat 2 { ... } }   (in a recipe given to plumb run)"#,
        right: r#"# train policy on parts.train { loss = dpo(beta = 0.1) }"#,
    },
    CodeInfo {
        code: "P0811",
        title: "recipe value plumb run cannot evaluate",
        explanation: r#"A stage option, data source or model is written in a form the planner cannot evaluate before running: for example a path that is not a string literal, a loss parameter that is an expression rather than a number, or data that is not a loaded file or a split part. Write literals, or bind the value with `let`."#,
        wrong: r#"# train policy on parts.train { loss = dpo(beta = base * 2) }"#,
        right: r#"# train policy on parts.train { loss = dpo(beta = 0.2) }"#,
    },
    CodeInfo {
        code: "P0812",
        title: "unknown judge (run)",
        explanation: r#"`judge(NAME)` names a programmatic judge; the shipped one is "sentiment" (docs/judge.md), a lexicon judge that prefers positive reviews. A reward model can judge too: pass it where a judge is expected."#,
        wrong: r#"# model j = judge("toxicity")"#,
        right: r#"# model j = judge("sentiment")"#,
    },
    CodeInfo {
        code: "P0813",
        title: "bad --set override (run, status)",
        explanation: r#"`--set STAGE.OPTION=VALUE` overrides one option of one stage, addressed by the stage's name as `plumb status` lists it (e.g. `train.policy.epochs=1`, `train.policy.lr=5e-5`, `train.policy.beta=0.2`, `split.parts.holdout=0.2`). The stage must exist, have that option, and the value must be a number. Overrides change the stage's key and are recorded in the run manifest."#,
        wrong: r#"# plumb run quickstart.plumb --set policy.epochs=1"#,
        right: r#"# plumb run quickstart.plumb --set train.policy.epochs=1"#,
    },
    CodeInfo {
        code: "P0820",
        title: "malformed data file or row (run)",
        explanation: r#"A data file does not match its schema: a row that is not a JSON object (JSONL), has the wrong number of fields (CSV) or is not a Parquet file, a missing required field, a field of the wrong type, an empty text field, or a file with no rows. The message names the file and line. Fix the row or the schema; nothing downstream runs on data that failed validation."#,
        wrong: r#"# {"prompt": "The kettle", "chosen": 3}   (chosen must be text; rejected is missing)"#,
        right: r#"# {"prompt": "The kettle", "chosen": " is great.", "rejected": " broke."}"#,
    },
    CodeInfo {
        code: "P0821",
        title: "stage failed (run)",
        explanation: r#"A stage of `plumb run` could not finish: a model folder that is missing, a loss that became NaN or infinite during training (the message names the stage, the loss and the step), or an input the stage needs. The stage's partial output is discarded; its training checkpoint is kept, so after fixing the cause the next run resumes where it stopped."#,
        wrong: r#"# a train stage whose learning rate makes the loss diverge to NaN"#,
        right: r#"# optimizer = adamw(lr = 1e-5)"#,
    },
];
