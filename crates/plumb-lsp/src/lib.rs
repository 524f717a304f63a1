//! The Plumb language server: LSP over stdio on top of `plumb-ide`. This is the
//! only crate that knows LSP and JSON-RPC; positions become byte offsets at the
//! edge (UTF-16 columns, see [`convert`]).
//!
//! How it runs: one thread owns the analysis; messages are taken from the queue in
//! batches (everything that has arrived), so stale work is skipped rather than done:
//! a request about a document that a later `didChange`/`didClose` in the same batch
//! modifies is answered with `ContentModified` (-32801) without computing it, a
//! request cancelled by `$/cancelRequest` is answered with `RequestCancelled`, and
//! diagnostics are computed once per batch, for the newest text. After every batch
//! that changed any text, each open document whose diagnostics changed (and every
//! changed document) gets a `publishDiagnostics`; closing a document publishes an
//! empty list, so no diagnostics are left stale.
//!
//! Invariant: the server never panics out on any input; each message is handled
//! inside `catch_unwind` as a last line of defence (logged to stderr, answered with
//! `InternalError`).

pub mod convert;
pub mod stdlib;

use convert::{LineIndex, apply_change, file_uri, uri_path};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::*;
use plumb_ide::{AnalysisHost, CompletionKind, SemanticClass};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

/// Serves LSP on stdin/stdout until `exit`; returns the process exit code (0 after
/// a `shutdown` request, 1 otherwise, as the protocol asks).
pub fn run_stdio() -> i32 {
    let (connection, io_threads) = Connection::stdio();
    // A large stack: the analysis recurses over expressions up to the AST's depth bound.
    let worker = std::thread::Builder::new().name("plumb-lsp".into()).stack_size(64 << 20).spawn(move || {
        let code = serve(&connection);
        drop(connection);
        code
    });
    let code = match worker.map(|w| w.join()) {
        Ok(Ok(code)) => code,
        _ => {
            eprintln!("plumb-lsp: the server thread failed");
            1
        }
    };
    if let Err(error) = io_threads.join() {
        eprintln!("plumb-lsp: i/o error: {error}");
    }
    code
}

/// Runs the protocol on a connection: initialize, then the main loop.
pub fn serve(connection: &Connection) -> i32 {
    let (id, _params) = match connection.initialize_start() {
        Ok(start) => start,
        Err(error) => {
            eprintln!("plumb-lsp: initialize failed: {error}");
            return 1;
        }
    };
    let result = json!({
        "capabilities": capabilities(),
        "serverInfo": { "name": "plumb-lsp", "version": env!("CARGO_PKG_VERSION") },
    });
    if let Err(error) = connection.initialize_finish(id, result) {
        eprintln!("plumb-lsp: initialize failed: {error}");
        return 1;
    }
    let sender = connection.sender.clone();
    let mut server = Server::new(std::sync::Arc::new(move |message| {
        let _ = sender.send(message);
    }));
    loop {
        let Ok(first) = connection.receiver.recv() else {
            return if server.shut_down { 0 } else { 1 };
        };
        let mut batch = vec![first];
        while let Ok(message) = connection.receiver.try_recv() {
            batch.push(message);
        }
        if let Some(code) = server.batch(batch) {
            return code;
        }
    }
}

/// The token types and modifiers of semantic tokens, in legend order.
const TOKEN_TYPES: &[&str] = &[
    "keyword",
    "comment",
    "string",
    "number",
    "operator",
    "type",
    "class",
    "function",
    "variable",
    "parameter",
    "property",
    "enumMember",
    "namespace",
];
const TOKEN_MODIFIERS: &[&str] = &["declaration", "defaultLibrary", "documentation"];

