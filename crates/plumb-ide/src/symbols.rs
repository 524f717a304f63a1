//! The outline of a file (document symbols) and a class for each token (semantic
//! tokens), from the lexer and the resolved names.

use crate::resolve::{Target, walk_file};
use plumb_db::{Db, SourceFile};
use plumb_diag::Span;
use plumb_hir::{DefKind, file_items, parse_item_text};
use plumb_syntax::ast::*;
use plumb_syntax::lexer::{TokenKind, tokenize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SymbolKind {
    Schema,
    Field,
    Binding,
    Model,
    Loss,
    Parameter,
    Function,
    /// `train`, `eval`, `report`, `repeat`
    Stage,
    /// `sampler`, `selector`, `fit`
    Options,
}

/// One entry of the outline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    pub kind: SymbolKind,
    pub detail: Option<String>,
    /// The whole item (doc comment excluded).
    pub range: Span,
    /// The name, within `range`.
    pub selection: Span,
    pub children: Vec<Symbol>,
}

pub(crate) fn document_symbols(db: &dyn Db, file: SourceFile) -> Vec<Symbol> {
    let mut out = Vec::new();
    for entry in &file_items(db, file).entries {
        let parse = parse_item_text(db, entry.text);
        if let Some(item) = &parse.item
            && let Some(symbol) = item_symbol(db, entry.text, item, entry.offset)
        {
            out.push(symbol);
        }
    }
    out
}

fn item_symbol(db: &dyn Db, text: plumb_hir::ItemText, item: &Item, offset: u32) -> Option<Symbol> {
    let range = item.span.shifted(offset);
    let leaf = |name: &Name, kind: SymbolKind, detail: Option<String>| Symbol {
        name: name.text.clone(),
        kind,
        detail,
        range,
        selection: name.span.shifted(offset),
        children: Vec::new(),
    };
    let keyword_span = Span::new(range.start as usize, range.start as usize + item.kind.keyword().len());
    Some(match &item.kind {
        ItemKind::Use(_) => return None,
        ItemKind::Schema(schema) => {
            let mut symbol = leaf(&schema.name, SymbolKind::Schema, Some("schema".into()));
            symbol.children = schema
                .fields
                .iter()
                .map(|f| Symbol {
                    name: f.name.text.clone(),
                    kind: SymbolKind::Field,
                    detail: Some(crate::hover::type_text(&f.ty)),
                    range: f.span.shifted(offset),
                    selection: f.name.span.shifted(offset),
                    children: Vec::new(),
                })
                .collect();
            symbol
        }
        ItemKind::Let(b) => leaf(&b.name, SymbolKind::Binding, Some("let".into())),
        ItemKind::Model(b) => leaf(&b.name, SymbolKind::Model, Some("model".into())),
        ItemKind::Loss(loss) => {
            let on = loss.schema.as_ref().map(|s| format!("loss on {}", s.text)).unwrap_or_else(|| "loss".into());
            let mut symbol = leaf(&loss.name, SymbolKind::Loss, Some(on));
            symbol.children = loss
                .params
                .iter()
                .map(|p| Symbol {
                    name: p.name.text.clone(),
                    kind: SymbolKind::Parameter,
                    detail: Some(crate::hover::param_text(db, text, p)),
                    range: p.span.shifted(offset),
                    selection: p.name.span.shifted(offset),
                    children: Vec::new(),
                })
                .collect();
            symbol
        }
        ItemKind::Extern(ext) => leaf(&ext.name, SymbolKind::Function, Some("extern fn".into())),
        ItemKind::Fit(fit) => leaf(&fit.name, SymbolKind::Options, Some("fit".into())),
        ItemKind::Sampler(o) => leaf(&o.name, SymbolKind::Options, Some("sampler".into())),
        ItemKind::Selector(o) => leaf(&o.name, SymbolKind::Options, Some("selector".into())),
        ItemKind::Train(train) => Symbol {
            name: format!("train {}", train.model.text),
            kind: SymbolKind::Stage,
            detail: None,
            range,
            selection: train.model.span.shifted(offset),
            children: Vec::new(),
        },
        ItemKind::Eval(eval) => Symbol {
            name: format!("eval {}", eval.model.text),
            kind: SymbolKind::Stage,
            detail: None,
            range,
            selection: eval.model.span.shifted(offset),
            children: Vec::new(),
        },
        ItemKind::Report(_) => Symbol {
            name: "report".into(),
            kind: SymbolKind::Stage,
            detail: None,
            range,
            selection: keyword_span,
            children: Vec::new(),
        },
        ItemKind::Repeat(repeat) => Symbol {
            name: format!("repeat {}", text.text(db).get(repeat.count.span.range()).unwrap_or("")),
            kind: SymbolKind::Stage,
            detail: None,
            range,
            selection: keyword_span,
            children: repeat.items.iter().filter_map(|i| item_symbol(db, text, i, offset)).collect(),
        },
    })
}

