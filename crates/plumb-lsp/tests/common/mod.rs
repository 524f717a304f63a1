//! A minimal LSP client for tests and the latency bench: starts the `plumb-lsp`
//! binary as a child process and speaks JSON-RPC over its stdin/stdout.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

pub const TIMEOUT: Duration = Duration::from_secs(30);

pub struct Client {
    child: Child,
    stdin: ChildStdin,
    incoming: Receiver<Value>,
    next_id: i64,
    /// Notifications received while waiting for something else.
    pub notifications: Vec<Value>,
}

impl Client {
    /// Starts the server and initializes it.
    pub fn start() -> Client {
        let mut client = Client::spawn();
        let result = client.request("initialize", json!({ "processId": null, "rootUri": null, "capabilities": {} }));
        assert!(result["capabilities"]["hoverProvider"].as_bool().unwrap_or(false), "{result}");
        client.notify("initialized", json!({}));
        client
    }

    /// Starts the server without initializing it.
    pub fn spawn() -> Client {
        let mut child = Command::new(env!("CARGO_BIN_EXE_plumb-lsp"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the plumb-lsp binary starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, incoming) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(value) = line.strip_prefix("Content-Length: ") {
                        length = value.parse::<usize>().ok();
                    }
                }
                let Some(length) = length else { return };
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let Ok(message) = serde_json::from_slice::<Value>(&body) else { return };
                if sender.send(message).is_err() {
                    return;
                }
            }
        });
        Client { child, stdin, incoming, next_id: 0, notifications: Vec::new() }
    }

    pub fn send(&mut self, message: &Value) {
        let body = message.to_string();
        let framed = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        self.stdin.write_all(framed.as_bytes()).expect("write to the server");
        self.stdin.flush().expect("flush");
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request; returns its id.
    pub fn send_request(&mut self, method: &str, params: Value) -> i64 {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        id
    }

    /// Waits for the response to request `id` (the whole message).
    pub fn response(&mut self, id: i64) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let message = self.next_message(deadline).unwrap_or_else(|| panic!("no response to request {id}"));
            if message.get("id") == Some(&json!(id)) && message.get("method").is_none() {
                return message;
            }
            self.notifications.push(message);
        }
    }

    /// Sends a request and returns its result; panics on an error response.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        let response = self.response(id);
        assert!(response.get("error").is_none(), "{method} failed: {response}");
        response["result"].clone()
    }

    fn next_message(&mut self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.incoming.recv_timeout(left).ok()
    }

    /// Waits for `publishDiagnostics` for `uri` with `version` (`None`: the one
    /// without a version, sent when a document is closed); returns its
    /// diagnostics. Earlier publications for `uri` are consumed.
    pub fn diagnostics(&mut self, uri: &str, version: Option<i64>) -> Vec<Value> {
        let matches = |m: &Value| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri
                && m["params"]["version"] == json!(version)
        };
        if let Some(i) = self.notifications.iter().position(matches) {
            let found = self.notifications.remove(i);
            self.notifications
                .retain(|m| !(m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri));
            return found["params"]["diagnostics"].as_array().cloned().unwrap_or_default();
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let message =
                self.next_message(deadline).unwrap_or_else(|| panic!("no diagnostics for {uri} version {version:?}"));
            if matches(&message) {
                return message["params"]["diagnostics"].as_array().cloned().unwrap_or_default();
            }
            if message.get("method").is_some() && message.get("id").is_some() {
                continue; // a request from the server; none are expected
            }
            self.notifications.push(message);
        }
    }

    pub fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "plumb", "version": 1, "text": text } }),
        );
    }

    /// One ranged change: (start line, start character, end line, end character).
    pub fn change(&mut self, uri: &str, version: i64, range: (u32, u32, u32, u32), text: &str) {
        let (sl, sc, el, ec) = range;
        self.notify(
            "textDocument/didChange",
            json!({
                "textDocument": { "uri": uri, "version": version },
                "contentChanges": [{
                    "range": { "start": { "line": sl, "character": sc }, "end": { "line": el, "character": ec } },
                    "text": text,
                }],
            }),
        );
    }

    /// `shutdown` then `exit`; returns the exit code.
    pub fn shutdown(mut self) -> i32 {
        let result = self.request("shutdown", Value::Null);
        assert_eq!(result, Value::Null);
        self.notify("exit", Value::Null);
        self.wait()
    }

    pub fn wait(mut self) -> i32 {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the server did not exit");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `file://` URI for a path (ASCII paths without spaces in tests).
pub fn uri(path: &std::path::Path) -> String {
    format!("file://{}", path.display())
}

/// A fresh empty directory under the system temp directory.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("plumb-lsp-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Byte offset → (line, UTF-16 character), independently of the server's code.
pub fn position(text: &str, offset: usize) -> (u32, u32) {
    let before = &text[..offset];
    let line = before.matches('\n').count() as u32;
    let start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[start..].encode_utf16().count() as u32)
}

/// A realistic recipe of about `lines` lines (as crates/plumb-hir/benches/check.rs).
pub fn recipe(lines: usize) -> String {
    let mut out = String::from(
        "//! Benchmark recipe.\nuse std.data.{Pairwise, jsonl, split}\nuse std.models.{causal_lm, frozen}\nuse std.losses.{dpo, ipo}\nuse std.train.adamw\n\nlet prefs = jsonl(\"data/pairs.jsonl\") as Pairwise\nlet parts = split(prefs, holdout = 0.1, seed = 7)\nmodel policy = causal_lm(\"models/tiny\")\nmodel reference = frozen(policy)\n\n",
    );
    let mut i = 0;
    while out.lines().count() < lines {
        out.push_str(&format!(
            "/// Variant {i} of a margin loss.\nloss margin_{i}(beta: f32 > 0 = 0.1, gamma: f32 in [0, 1) = 0.5) on Pairwise {{\n    let rho_c = policy.logp(chosen | prompt) - reference.logp(chosen | prompt)\n    let rho_r = policy.logp(rejected | prompt) - reference.logp(rejected | prompt)\n    let h = beta * (rho_c - rho_r) - gamma\n    -log_sigmoid(h) + 0.01 * (rho_c / len(chosen))^2\n}}\n\ntrain policy on parts.train {{\n    loss = margin_{i}(beta = 0.{}, gamma = 0.25)\n    optimizer = adamw(lr = 1e-4)\n    batch = 16\n    micro_batch = 8\n    epochs = 1\n}}\n\n",
            i % 9 + 1
        ));
        i += 1;
    }
    out.push_str(
        "train policy on parts.train { loss = dpo(beta = 0.1) }\ntrain policy on parts.train { loss = ipo() }\n",
    );
    out
}