fn token_type(class: SemanticClass) -> u32 {
    let name = match class {
        SemanticClass::Keyword => "keyword",
        SemanticClass::Comment => "comment",
        SemanticClass::String => "string",
        SemanticClass::Number => "number",
        SemanticClass::Operator => "operator",
        SemanticClass::Type => "type",
        SemanticClass::Model => "class",
        SemanticClass::Loss | SemanticClass::Function => "function",
        SemanticClass::Variable => "variable",
        SemanticClass::Parameter => "parameter",
        SemanticClass::Property | SemanticClass::Option => "property",
        SemanticClass::Dim => "enumMember",
        SemanticClass::Namespace => "namespace",
    };
    TOKEN_TYPES.iter().position(|t| *t == name).unwrap_or(0) as u32
}

pub fn capabilities() -> Value {
    json!({
        "positionEncoding": "utf-16",
        "textDocumentSync": { "openClose": true, "change": 2, "save": { "includeText": false } },
        "hoverProvider": true,
        "definitionProvider": true,
        "referencesProvider": true,
        "completionProvider": { "triggerCharacters": [".", "(", ","] },
        "documentSymbolProvider": true,
        "documentFormattingProvider": true,
        "semanticTokensProvider": {
            "legend": { "tokenTypes": TOKEN_TYPES, "tokenModifiers": TOKEN_MODIFIERS },
            "full": true,
            "range": false,
        },
    })
}

/// An open document.
struct Document {
    /// The database path: an absolute path, `std/NAME.plumb`, or the URI itself.
    path: String,
    version: i32,
    text: String,
    /// A stdlib file opened from the materialised folder: read-only, no diagnostics.
    is_std: bool,
}

struct Server {
    sender: ConnectionSender,
    host: AnalysisHost,
    /// Open documents by URI.
    docs: BTreeMap<String, Document>,
    /// What was last published per URI.
    published: BTreeMap<String, Vec<Diagnostic>>,
    /// Database paths read from disk because an open document imports them.
    from_disk: BTreeSet<String>,
    /// The folder holding the materialised `std/` (see [`stdlib`]).
    std_root: Option<PathBuf>,
    shut_down: bool,
}

/// Sends a message to the client.
type ConnectionSender = std::sync::Arc<dyn Fn(Message) + Send + Sync>;

/// Why a request produced no result.
struct Failure(i32, String);

fn invalid(message: impl std::fmt::Display) -> Failure {
    Failure(ErrorCode::InvalidParams as i32, message.to_string())
}

fn parse<P: serde::de::DeserializeOwned>(params: Value) -> Result<P, Failure> {
    serde_json::from_value(params).map_err(invalid)
}

fn text_document_uri(params: &Value) -> Option<&str> {
    params.get("textDocument")?.get("uri")?.as_str()
}

impl Server {
    fn new(sender: ConnectionSender) -> Self {
        Server {
            sender,
            host: AnalysisHost::new(),
            docs: BTreeMap::new(),
            published: BTreeMap::new(),
            from_disk: BTreeSet::new(),
            std_root: stdlib::materialise(),
            shut_down: false,
        }
    }

    fn send(&self, message: Message) {
        (self.sender)(message);
    }

    // ------------------------------------------------------------ paths and URIs

    fn uri_to_path(&self, uri: &str) -> String {
        if let Some(rest) = uri.strip_prefix(stdlib::VIRTUAL_PREFIX) {
            return rest.to_string();
        }
        match uri_path(uri) {
            Some(path) => {
                let path = plumb_db::normalize_path(&path);
                if let Some(root) = &self.std_root
                    && let Some(rest) = path.strip_prefix(&*root.to_string_lossy())
                    && let Some(std) = rest.strip_prefix('/')
                    && stdlib::source(std).is_some()
                {
                    return std.to_string();
                }
                path
            }
            None => uri.to_string(),
        }
    }

    fn path_to_uri(&self, path: &str) -> String {
        if stdlib::source(path).is_some() {
            return match &self.std_root {
                Some(root) => file_uri(&root.join(path).to_string_lossy()),
                None => format!("{}{path}", stdlib::VIRTUAL_PREFIX),
            };
        }
        if path.starts_with('/') { file_uri(path) } else { path.to_string() }
    }

