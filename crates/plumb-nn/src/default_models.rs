//! Builds the embedded default models and the demo's preference data from the
//! review corpus of plumb-judge: a byte-level BPE tokenizer, a tiny Llama
//! policy fine-tuned on the reviews (with the stdlib `nll` loss), a tiny GPT-2
//! reward model fitted to judge-labelled pairs (with `reward_bt`), and
//! preference pairs (and KTO feedback) sampled from the policy and labelled by the judge.

use crate::objective::Objective;
use crate::train::{Example, StepMetrics, Threads, TrainOptions, train};
use plumb_model::error::codes;
use plumb_model::{Decay, Model, ModelConfig, ModelError, SampleOptions, Tokenizer};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args, Debug, Clone)]
pub struct MakeArgs {
    /// Where the model folders go (tiny/, the policy, and tiny-rm/, the reward model).
    #[arg(long, default_value = "examples/models")]
    pub out: PathBuf,
    /// Where the demo data goes (review_pairs.jsonl, prompts.jsonl, feedback.jsonl).
    #[arg(long, default_value = "examples/data")]
    pub data: PathBuf,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Reviews in the fine-tuning corpus.
    #[arg(long, default_value_t = 12000)]
    pub reviews: usize,
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// libtorch threads (results are bitwise reproducible for a fixed count).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

pub const EOS: &str = "<|endoftext|>";
pub const VOCAB: usize = 512;
pub const CONTEXT: usize = 128;

fn io_error(path: &Path, error: impl std::fmt::Display) -> ModelError {
    ModelError::new(codes::MISSING, format!("{}: {error}", path.display()))
}

/// Trains the byte-level BPE tokenizer (GPT-2's layout, `<|endoftext|>` = id 0).
pub fn train_tokenizer(texts: &[String]) -> Result<Tokenizer, ModelError> {
    use tokenizers::models::TrainerWrapper;
    use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;
    let fail = |e: tokenizers::Error| ModelError::new(codes::TOKENIZER, format!("training the tokenizer: {e}"));
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(VOCAB)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(vec![tokenizers::AddedToken::from(EOS, true)])
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    let mut tokenizer = tokenizers::Tokenizer::new(BPE::default());
    tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tokenizer.with_decoder(Some(ByteLevel::default()));
    tokenizer.train(&mut trainer, texts.iter()).map_err(fail)?;
    let json = tokenizer.to_string(true).map_err(fail)?;
    Tokenizer::from_bytes(json.into_bytes(), Path::new("tokenizer.json"))
}

fn policy_config(vocab: usize) -> serde_json::Value {
    json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": vocab,
        "hidden_size": 96,
        "intermediate_size": 256,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 24,
        "max_position_embeddings": CONTEXT,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "hidden_act": "silu",
        "tie_word_embeddings": false,
        "attention_bias": false,
        "mlp_bias": false,
        "bos_token_id": 0,
        "eos_token_id": 0,
        "pad_token_id": 0,
        "torch_dtype": "float32"
    })
}

fn reward_config(vocab: usize) -> serde_json::Value {
    json!({
        "architectures": ["GPT2ForSequenceClassification"],
        "model_type": "gpt2",
        "vocab_size": vocab,
        "n_embd": 64,
        "n_layer": 2,
        "n_head": 4,
        "n_positions": CONTEXT,
        "n_inner": null,
        "activation_function": "gelu_new",
        "layer_norm_epsilon": 1e-5,
        "num_labels": 1,
        "id2label": {"0": "LABEL_0"},
        "label2id": {"LABEL_0": 0},
        "bos_token_id": 0,
        "eos_token_id": 0,
        "pad_token_id": 0,
        "torch_dtype": "float32"
    })
}

fn new_model(config: serde_json::Value, tokenizer: &Tokenizer, seed: u64) -> Result<Model, ModelError> {
    let config = ModelConfig::parse(&config.to_string(), Path::new("config.json"))?;
    let tokenizer = Tokenizer::from_bytes(tokenizer.json.clone(), Path::new("tokenizer.json"))?;
    Model::init(config, tokenizer, seed)
}

fn progress(label: &'static str) -> impl FnMut(&StepMetrics, &Model) {
    let start = Instant::now();
    move |m: &StepMetrics, _: &Model| {
        if m.step.is_multiple_of(25) || m.step == m.total_steps {
            let extra = m.accuracy.map_or(String::new(), |a| format!("  accuracy {a:.2}"));
            eprintln!(
                "{label}: step {:>4}/{}  loss {:.4}{extra}  lr {:.2e}  {:.0}s",
                m.step,
                m.total_steps,
                m.loss,
                m.lr,
                start.elapsed().as_secs_f64()
            );
        }
    }
}

fn compile(name: &str) -> Result<Objective, ModelError> {
    Objective::compile(name, &[], None).map_err(|e| ModelError::new(e.code, e.message))
}

