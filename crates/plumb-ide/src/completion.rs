//! Completion. The context comes from the tokens before the cursor, so it works
//! while the item being typed does not parse: the enclosing brackets, the item
//! keyword, the call whose parentheses the cursor is in, the receiver before a `.`.

use crate::hover::{doc_of, option_table, param_text, signature};
use crate::resolve::{MODEL_METHODS, ROLES, schema_columns};
use plumb_db::{Db, SourceFile};
use plumb_hir::types::Type;
use plumb_hir::{DefKind, DefRef, file_items, own_defs, parse_item_text, relative_path, scope};
use plumb_syntax::ast::ItemKind;
use plumb_syntax::lexer::{ITEM_KEYWORDS, Token, TokenKind, tokenize};
use std::collections::BTreeSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompletionKind {
    Keyword,
    Module,
    Loss,
    Function,
    Model,
    Schema,
    Variable,
    Parameter,
    Column,
    Option,
    Role,
    Dim,
    Method,
    Field,
    Type,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletionItem {
    pub label: String,
    pub kind: CompletionKind,
    /// A one-line description: a type, a signature, a parameter with its default.
    pub detail: Option<String>,
    /// Markdown: a doc comment.
    pub documentation: Option<String>,
    /// What to insert, when it is not the label (`beta = `).
    pub insert_text: Option<String>,
    /// Orders the list: the most specific items first.
    pub sort_text: String,
}

fn item(label: &str, kind: CompletionKind, rank: u8) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind,
        detail: None,
        documentation: None,
        insert_text: None,
        sort_text: format!("{rank}{label}"),
    }
}

const EXPR_KEYWORDS: &[&str] = &["if", "else", "true", "false", "not", "and", "or"];
const SCALAR_TYPES: &[&str] = &["f32", "i64", "bool", "Text"];
const DIMS: &[(&str, &str)] = &[
    ("batch", "the examples of the batch"),
    ("tok", "the tokens of a completion (ragged, masked)"),
    ("k", "the candidates of a list"),
];
const REPEAT_KEYWORDS: &[&str] = &["let", "model", "train", "fit", "eval", "report"];

/// The significant tokens before the cursor and what they say about the context.
struct Context<'t> {
    text: &'t str,
    /// Significant tokens before the word being typed (item-relative offsets are
    /// not needed: these index `text`, the item's prefix).
    sig: Vec<Token>,
    /// The word being typed is the first token on its line.
    line_start: bool,
    /// Open brackets: (bracket, index into `sig`).
    stack: Vec<(char, usize)>,
}

impl Context<'_> {
    fn tok(&self, i: usize) -> &str {
        self.sig.get(i).map(|t| t.text(self.text)).unwrap_or("")
    }
    fn last(&self) -> &str {
        self.sig.last().map(|t| t.text(self.text)).unwrap_or("")
    }
    fn keyword(&self) -> &str {
        self.tok(0)
    }
}

pub(crate) fn complete(db: &dyn Db, file: SourceFile, offset: u32) -> Vec<CompletionItem> {
    let text = file.text(db);
    if text.len() > plumb_syntax::MAX_FILE_BYTES {
        return Vec::new();
    }
    let mut offset = (offset as usize).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let items = file_items(db, file);
    let start = items.entries.iter().rev().map(|e| e.offset as usize).find(|&s| s <= offset).unwrap_or(0);
    let prefix = &text[start..offset];
    let tokens = tokenize(prefix);
    if let Some(last) = tokens.last()
        && (last.is_comment() || last.kind == TokenKind::UnterminatedStr || last.kind == TokenKind::Str)
        && last.end == prefix.len()
    {
        return Vec::new();
    }
    // The word being typed is left out of the context.
    let mut end = tokens.len();
    if let Some(last) = tokens.last()
        && matches!(last.kind, TokenKind::Ident | TokenKind::Keyword | TokenKind::Number)
        && last.end == prefix.len()
    {
        end -= 1;
    }
    let before = &tokens[..end];
    let sig: Vec<Token> = before.iter().filter(|t| !t.is_trivia() && !t.is_comment()).copied().collect();
    let line_start = match sig.last() {
        None => true,
        Some(last) => before.iter().any(|t| t.start >= last.end && t.kind == TokenKind::Newline),
    };
    let mut stack = Vec::new();
    for (i, token) in sig.iter().enumerate() {
        match token.text(prefix) {
            "(" => stack.push(('(', i)),
            "[" => stack.push(('[', i)),
            "{" => stack.push(('{', i)),
            ")" | "]" | "}" => {
                stack.pop();
            }
            _ => {}
        }
    }
    let cx = Context { text: prefix, sig, line_start, stack };
    let mut out = Completer { db, file, cx, items: Vec::new(), seen: BTreeSet::new() }.run();
    out.sort_by(|a, b| a.sort_text.cmp(&b.sort_text));
    out
}