    // ------------------------------------------------------------ the loop

    /// Handles a batch of messages; returns the exit code on `exit`.
    fn batch(&mut self, batch: Vec<Message>) -> Option<i32> {
        // Requests made stale by a later change of their document, and cancelled ones.
        let mut stale = BTreeSet::new();
        let mut changed_later: BTreeSet<String> = BTreeSet::new();
        let mut cancelled = BTreeSet::new();
        for message in batch.iter().rev() {
            match message {
                Message::Notification(n)
                    if n.method == "textDocument/didChange" || n.method == "textDocument/didClose" =>
                {
                    if let Some(uri) = text_document_uri(&n.params) {
                        changed_later.insert(uri.to_string());
                    }
                }
                Message::Notification(n) if n.method == "$/cancelRequest" => {
                    if let Some(id) = n.params.get("id") {
                        cancelled.insert(id.to_string());
                    }
                }
                Message::Request(r) if text_document_uri(&r.params).is_some_and(|uri| changed_later.contains(uri)) => {
                    stale.insert(r.id.clone());
                }
                _ => {}
            }
        }
        let mut changed = BTreeSet::new();
        for message in batch {
            match message {
                Message::Request(request) => {
                    let id = request.id.clone();
                    let response = if cancelled.contains(&id_key(&id)) {
                        Response::new_err(id, ErrorCode::RequestCanceled as i32, "cancelled".into())
                    } else if stale.contains(&id) {
                        Response::new_err(id, ErrorCode::ContentModified as i32, "the document changed".into())
                    } else {
                        self.request(request)
                    };
                    self.send(Message::Response(response));
                }
                Message::Notification(notification) => {
                    if notification.method == "exit" {
                        return Some(if self.shut_down { 0 } else { 1 });
                    }
                    let method = notification.method.clone();
                    let outcome = catch_unwind(AssertUnwindSafe(|| self.notification(notification)));
                    match outcome {
                        Ok(Some(uri)) => {
                            changed.insert(uri);
                        }
                        Ok(None) => {}
                        Err(panic) => eprintln!("plumb-lsp: internal error in {method}: {}", panic_message(&panic)),
                    }
                }
                Message::Response(_) => {}
            }
        }
        if !changed.is_empty() {
            self.load_imports();
            self.publish(&changed);
        }
        None
    }

