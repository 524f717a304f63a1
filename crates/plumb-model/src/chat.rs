//! Conversational rows (Hugging Face `messages`: lists of `{role, content}`)
//! rendered to text with the model folder's chat template
//! (`tokenizer_config.json` `chat_template`, Jinja) or, without one, a plain
//! `role: content` layout.

use crate::error::{ModelError, Result, codes};
use crate::model::Model;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// The messages of a conversational value, or None for anything else.
pub fn messages(value: &Value) -> Option<Vec<Message>> {
    value
        .as_array()?
        .iter()
        .map(|m| Some(Message { role: m["role"].as_str()?.to_string(), content: m["content"].as_str()?.to_string() }))
        .collect()
}

impl Model {
    /// The folder's chat template, if `tokenizer_config.json` has one (a string, or the `default` of a list).
    pub fn chat_template(&self) -> Option<String> {
        let (_, bytes) = self.extra_files.iter().find(|(n, _)| n == "tokenizer_config.json")?;
        let config: Value = serde_json::from_slice(bytes).ok()?;
        match &config["chat_template"] {
            Value::String(t) => Some(t.clone()),
            Value::Array(list) => list
                .iter()
                .find(|t| t["name"] == "default")
                .or(list.first())
                .and_then(|t| t["template"].as_str())
                .map(String::from),
            _ => None,
        }
    }

    fn special(&self, key: &str) -> String {
        let from_config = self.extra_files.iter().find(|(n, _)| n == "tokenizer_config.json").and_then(|(_, b)| {
            let config: Value = serde_json::from_slice(b).ok()?;
            match &config[key] {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o.get("content").and_then(Value::as_str).map(String::from),
                _ => None,
            }
        });
        from_config.unwrap_or_else(|| if key == "eos_token" { "<|endoftext|>".into() } else { String::new() })
    }

    /// Renders messages as the model expects them.
    pub fn render_chat(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String> {
        let Some(template) = self.chat_template() else {
            let mut text: String = messages.iter().map(|m| format!("{}: {}\n", m.role, m.content)).collect();
            if add_generation_prompt {
                text.push_str("assistant:");
            }
            return Ok(text);
        };
        let mut env = minijinja::Environment::new();
        env.add_function("raise_exception", |message: String| -> std::result::Result<String, minijinja::Error> {
            Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, message))
        });
        let fail = |e: minijinja::Error| {
            ModelError::new(codes::TOKENIZER, format!("the chat template of tokenizer_config.json: {e}"))
        };
        env.add_template("chat", &template).map_err(fail)?;
        let context = minijinja::context! {
            messages => messages
                .iter()
                .map(|m| minijinja::Value::from_pairs([("role", m.role.as_str()), ("content", m.content.as_str())]))
                .collect::<minijinja::Value>(),
            add_generation_prompt => add_generation_prompt,
            bos_token => self.special("bos_token"),
            eos_token => self.special("eos_token"),
        };
        env.get_template("chat").and_then(|t| t.render(context)).map_err(fail)
    }

    /// Prompt and completion text of a row's values: plain strings as they are,
    /// or conversations rendered so that the completion is what the template
    /// adds after the prompt's generation prompt (as TRL does).
    pub fn row_texts(&self, prompt: &Value, completion: &Value, row: &str) -> Result<(String, String)> {
        match (prompt, completion) {
            (Value::String(p), Value::String(c)) => Ok((p.clone(), c.clone())),
            _ => {
                let (Some(p), Some(c)) = (messages(prompt), messages(completion)) else {
                    return Err(ModelError::new(
                        codes::ROW,
                        format!(
                            "{row}: prompt and completion must both be text or both be lists of {{role, content}} messages"
                        ),
                    ));
                };
                let head = self.render_chat(&p, true)?;
                let whole = self.render_chat(&[p, c.clone()].concat(), false)?;
                let tail = match whole.strip_prefix(&head) {
                    Some(tail) => tail.to_string(),
                    None => self.render_chat(&c, false)?,
                };
                Ok((head, tail))
            }
        }
    }

    /// A prompt value as text for generation (a conversation ends with the generation prompt).
    pub fn prompt_text(&self, prompt: &Value, row: &str) -> Result<String> {
        match prompt {
            Value::String(p) => Ok(p.clone()),
            other => match messages(other) {
                Some(m) => self.render_chat(&m, true),
                None => {
                    Err(ModelError::new(codes::ROW, format!("{row}: the prompt must be text or a list of messages")))
                }
            },
        }
    }
}