/// Builds everything; writes models/tiny-policy, models/tiny-reward and examples/data/reviews_pairs.jsonl.
pub fn make(args: &MakeArgs) -> Result<(), ModelError> {
    tch::set_num_threads(args.threads as i32);
    let corpus = plumb_judge::corpus(args.seed, args.reviews);
    let texts: Vec<String> = corpus.iter().map(|r| r.text()).collect();
    let tokenizer = train_tokenizer(&texts)?;
    let eos = tokenizer.token_id(EOS).ok_or_else(|| ModelError::new(codes::TOKENIZER, "no EOS token"))?;
    eprintln!("tokenizer: {} tokens", tokenizer.vocab_size());

    // The policy: next-token prediction on the reviews (completion + EOS given the prompt).
    let mut policy = new_model(policy_config(VOCAB), &tokenizer, args.seed)?;
    let mut sft = Vec::with_capacity(corpus.len());
    for review in &corpus {
        let mut completion = tokenizer.encode(&review.completion)?;
        completion.push(eos);
        sft.push(Example {
            prompt: tokenizer.encode(&review.prompt)?,
            completions: BTreeMap::from([("completion".to_string(), completion)]),
            fixed: BTreeMap::new(),
        });
    }
    let options = TrainOptions {
        batch_size: 32,
        epochs: args.epochs,
        lr: 3e-3,
        warmup_steps: 20,
        decay: Decay::Cosine,
        seed: args.seed,
        threads: Threads { objective: 1, model: args.threads },
        ..TrainOptions::default()
    };
    train(&mut policy, &compile("nll")?, &sft, &options, progress("policy"))?;
    let policy_dir = args.out.join("tiny");
    policy.save(&policy_dir)?;

    // The reward model: Bradley–Terry on judge-labelled pairs of corpus reviews with the same prompt.
    let mut reward = new_model(reward_config(VOCAB), &tokenizer, args.seed + 1)?;
    let mut by_prompt: BTreeMap<&str, Vec<&plumb_judge::Review>> = BTreeMap::new();
    for review in &corpus {
        by_prompt.entry(review.prompt.as_str()).or_default().push(review);
    }
    let mut pairs = Vec::new();
    for reviews in by_prompt.values() {
        for two in reviews.chunks_exact(2) {
            let (a, b) = (&two[0].completion, &two[1].completion);
            if let Some((chosen, rejected)) = plumb_judge::label_pair(a, b) {
                pairs.push(Example {
                    prompt: tokenizer.encode(&two[0].prompt)?,
                    completions: BTreeMap::from([
                        ("chosen".to_string(), tokenizer.encode(chosen)?),
                        ("rejected".to_string(), tokenizer.encode(rejected)?),
                    ]),
                    fixed: BTreeMap::new(),
                });
            }
        }
    }
    let options = TrainOptions { lr: 2e-3, seed: args.seed + 1, ..options };
    train(&mut reward, &compile("reward_bt")?, &pairs, &options, progress("reward"))?;
    let reward_dir = args.out.join("tiny-rm");
    reward.save(&reward_dir)?;

    // Demo data: samples from the policy, labelled by the judge.
    let policy = Model::load(&policy_dir)?;
    let mut pairs = Vec::new();
    let mut feedback = Vec::new();
    let mut prompts = Vec::new();
    for (p, prompt_text) in plumb_judge::prompts().iter().enumerate() {
        prompts.push(json!({"prompt": prompt_text}).to_string());
        let prompt = tokenizer.encode(prompt_text)?;
        let options = SampleOptions {
            temperature: 1.0,
            max_new: 48,
            seed: args.seed * 1000 + p as u64,
            ..SampleOptions::default()
        };
        let samples = policy.generate(&vec![prompt; 120], &options)?;
        let texts: Vec<String> = samples.iter().map(|ids| tokenizer.decode(ids)).collect::<Result<_, _>>()?;
        for two in texts.chunks_exact(2) {
            let (a, b) = (two[0].as_str(), two[1].as_str());
            let gap = (plumb_judge::sentiment(a) - plumb_judge::sentiment(b)).abs();
            if a.trim().is_empty() || b.trim().is_empty() || gap < 0.2 {
                continue;
            }
            if let Some((chosen, rejected)) = plumb_judge::label_pair(a, b) {
                pairs.push(json!({"prompt": prompt_text, "chosen": chosen, "rejected": rejected}).to_string());
            }
        }
        for text in texts.iter().take(10) {
            let score = plumb_judge::sentiment(text);
            if !text.trim().is_empty() && score != 0.0 {
                feedback.push(json!({"prompt": prompt_text, "completion": text, "label": score > 0.0}).to_string());
            }
        }
    }
    std::fs::create_dir_all(&args.data).map_err(|e| io_error(&args.data, e))?;
    for (name, lines) in [("review_pairs.jsonl", &pairs), ("prompts.jsonl", &prompts), ("feedback.jsonl", &feedback)] {
        plumb_model::weights::write_atomic(&args.data.join(name), (lines.join("\n") + "\n").as_bytes())?;
    }
    eprintln!(
        "wrote {}, {} and {} ({} pairs, {} prompts, {} feedback rows)",
        policy_dir.display(),
        reward_dir.display(),
        args.data.display(),
        pairs.len(),
        prompts.len(),
        feedback.len()
    );
    Ok(())
}