    fn request(&mut self, request: Request) -> Response {
        let Request { id, method, params } = request;
        if self.shut_down && method != "shutdown" {
            return Response::new_err(id, ErrorCode::InvalidRequest as i32, "the server is shutting down".into());
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| self.dispatch(&method, params)));
        match outcome {
            Ok(Ok(value)) => Response::new_ok(id, value),
            Ok(Err(Failure(code, message))) => Response::new_err(id, code, message),
            Err(panic) => {
                let message = panic_message(&panic);
                eprintln!("plumb-lsp: internal error in {method}: {message}");
                Response::new_err(id, ErrorCode::InternalError as i32, format!("internal error: {message}"))
            }
        }
    }

    fn dispatch(&mut self, method: &str, params: Value) -> Result<Value, Failure> {
        match method {
            "shutdown" => {
                self.shut_down = true;
                Ok(Value::Null)
            }
            "textDocument/hover" => self.hover(parse(params)?),
            "textDocument/definition" => self.definition(parse(params)?),
            "textDocument/references" => self.references(parse(params)?),
            "textDocument/completion" => self.completion(parse(params)?),
            "textDocument/documentSymbol" => self.symbols(parse(params)?),
            "textDocument/semanticTokens/full" => self.semantic_tokens(parse(params)?),
            "textDocument/formatting" => self.formatting(parse(params)?),
            "plumb/stdlibSource" => {
                let uri = params.get("uri").and_then(Value::as_str).ok_or_else(|| invalid("missing `uri`"))?;
                let path = self.uri_to_path(uri);
                let text = stdlib::source(&path).ok_or_else(|| invalid(format!("not a stdlib file: {uri}")))?;
                Ok(json!({ "text": text }))
            }
            #[cfg(test)]
            "plumb/testPanic" => panic!("a handler panicked"),
            _ => Err(Failure(ErrorCode::MethodNotFound as i32, format!("unknown method {method}"))),
        }
    }

    /// Applies a notification; returns the URI whose text (or openness) changed.
    fn notification(&mut self, notification: Notification) -> Option<String> {
        match notification.method.as_str() {
            "textDocument/didOpen" => {
                let params: DidOpenTextDocumentParams = serde_json::from_value(notification.params).ok()?;
                let uri = params.text_document.uri.as_str().to_string();
                let path = self.uri_to_path(&uri);
                let is_std = stdlib::source(&path).is_some();
                if !is_std {
                    self.host.set_file_text(&path, params.text_document.text.clone());
                    self.from_disk.remove(&path);
                }
                let doc =
                    Document { path, version: params.text_document.version, text: params.text_document.text, is_std };
                self.docs.insert(uri.clone(), doc);
                Some(uri)
            }
            "textDocument/didChange" => {
                let params: DidChangeTextDocumentParams = serde_json::from_value(notification.params).ok()?;
                let uri = params.text_document.uri.as_str().to_string();
                let doc = self.docs.get_mut(&uri)?;
                doc.version = params.text_document.version;
                if doc.is_std {
                    return None;
                }
                for change in &params.content_changes {
                    apply_change(&mut doc.text, change.range, &change.text);
                }
                let (path, text) = (doc.path.clone(), doc.text.clone());
                self.host.set_file_text(&path, text);
                Some(uri)
            }
            "textDocument/didClose" => {
                let params: DidCloseTextDocumentParams = serde_json::from_value(notification.params).ok()?;
                let uri = params.text_document.uri.as_str().to_string();
                let doc = self.docs.remove(&uri)?;
                if !doc.is_std {
                    // Other documents may import it: keep what is on disk, if anything.
                    match std::fs::read(&doc.path).ok().and_then(|b| plumb_syntax_decode(&b)) {
                        Some(text) => {
                            self.host.set_file_text(&doc.path, text);
                            self.from_disk.insert(doc.path.clone());
                        }
                        None => self.host.remove_file(&doc.path),
                    }
                }
                Some(uri)
            }
            "textDocument/didSave" => {
                // Data files next to the recipe may have changed: check again.
                let params: DidSaveTextDocumentParams = serde_json::from_value(notification.params).ok()?;
                let uri = params.text_document.uri.as_str().to_string();
                self.docs.contains_key(&uri).then_some(uri)
            }
            "workspace/didChangeWatchedFiles" => {
                let params: DidChangeWatchedFilesParams = serde_json::from_value(notification.params).ok()?;
                let mut any = None;
                for change in params.changes {
                    let path = self.uri_to_path(change.uri.as_str());
                    if self.from_disk.contains(&path) {
                        match std::fs::read(&path).ok().and_then(|b| plumb_syntax_decode(&b)) {
                            Some(text) => self.host.set_file_text(&path, text),
                            None => {
                                self.host.remove_file(&path);
                                self.from_disk.remove(&path);
                            }
                        }
                        any = Some(change.uri.as_str().to_string());
                    }
                }
                any
            }
            _ => None,
        }
    }

    /// Reads from disk the files that open documents import (transitively) and that
    /// are neither open nor loaded yet.
    fn load_imports(&mut self) {
        let open: BTreeSet<String> = self.docs.values().map(|d| d.path.clone()).collect();
        let mut queue: Vec<String> = open.iter().cloned().collect();
        let mut seen = BTreeSet::new();
        while let Some(path) = queue.pop() {
            if !seen.insert(path.clone()) {
                continue;
            }
            for imported in self.host.analysis().imported_paths(&path) {
                let known = self.host.analysis().file_text(&imported).is_some();
                if !known
                    && !open.contains(&imported)
                    && let Some(text) = std::fs::read(&imported).ok().and_then(|b| plumb_syntax_decode(&b))
                {
                    self.host.set_file_text(&imported, text);
                    self.from_disk.insert(imported.clone());
                }
                queue.push(imported);
            }
        }
    }

    /// Publishes diagnostics: always for the changed documents (an empty list for
    /// closed ones), and for other open documents whose diagnostics changed.
    fn publish(&mut self, changed: &BTreeSet<String>) {
        for uri in changed {
            if !self.docs.contains_key(uri) {
                self.published.remove(uri);
                self.notify_diagnostics(uri, Vec::new(), None);
            }
        }
        let uris: Vec<String> = self.docs.keys().cloned().collect();
        for uri in uris {
            let (path, version, is_std) = {
                let doc = &self.docs[&uri];
                (doc.path.clone(), doc.version, doc.is_std)
            };
            let diagnostics = if is_std {
                Vec::new()
            } else {
                catch_unwind(AssertUnwindSafe(|| self.lsp_diagnostics(&uri, &path))).unwrap_or_else(|panic| {
                    eprintln!("plumb-lsp: internal error computing diagnostics: {}", panic_message(&panic));
                    Vec::new()
                })
            };
            if changed.contains(&uri) || self.published.get(&uri) != Some(&diagnostics) {
                self.published.insert(uri.clone(), diagnostics.clone());
                self.notify_diagnostics(&uri, diagnostics, Some(version));
            }
        }
    }

    fn notify_diagnostics(&self, uri: &str, diagnostics: Vec<Diagnostic>, version: Option<i32>) {
        let params = json!({ "uri": uri, "diagnostics": diagnostics, "version": version });
        self.send(Message::Notification(Notification::new("textDocument/publishDiagnostics".into(), params)));
    }

    fn lsp_diagnostics(&self, uri: &str, path: &str) -> Vec<Diagnostic> {
        let analysis = self.host.analysis();
        let text = analysis.file_text(path).unwrap_or("");
        let index = LineIndex::new(text);
        analysis
            .diagnostics(path)
            .into_iter()
            .map(|d| {
                let mut message = d.message.clone();
                if let Some(help) = &d.help {
                    message.push_str("\nhelp: ");
                    message.push_str(help);
                }
                let related: Vec<DiagnosticRelatedInformation> = d
                    .labels
                    .iter()
                    .filter(|l| !l.primary && !l.message.is_empty())
                    .filter_map(|l| {
                        Some(DiagnosticRelatedInformation {
                            location: Location { uri: uri.parse().ok()?, range: index.range(l.span) },
                            message: l.message.clone(),
                        })
                    })
                    .collect();
                Diagnostic {
                    range: index.range(d.span()),
                    severity: Some(match d.severity {
                        plumb_ide::Severity::Error => DiagnosticSeverity::ERROR,
                        plumb_ide::Severity::Warning => DiagnosticSeverity::WARNING,
                    }),
                    code: Some(NumberOrString::String(d.code.to_string())),
                    source: Some("plumb".into()),
                    message,
                    related_information: (!related.is_empty()).then_some(related),
                    ..Diagnostic::default()
                }
            })
            .collect()
    }

    // ------------------------------------------------------------ requests

    /// The database path and byte offset of a position.
    fn locate(&self, document: &TextDocumentPositionParams) -> Option<(String, usize)> {
        let path = self.uri_to_path(document.text_document.uri.as_str());
        let text = self.host.analysis().file_text(&path)?;
        Some((path, LineIndex::new(text).offset(document.position)))
    }

    fn location(&self, range: &plumb_ide::FileRange) -> Option<Location> {
        let text = self.host.analysis().file_text(&range.path)?;
        let uri = self.path_to_uri(&range.path).parse().ok()?;
        Some(Location { uri, range: LineIndex::new(text).range(range.range) })
    }

    fn hover(&self, params: HoverParams) -> Result<Value, Failure> {
        let Some((path, offset)) = self.locate(&params.text_document_position_params) else {
            return Ok(Value::Null);
        };
        let analysis = self.host.analysis();
        let Some(hover) = analysis.hover(&path, offset as u32) else {
            return Ok(Value::Null);
        };
        let text = analysis.file_text(&path).unwrap_or("");
        let result = Hover {
            contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value: hover.markdown }),
            range: Some(LineIndex::new(text).range(hover.range)),
        };
        Ok(serde_json::to_value(result).unwrap_or(Value::Null))
    }

    fn definition(&self, params: GotoDefinitionParams) -> Result<Value, Failure> {
        let Some((path, offset)) = self.locate(&params.text_document_position_params) else {
            return Ok(Value::Null);
        };
        let target = self.host.analysis().goto_definition(&path, offset as u32);
        match target.and_then(|t| self.location(&t)) {
            Some(location) => Ok(serde_json::to_value(location).unwrap_or(Value::Null)),
            None => Ok(Value::Null),
        }
    }

    fn references(&self, params: ReferenceParams) -> Result<Value, Failure> {
        let Some((path, offset)) = self.locate(&params.text_document_position) else {
            return Ok(Value::Null);
        };
        let refs = self.host.analysis().find_references(&path, offset as u32, params.context.include_declaration);
        let locations: Vec<Location> = refs.iter().filter_map(|r| self.location(r)).collect();
        Ok(serde_json::to_value(locations).unwrap_or(Value::Null))
    }

    fn completion(&self, params: CompletionParams) -> Result<Value, Failure> {
        let Some((path, offset)) = self.locate(&params.text_document_position) else {
            return Ok(Value::Null);
        };
        let items: Vec<CompletionItem> = self
            .host
            .analysis()
            .completion(&path, offset as u32)
            .into_iter()
            .map(|item| CompletionItem {
                kind: Some(match item.kind {
                    CompletionKind::Keyword => CompletionItemKind::KEYWORD,
                    CompletionKind::Module => CompletionItemKind::MODULE,
                    CompletionKind::Loss | CompletionKind::Function => CompletionItemKind::FUNCTION,
                    CompletionKind::Method => CompletionItemKind::METHOD,
                    CompletionKind::Model | CompletionKind::Role => CompletionItemKind::CLASS,
                    CompletionKind::Schema => CompletionItemKind::STRUCT,
                    CompletionKind::Variable => CompletionItemKind::VARIABLE,
                    CompletionKind::Parameter => CompletionItemKind::PROPERTY,
                    CompletionKind::Column | CompletionKind::Field => CompletionItemKind::FIELD,
                    CompletionKind::Option => CompletionItemKind::PROPERTY,
                    CompletionKind::Dim => CompletionItemKind::ENUM_MEMBER,
                    CompletionKind::Type => CompletionItemKind::TYPE_PARAMETER,
                }),
                detail: item.detail,
                documentation: item
                    .documentation
                    .map(|value| Documentation::MarkupContent(MarkupContent { kind: MarkupKind::Markdown, value })),
                insert_text: item.insert_text,
                sort_text: Some(item.sort_text),
                filter_text: Some(item.label.clone()),
                label: item.label,
                ..CompletionItem::default()
            })
            .collect();
        Ok(serde_json::to_value(CompletionResponse::Array(items)).unwrap_or(Value::Null))
    }

    #[allow(deprecated)] // `DocumentSymbol::deprecated` must be written out
    fn symbols(&self, params: DocumentSymbolParams) -> Result<Value, Failure> {
        let path = self.uri_to_path(params.text_document.uri.as_str());
        let analysis = self.host.analysis();
        let Some(text) = analysis.file_text(&path) else {
            return Ok(Value::Null);
        };
        let index = LineIndex::new(text);
        fn convert(index: &LineIndex, symbol: plumb_ide::Symbol) -> DocumentSymbol {
            DocumentSymbol {
                name: symbol.name,
                detail: symbol.detail,
                kind: match symbol.kind {
                    plumb_ide::SymbolKind::Schema => SymbolKind::STRUCT,
                    plumb_ide::SymbolKind::Field => SymbolKind::FIELD,
                    plumb_ide::SymbolKind::Binding => SymbolKind::VARIABLE,
                    plumb_ide::SymbolKind::Model => SymbolKind::CLASS,
                    plumb_ide::SymbolKind::Loss | plumb_ide::SymbolKind::Function => SymbolKind::FUNCTION,
                    plumb_ide::SymbolKind::Parameter => SymbolKind::TYPE_PARAMETER,
                    plumb_ide::SymbolKind::Stage => SymbolKind::EVENT,
                    plumb_ide::SymbolKind::Options => SymbolKind::OBJECT,
                },
                tags: None,
                deprecated: None,
                range: index.range(symbol.range),
                selection_range: index.range(symbol.selection),
                children: Some(symbol.children.into_iter().map(|c| convert(index, c)).collect()),
            }
        }
        let symbols: Vec<DocumentSymbol> =
            analysis.document_symbols(&path).into_iter().map(|s| convert(&index, s)).collect();
        Ok(serde_json::to_value(DocumentSymbolResponse::Nested(symbols)).unwrap_or(Value::Null))
    }

    fn semantic_tokens(&self, params: SemanticTokensParams) -> Result<Value, Failure> {
        let path = self.uri_to_path(params.text_document.uri.as_str());
        let analysis = self.host.analysis();
        let Some(text) = analysis.file_text(&path) else {
            return Ok(Value::Null);
        };
        let index = LineIndex::new(text);
        let mut data = Vec::new();
        let (mut line, mut start) = (0u32, 0u32);
        for token in analysis.semantic_tokens(&path) {
            let from = index.position(token.range.start as usize);
            let length = text[token.range.range()].encode_utf16().count() as u32;
            let delta_line = from.line - line;
            let delta_start = if delta_line == 0 { from.character - start } else { from.character };
            let modifiers =
                u32::from(token.declaration) | u32::from(token.stdlib) << 1 | u32::from(token.documentation) << 2;
            data.push(SemanticToken {
                delta_line,
                delta_start,
                length,
                token_type: token_type(token.class),
                token_modifiers_bitset: modifiers,
            });
            (line, start) = (from.line, from.character);
        }
        Ok(serde_json::to_value(SemanticTokens { result_id: None, data }).unwrap_or(Value::Null))
    }

    fn formatting(&self, params: DocumentFormattingParams) -> Result<Value, Failure> {
        let path = self.uri_to_path(params.text_document.uri.as_str());
        let analysis = self.host.analysis();
        if analysis.is_std(&path) {
            return Ok(Value::Null);
        }
        let (Some(text), Some(formatted)) = (analysis.file_text(&path), analysis.format(&path)) else {
            return Ok(Value::Null);
        };
        // One edit covering what differs, so the editor keeps the cursor and folds.
        let prefix = common_prefix(text, &formatted);
        let suffix = common_suffix(&text[prefix..], &formatted[prefix..]);
        if prefix == text.len() && prefix == formatted.len() {
            return Ok(json!([]));
        }
        let index = LineIndex::new(text);
        let edit = TextEdit {
            range: Range { start: index.position(prefix), end: index.position(text.len() - suffix) },
            new_text: formatted[prefix..formatted.len() - suffix].to_string(),
        };
        Ok(serde_json::to_value(vec![edit]).unwrap_or(Value::Null))
    }
}