struct Completer<'a> {
    db: &'a dyn Db,
    file: SourceFile,
    cx: Context<'a>,
    items: Vec<CompletionItem>,
    seen: BTreeSet<String>,
}

impl Completer<'_> {
    fn push(&mut self, item: CompletionItem) {
        if self.seen.insert(item.label.clone()) {
            self.items.push(item);
        }
    }

    fn run(mut self) -> Vec<CompletionItem> {
        let keyword = self.cx.keyword().to_string();
        if self.cx.stack.is_empty() && self.cx.line_start {
            self.item_keywords(ITEM_KEYWORDS);
            return self.items;
        }
        if keyword == "use" {
            self.use_item();
            return self.items;
        }
        let in_loss_body = keyword == "loss" && self.cx.stack.first().is_some_and(|(b, _)| *b == '{');
        if self.cx.last() == "." {
            self.member(in_loss_body);
            return self.items;
        }
        let Some(&(bracket, open)) = self.cx.stack.last() else {
            if matches!(keyword.as_str(), "loss" | "extern") && self.cx.last() == "on" {
                self.schemas();
            } else if keyword != "loss" && keyword != "extern" && keyword != "schema" {
                self.values();
            }
            return self.items;
        };
        if in_loss_body {
            self.math(bracket, open);
            return self.items;
        }
        match bracket {
            '{' if self.cx.stack.len() == 1 => match keyword.as_str() {
                "train" | "sampler" | "selector" | "fit" => {
                    if self.option_name_position() {
                        self.options(&keyword, open);
                    } else if !self.option_choices(&keyword) {
                        self.values();
                    }
                }
                "repeat" => {
                    if self.cx.line_start {
                        self.item_keywords(REPEAT_KEYWORDS);
                    } else {
                        self.values();
                    }
                }
                "schema" => {
                    if self.cx.last() == ":" {
                        self.scalar_types();
                    }
                }
                _ => self.values(),
            },
            '(' if matches!(keyword.as_str(), "loss" | "extern") && self.cx.stack.len() == 1 => {
                // A parameter list being declared.
                if self.cx.last() == ":" {
                    self.scalar_types();
                }
            }
            '(' => {
                self.call_args(open, false);
                if self.cx.last() != "=" || !self.named_arg_is_over() {
                    self.values();
                }
            }
            _ => self.values(),
        }
        self.items
    }

    /// After `NAME =` of an option with a fixed set of values (`ties`,
    /// `backend`): those values, quoted. Whether it offered any.
    fn option_choices(&mut self, stage: &str) -> bool {
        let n = self.cx.sig.len();
        if n < 2 || self.cx.last() != "=" {
            return false;
        }
        let name = self.cx.tok(n - 2).to_string();
        let Some(&(_, plumb_hir::OptionKind::OneOf(choices), what)) =
            option_table(stage).iter().find(|(option, _, _)| *option == name)
        else {
            return false;
        };
        for choice in choices {
            let mut entry = item(&format!("\"{choice}\""), CompletionKind::Option, 0);
            entry.detail = Some(format!("{name} = \"{choice}\""));
            entry.documentation = Some(what.to_string());
            self.push(entry);
        }
        true
    }

    fn option_name_position(&self) -> bool {
        self.cx.line_start || matches!(self.cx.last(), "{" | "," | ";")
    }

    fn item_keywords(&mut self, keywords: &[&str]) {
        for k in keywords {
            self.push(item(k, CompletionKind::Keyword, 5));
        }
    }

    fn scalar_types(&mut self) {
        for t in SCALAR_TYPES {
            self.push(item(t, CompletionKind::Type, 1));
        }
    }

    fn schemas(&mut self) {
        for (name, def) in scope(self.db, self.file).iter() {
            if def.kind == DefKind::Schema {
                let entry = self.global(name, *def);
                self.push(entry);
            }
        }
    }

    /// `use std.` → modules; `use std.losses.{` → the module's names.
    fn use_item(&mut self) {
        let sig = &self.cx.sig;
        let text = self.cx.text;
        let mut path = Vec::new();
        let mut file_source = None;
        let mut braces = false;
        for token in sig.iter().skip(1) {
            match (token.kind, token.text(text)) {
                (TokenKind::Ident, word) if !braces => path.push(word.to_string()),
                (TokenKind::Str, quoted) if !braces => {
                    file_source = Some(quoted.trim_matches('"').to_string());
                }
                (_, "{") => braces = true,
                _ => {}
            }
        }
        let in_names = braces || (self.cx.last() == "." && (path.len() >= 2 || file_source.is_some()));
        if !in_names {
            if self.cx.last() == "." && path == ["std"] {
                for (module, _) in plumb_db::STDLIB {
                    let mut entry = item(module, CompletionKind::Module, 1);
                    let doc = self
                        .db
                        .workspace()
                        .files(self.db)
                        .get(&plumb_db::std_path(module))
                        .and_then(|f| file_items(self.db, *f).module_doc.clone());
                    entry.documentation = doc;
                    self.push(entry);
                }
            } else if self.cx.sig.len() == 1 {
                self.push(item("std", CompletionKind::Module, 1));
            }
            return;
        }
        let target = match (&file_source, path.as_slice()) {
            (Some(source), _) => {
                self.db.workspace().files(self.db).get(&relative_path(self.file.path(self.db), source)).copied()
            }
            (None, [std, module, ..]) if std == "std" => {
                self.db.workspace().files(self.db).get(&plumb_db::std_path(module)).copied()
            }
            _ => None,
        };
        let Some(target) = target else { return };
        for (name, def) in own_defs(self.db, target).iter() {
            let entry = self.global(name, *def);
            self.push(entry);
        }
    }

    /// After `receiver.`: a role's methods, a split's parts, data's columns.
    fn member(&mut self, in_loss_body: bool) {
        let n = self.cx.sig.len();
        let receiver = if n >= 2 { self.cx.tok(n - 2).to_string() } else { String::new() };
        if in_loss_body && ROLES.contains(&receiver.as_str()) {
            for (method, what) in MODEL_METHODS {
                let mut entry = item(method, CompletionKind::Method, 0);
                entry.detail = Some(format!("{method}(completion | prompt)"));
                entry.documentation = Some(what.to_string());
                self.push(entry);
            }
            return;
        }
        let Some(def) = scope(self.db, self.file).get(&receiver).copied() else {
            return;
        };
        if !matches!(def.kind, DefKind::Let | DefKind::Fit) {
            return;
        }
        match plumb_hir::binding_type(self.db, def.file, def.item) {
            Type::Split(schema) => {
                for part in ["train", "holdout"] {
                    let mut entry = item(part, CompletionKind::Field, 0);
                    entry.detail = Some(Type::Data(schema.clone()).to_string());
                    self.push(entry);
                }
            }
            Type::Data(Some(schema)) => {
                if let Some(schema_def) = scope(self.db, self.file).get(&schema).copied() {
                    self.columns(schema_def, 0);
                }
            }
            _ => {}
        }
    }

    fn columns(&mut self, schema: DefRef, rank: u8) {
        let parse = parse_item_text(self.db, schema.item);
        let Some(ItemKind::Schema(s)) = parse.item.as_ref().map(|i| &i.kind) else {
            return;
        };
        let types = schema_columns(self.db, schema);
        for field in &s.fields {
            let mut entry = item(&field.name.text, CompletionKind::Column, rank);
            entry.detail = Some(format!(
                "{}: {} (column of {})",
                field.name.text,
                types.get(&field.name.text).map(|t| t.to_string()).unwrap_or_default(),
                s.name.text
            ));
            self.push(entry);
        }
    }

    fn options(&mut self, stage: &str, open: usize) {
        let set: BTreeSet<String> = (open + 1..self.cx.sig.len().saturating_sub(1))
            .filter(|&i| {
                self.cx.tok(i + 1) == "="
                    && (matches!(self.cx.tok(i.wrapping_sub(1)), "{" | "," | ";") || self.starts_line(i))
            })
            .map(|i| self.cx.tok(i).to_string())
            .collect();
        for (name, kind, what) in option_table(stage) {
            if set.contains(*name) {
                continue;
            }
            let mut entry = item(name, CompletionKind::Option, 0);
            entry.detail = Some(kind.describe());
            entry.documentation = Some(what.to_string());
            entry.insert_text = Some(format!("{name} = "));
            self.push(entry);
        }
        if stage == "train" {
            let mut entry = item("constraint", CompletionKind::Keyword, 1);
            entry.detail = Some("a bound on a metric, e.g. `constraint kl_to(reference) <= 5.0`".into());
            self.push(entry);
        }
    }

    /// Whether significant token `i` is the first on its line.
    fn starts_line(&self, i: usize) -> bool {
        let Some(token) = self.cx.sig.get(i) else { return false };
        let before = match i.checked_sub(1).and_then(|j| self.cx.sig.get(j)) {
            Some(prev) => &self.cx.text[prev.end..token.start],
            None => return true,
        };
        before.contains('\n')
    }

    /// The callee of the parenthesis at `open`, if it is a loss or function.
    fn callee(&self, open: usize) -> Option<DefRef> {
        let name_index = open.checked_sub(1)?;
        let name = self.cx.sig.get(name_index)?;
        if name.kind != TokenKind::Ident || (name_index >= 1 && self.cx.tok(name_index - 1) == ".") {
            return None;
        }
        scope(self.db, self.file)
            .get(name.text(self.cx.text))
            .copied()
            .filter(|d| matches!(d.kind, DefKind::Loss | DefKind::Extern))
    }

    /// The named parameters of the call at `open` not given yet, with their defaults.
    fn call_args(&mut self, open: usize, math: bool) {
        if !matches!(self.cx.last(), "(" | ",") {
            return;
        }
        let Some(def) = self.callee(open) else { return };
        let parse = parse_item_text(self.db, def.item);
        let params = match parse.item.as_ref().map(|i| &i.kind) {
            Some(ItemKind::Loss(l)) if !math => &l.params,
            Some(ItemKind::Extern(e)) => &e.params,
            _ => return,
        };
        let mut depth = 0;
        let mut given = BTreeSet::new();
        for i in open + 1..self.cx.sig.len() {
            match self.cx.tok(i) {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => depth -= 1,
                "=" if depth == 0 && i > 0 => {
                    given.insert(self.cx.tok(i - 1).to_string());
                }
                _ => {}
            }
        }
        for param in params {
            if given.contains(&param.name.text) {
                continue;
            }
            let mut entry = item(&param.name.text, CompletionKind::Parameter, 0);
            entry.detail = Some(param_text(self.db, def.item, param));
            entry.insert_text = Some(format!("{} = ", param.name.text));
            entry.documentation = Some(match (&param.default, &param.constraint) {
                (Some(_), _) => "optional: has a default".to_string(),
                (None, _) => "required".to_string(),
            });
            self.push(entry);
        }
    }

    /// Whether the cursor is the value of `over = ` in a call.
    fn named_arg_is_over(&self) -> bool {
        let n = self.cx.sig.len();
        self.cx.last() == "=" && n >= 2 && self.cx.tok(n - 2) == "over"
    }

    /// Names in scope for a value outside a loss body.
    fn values(&mut self) {
        // `let`/`model`/`fit` names of an enclosing `repeat`, before the cursor.
        if self.cx.keyword() == "repeat" {
            for i in 0..self.cx.sig.len().saturating_sub(1) {
                if matches!(self.cx.tok(i), "let" | "model" | "fit") && self.cx.sig[i + 1].kind == TokenKind::Ident {
                    let name = self.cx.tok(i + 1).to_string();
                    self.push(item(&name, CompletionKind::Variable, 1));
                }
            }
        }
        let names = scope(self.db, self.file);
        for (name, def) in names.iter() {
            if def.file.path(self.db) == &plumb_db::std_path("math") {
                continue; // math functions are for loss bodies
            }
            let entry = self.global(name, *def);
            self.push(entry);
        }
        for k in EXPR_KEYWORDS {
            self.push(item(k, CompletionKind::Keyword, 6));
        }
    }

    fn global(&self, name: &str, def: DefRef) -> CompletionItem {
        let (kind, detail) = match def.kind {
            DefKind::Loss => (CompletionKind::Loss, signature(self.db, def)),
            DefKind::Extern => (CompletionKind::Function, signature(self.db, def)),
            DefKind::Schema => (CompletionKind::Schema, Some(format!("schema {name}"))),
            DefKind::Model => {
                (CompletionKind::Model, Some(plumb_hir::binding_type(self.db, def.file, def.item).to_string()))
            }
            DefKind::Let | DefKind::Fit => {
                (CompletionKind::Variable, Some(plumb_hir::binding_type(self.db, def.file, def.item).to_string()))
            }
            DefKind::Sampler => (CompletionKind::Variable, Some("sampler".into())),
            DefKind::Selector => (CompletionKind::Variable, Some("selector".into())),
        };
        let rank = if def.file == self.file {
            2
        } else if *def.file.is_std(self.db) {
            4
        } else {
            3
        };
        let mut entry = item(name, kind, rank);
        entry.detail = detail;
        entry.documentation = doc_of(self.db, def);
        entry
    }

    /// Inside a loss body: its columns, parameters, `let`s, the roles, the math
    /// functions; a math call's named parameters; dims after `over =`.
    fn math(&mut self, bracket: char, open: usize) {
        if self.named_arg_is_over() {
            for (dim, what) in DIMS {
                let mut entry = item(dim, CompletionKind::Dim, 0);
                entry.detail = Some(what.to_string());
                self.push(entry);
            }
            return;
        }
        if bracket == '(' {
            self.call_args(open, true);
        }
        let body_open = self.cx.stack.first().map(|(_, i)| *i).unwrap_or(0);
        // Parameters, from the header's parentheses.
        let mut depth = 0;
        let mut header = Vec::new();
        for i in 0..body_open {
            match self.cx.tok(i) {
                "(" => depth += 1,
                ")" => depth -= 1,
                ":" if depth == 1 && i > 0 => header.push(i - 1),
                _ => {}
            }
        }
        for i in header {
            let name = self.cx.tok(i).to_string();
            let mut detail_end = i;
            let mut d = 0;
            for j in i..body_open {
                match self.cx.tok(j) {
                    "(" | "[" => d += 1,
                    ")" | "]" if d > 0 => d -= 1,
                    "," | ")" if d == 0 => break,
                    _ => {}
                }
                detail_end = j;
            }
            let detail = self.cx.text[self.cx.sig[i].start..self.cx.sig[detail_end].end].to_string();
            let mut entry = item(&name, CompletionKind::Parameter, 0);
            entry.detail = Some(format!("{detail} (parameter)"));
            self.push(entry);
        }
        // The schema's columns.
        let schema = (0..body_open).find(|&i| self.cx.tok(i) == "on").map(|i| self.cx.tok(i + 1).to_string());
        if let Some(schema) = schema
            && let Some(def) = scope(self.db, self.file).get(&schema).copied().filter(|d| d.kind == DefKind::Schema)
        {
            self.columns(def, 0);
        }
        // `let`s before the cursor.
        for i in body_open..self.cx.sig.len().saturating_sub(1) {
            if self.cx.tok(i) == "let" && self.cx.sig[i + 1].kind == TokenKind::Ident {
                let name = self.cx.tok(i + 1).to_string();
                self.push(item(&name, CompletionKind::Variable, 1));
            }
        }
        for role in ROLES {
            let mut entry = item(role, CompletionKind::Role, 1);
            entry.detail =
                Some(if *role == "policy" { "the model the stage trains" } else { "the frozen reference" }.into());
            self.push(entry);
        }
        let math_path = plumb_db::std_path("math");
        for (name, def) in scope(self.db, self.file).iter() {
            if def.kind == DefKind::Extern && def.file.path(self.db) == &math_path {
                let entry = self.global(name, *def);
                self.push(entry);
            }
        }
        if self.cx.line_start {
            self.push(item("let", CompletionKind::Keyword, 5));
        }
        for k in EXPR_KEYWORDS {
            self.push(item(k, CompletionKind::Keyword, 6));
        }
    }
}
