//! The options each stage and options block accepts, with their kinds, and the
//! names users bring from other trainers (mapped to what to write instead).

/// What an option's value must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionKind {
    Loss,
    /// An opaque stdlib value of this type name (`Optimizer`, `Schedule`, `Selector`).
    Opaque(&'static str),
    Model,
    /// An integer ≥ the bound.
    IntAtLeast(i64),
    /// A float > 0.
    PositiveFloat,
    /// A float ≥ 0.
    NonNegativeFloat,
    /// A float in (0, 1].
    Probability,
    /// A text literal, one of these.
    OneOf(&'static [&'static str]),
}

impl OptionKind {
    pub fn describe(self) -> String {
        match self {
            OptionKind::Loss => "a loss, e.g. `dpo(beta = 0.1)`".into(),
            OptionKind::Opaque(name) => format!("a value of type {name}"),
            OptionKind::Model => "a model".into(),
            OptionKind::IntAtLeast(0) => "a non-negative integer".into(),
            OptionKind::IntAtLeast(1) => "a positive integer".into(),
            OptionKind::IntAtLeast(n) => format!("an integer ≥ {n}"),
            OptionKind::PositiveFloat => "a number > 0".into(),
            OptionKind::NonNegativeFloat => "a number ≥ 0".into(),
            OptionKind::Probability => "a number in (0, 1]".into(),
            OptionKind::OneOf(choices) => {
                format!("one of {}", choices.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", "))
            }
        }
    }
}

pub type OptionTable = &'static [(&'static str, OptionKind, &'static str)];

/// Options of `train MODEL on DATA { ... }`.
pub const TRAIN_OPTIONS: OptionTable = &[
    ("loss", OptionKind::Loss, "the objective to minimise (required)"),
    ("optimizer", OptionKind::Opaque("Optimizer"), "the optimizer, default adamw()"),
    ("schedule", OptionKind::Opaque("Schedule"), "the learning-rate schedule"),
    ("reference", OptionKind::Model, "the model bound to the loss's `reference` role"),
    ("batch", OptionKind::IntAtLeast(1), "examples per optimizer step"),
    ("micro_batch", OptionKind::IntAtLeast(1), "examples per forward pass; must divide batch"),
    ("epochs", OptionKind::IntAtLeast(1), "passes over the data"),
    ("max_steps", OptionKind::IntAtLeast(1), "optimizer steps (instead of epochs)"),
    ("warmup", OptionKind::IntAtLeast(0), "warm-up steps"),
    ("seed", OptionKind::IntAtLeast(0), "the stage's seed"),
    ("max_len", OptionKind::IntAtLeast(1), "tokens of prompt + completion kept"),
    ("max_prompt_len", OptionKind::IntAtLeast(1), "tokens of prompt kept"),
    ("grad_clip", OptionKind::PositiveFloat, "gradient norm clipping"),
    ("checkpoint_every", OptionKind::IntAtLeast(1), "steps between checkpoints"),
    ("kl_every", OptionKind::IntAtLeast(0), "steps between sampled KL-to-reference estimates; 0 turns them off"),
];

/// Options of `fit NAME = MODEL(...) { ... }`.
pub const FIT_OPTIONS: OptionTable = &[
    ("tolerance", OptionKind::PositiveFloat, "convergence tolerance on the abilities (default 1e-8)"),
    ("max_iterations", OptionKind::IntAtLeast(1), "Newton iteration limit (default 200)"),
    ("reference", OptionKind::Opaque("Text"), "the item fixed at ability 0"),
    (
        "ties",
        OptionKind::OneOf(&["ignore", "half"]),
        "bradley_terry and thurstone: drop ties, or count each as half a win for each side",
    ),
    ("backend", OptionKind::OneOf(&["cpu", "gpu"]), "where the fit's kernels run (default cpu)"),
];

/// Options of `sampler NAME { ... }`.
pub const SAMPLER_OPTIONS: OptionTable = &[
    ("n", OptionKind::IntAtLeast(1), "completions per prompt"),
    ("temperature", OptionKind::NonNegativeFloat, "sampling temperature; 0 is greedy"),
    ("top_k", OptionKind::IntAtLeast(0), "keep the k most likely tokens; 0 is off"),
    ("top_p", OptionKind::Probability, "nucleus sampling mass"),
    ("max_new", OptionKind::IntAtLeast(1), "new tokens at most"),
    ("seed", OptionKind::IntAtLeast(0), "sampling seed"),
];

/// Options of `selector NAME { ... }`.
pub const SELECTOR_OPTIONS: OptionTable = &[
    ("by", OptionKind::Opaque("Selector"), "how pairs are formed, e.g. best_vs_worst()"),
    ("min_margin", OptionKind::NonNegativeFloat, "drop pairs whose scores differ by less"),
    ("top", OptionKind::IntAtLeast(1), "keep this many per prompt"),
];

/// Option names from other trainers, and what to write instead.
pub const FOREIGN_OPTIONS: &[(&str, &str)] = &[
    ("lr", "set the learning rate on the optimizer: `optimizer = adamw(lr = 1e-4)`"),
    ("learning_rate", "set the learning rate on the optimizer: `optimizer = adamw(lr = 1e-4)`"),
    ("beta", "`beta` is a parameter of the loss: `loss = dpo(beta = 0.1)`"),
    ("label_smoothing", "`label_smoothing` is a parameter of the loss: `loss = dpo(label_smoothing = 0.1)`"),
    ("loss_type", "name the loss itself: `loss = ipo()` instead of a loss type string"),
    ("ref_model", "the option is called `reference`"),
    ("per_device_train_batch_size", "the option is called `batch`"),
    ("batch_size", "the option is called `batch`"),
    ("train_batch_size", "the option is called `batch`"),
    ("gradient_accumulation_steps", "set `micro_batch`; accumulation is batch / micro_batch"),
    ("num_train_epochs", "the option is called `epochs`"),
    ("num_epochs", "the option is called `epochs`"),
    ("max_length", "the option is called `max_len`"),
    ("max_prompt_length", "the option is called `max_prompt_len`"),
    ("warmup_steps", "the option is called `warmup`"),
    ("max_grad_norm", "the option is called `grad_clip`"),
    ("precompute_ref_log_probs", "not needed: reference log-probs are hoisted into a cached stage automatically"),
    ("weight_decay", "set it on the optimizer: `optimizer = adamw(weight_decay = 0.01)`"),
    ("lr_scheduler_type", "the option is called `schedule`, e.g. `schedule = cosine(warmup = 100)`"),
];