/// The length of the common prefix of two texts, on a character boundary.
fn common_prefix(a: &str, b: &str) -> usize {
    let mut n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !a.is_char_boundary(n) || !b.is_char_boundary(n) {
        n -= 1;
    }
    n
}

/// The length of the common suffix of two texts, on a character boundary.
fn common_suffix(a: &str, b: &str) -> usize {
    let mut n = a.bytes().rev().zip(b.bytes().rev()).take_while(|(x, y)| x == y).count();
    while !a.is_char_boundary(a.len() - n) || !b.is_char_boundary(b.len() - n) {
        n -= 1;
    }
    n
}

fn plumb_syntax_decode(bytes: &[u8]) -> Option<String> {
    std::str::from_utf8(bytes).ok().map(str::to_string)
}

fn id_key(id: &RequestId) -> String {
    serde_json::to_value(id).map(|v| v.to_string()).unwrap_or_default()
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn server() -> (Server, Arc<Mutex<Vec<Message>>>) {
        let sent: Arc<Mutex<Vec<Message>>> = Arc::default();
        let sink = sent.clone();
        let server = Server::new(Arc::new(move |m| sink.lock().unwrap().push(m)));
        (server, sent)
    }

    fn request(id: i32, method: &str, params: Value) -> Message {
        Message::Request(Request { id: id.into(), method: method.into(), params })
    }

    fn notification(method: &str, params: Value) -> Message {
        Message::Notification(Notification { method: method.into(), params })
    }

    const URI: &str = "file:///w/r.plumb";

    fn change(version: i32, text: &str) -> Message {
        notification(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": URI, "version": version }, "contentChanges": [{ "text": text }] }),
        )
    }

    fn hover(id: i32) -> Message {
        request(
            id,
            "textDocument/hover",
            json!({ "textDocument": { "uri": URI }, "position": { "line": 0, "character": 4 } }),
        )
    }

    #[test]
    fn a_newer_change_supersedes_pending_requests_and_diagnostics_are_computed_once() {
        let (mut server, sent) = server();
        let open =
            json!({ "textDocument": { "uri": URI, "languageId": "plumb", "version": 1, "text": "let x = 1\n" } });
        server.batch(vec![notification("textDocument/didOpen", open)]);
        sent.lock().unwrap().clear();
        // A hover queued before two changes is stale; one queued after is answered;
        // a cancelled one is cancelled; diagnostics are published once, for version 3.
        let cancel = notification("$/cancelRequest", json!({ "id": 4 }));
        server.batch(vec![hover(1), change(2, "let y = 1\n"), change(3, "let z = 1\n"), hover(2), hover(4), cancel]);
        let sent = sent.lock().unwrap();
        let responses: Vec<&Response> =
            sent.iter().filter_map(|m| if let Message::Response(r) = m { Some(r) } else { None }).collect();
        assert_eq!(responses[0].error.as_ref().map(|e| e.code), Some(ErrorCode::ContentModified as i32));
        let markdown = responses[1].result.as_ref().unwrap()["contents"]["value"].as_str().unwrap().to_string();
        assert!(markdown.contains("let z: i64"), "answered on the newest text: {markdown}");
        assert_eq!(responses[2].error.as_ref().map(|e| e.code), Some(ErrorCode::RequestCanceled as i32));
        let published: Vec<&Notification> = sent
            .iter()
            .filter_map(|m| if let Message::Notification(n) = m { Some(n) } else { None })
            .filter(|n| n.method == "textDocument/publishDiagnostics")
            .collect();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].params["version"], 3);
    }

    #[test]
    fn a_panic_in_a_handler_is_an_internal_error_not_a_crash() {
        let (mut server, sent) = server();
        let open =
            json!({ "textDocument": { "uri": URI, "languageId": "plumb", "version": 1, "text": "let x = 1\n" } });
        server.batch(vec![notification("textDocument/didOpen", open)]);
        server.batch(vec![request(1, "plumb/testPanic", Value::Null), hover(2)]);
        let sent = sent.lock().unwrap();
        let responses: Vec<&Response> =
            sent.iter().filter_map(|m| if let Message::Response(r) = m { Some(r) } else { None }).collect();
        assert_eq!(responses[0].error.as_ref().map(|e| e.code), Some(ErrorCode::InternalError as i32));
        assert!(responses[1].result.is_some(), "the server goes on");
    }
}