/// What a token is, for highlighting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SemanticClass {
    Keyword,
    Comment,
    String,
    Number,
    Operator,
    /// A schema name, or a type in an annotation (`f32`, `Text`).
    Type,
    Model,
    Loss,
    /// A function (extern) or a model method.
    Function,
    Variable,
    Parameter,
    /// A schema field or a column, a split part.
    Property,
    /// An option name of a stage.
    Option,
    /// `batch`, `tok`, `k`
    Dim,
    /// `std.losses`, a `use` path
    Namespace,
}

/// One classified token; `declaration` marks a definition, `stdlib` a stdlib
/// name, `documentation` a doc comment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SemanticToken {
    pub range: Span,
    pub class: SemanticClass,
    pub declaration: bool,
    pub stdlib: bool,
    pub documentation: bool,
}

const OPERATORS: &[&str] = &["+", "-", "*", "/", "^", "==", "!=", "<", "<=", ">", ">=", "=", "|", "->", "?"];

pub(crate) fn semantic_tokens(db: &dyn Db, file: SourceFile) -> Vec<SemanticToken> {
    let text = file.text(db);
    if text.len() > plumb_syntax::MAX_FILE_BYTES {
        return Vec::new();
    }
    let walk = walk_file(db, file);
    let mut names: BTreeMap<u32, (SemanticClass, bool, bool)> = BTreeMap::new();
    for occurrence in &walk.occurrences {
        let (class, stdlib) = match &occurrence.target {
            None => (SemanticClass::Variable, false),
            Some(target) => classify(db, target),
        };
        names.entry(occurrence.span.start).or_insert((class, occurrence.is_def, stdlib));
    }
    let type_names: BTreeSet<u32> = walk.type_names.iter().map(|s| s.start).collect();
    let mut out = Vec::new();
    for token in tokenize(text) {
        let range = Span::new(token.start, token.end);
        let plain = |class| SemanticToken { range, class, declaration: false, stdlib: false, documentation: false };
        let classified = match token.kind {
            TokenKind::Keyword => plain(SemanticClass::Keyword),
            TokenKind::Number => plain(SemanticClass::Number),
            TokenKind::Str | TokenKind::UnterminatedStr => plain(SemanticClass::String),
            TokenKind::LineComment => plain(SemanticClass::Comment),
            TokenKind::DocComment | TokenKind::ModuleDoc => {
                SemanticToken { documentation: true, ..plain(SemanticClass::Comment) }
            }
            TokenKind::Punct if OPERATORS.contains(&token.text(text)) => plain(SemanticClass::Operator),
            TokenKind::Ident => match names.get(&range.start) {
                Some(&(class, declaration, stdlib)) => {
                    SemanticToken { range, class, declaration, stdlib, documentation: false }
                }
                None if type_names.contains(&range.start) => plain(SemanticClass::Type),
                None => plain(SemanticClass::Variable),
            },
            _ => continue,
        };
        out.push(classified);
    }
    out
}

fn classify(db: &dyn Db, target: &Target) -> (SemanticClass, bool) {
    match target {
        Target::Global(def) => {
            let class = match def.kind {
                DefKind::Schema => SemanticClass::Type,
                DefKind::Let | DefKind::Fit | DefKind::Sampler | DefKind::Selector => SemanticClass::Variable,
                DefKind::Model => SemanticClass::Model,
                DefKind::Loss => SemanticClass::Loss,
                DefKind::Extern => SemanticClass::Function,
            };
            (class, *def.file.is_std(db))
        }
        Target::File(_) => (SemanticClass::Namespace, false),
        Target::Local { .. } => (SemanticClass::Variable, false),
        Target::Param { owner, .. } => (SemanticClass::Parameter, *owner.file.is_std(db)),
        Target::Column { .. } | Target::Member(_) => (SemanticClass::Property, false),
        Target::Role(_) => (SemanticClass::Model, false),
        Target::Dim(_) => (SemanticClass::Dim, false),
        Target::Method(_) => (SemanticClass::Function, true),
        Target::Option { .. } => (SemanticClass::Option, false),
    }
}
