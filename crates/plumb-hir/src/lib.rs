//! Semantic analysis of recipes as salsa queries: name resolution across files
//! and the stdlib, types with named dims, parameter constraints, and the wiring
//! checks between data, models, losses and stages.
//!
//! Invariants: every query is a function of [`plumb_db::SourceFile`] texts;
//! items are cached by their text (interned as [`ItemText`]) with item-relative
//! spans, so an edit inside one item re-checks that item only; nothing here
//! panics on any input.

mod check;
mod data_files;
mod options;
mod suggest;
pub mod types;
mod walk;

use plumb_db::{Db, SourceFile};
use plumb_diag::Diagnostic;
use plumb_syntax::ast::{ItemKind, UseSource};
use plumb_syntax::{ItemParse, MAX_FILE_BYTES};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub use data_files::{check_data_files, is_conversation};
pub use options::{
    FIT_OPTIONS, FOREIGN_OPTIONS, OptionKind, OptionTable, SAMPLER_OPTIONS, SELECTOR_OPTIONS, TRAIN_OPTIONS,
};
pub use suggest::{closest, distance};
pub use types::{Dim, Dims, LossUse, ModelKind, Scalar, Type};

/// The text of one item, interned so that equal texts share cached results.
#[salsa::interned(unsafe(no_lifetime), revisions = usize::MAX, debug)]
pub struct ItemText {
    #[returns(ref)]
    pub text: String,
}

/// One item of a file: where it is and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemEntry {
    pub offset: u32,
    pub text: ItemText,
    /// Set when the item nests too deeply to be parsed.
    pub too_deep: Option<Diagnostic>,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FileItems {
    pub module_doc: Option<String>,
    pub entries: Vec<ItemEntry>,
    /// A problem with the file as a whole (empty, too large); no items then.
    pub file_error: Option<Diagnostic>,
}

/// Cuts a file into items.
#[salsa::tracked(returns(clone))]
pub fn file_items(db: &dyn Db, file: SourceFile) -> Arc<FileItems> {
    let text = file.text(db);
    if text.len() > MAX_FILE_BYTES || text.trim().is_empty() {
        let file_error = plumb_syntax::decode(text.as_bytes()).err();
        return Arc::new(FileItems { file_error, ..FileItems::default() });
    }
    let split = plumb_syntax::split(text);
    let entries = split
        .chunks
        .into_iter()
        .map(|chunk| ItemEntry {
            offset: chunk.start as u32,
            text: ItemText::new(db, text[chunk.start..chunk.end].to_string()),
            too_deep: chunk.too_deep,
        })
        .collect();
    Arc::new(FileItems { module_doc: split.module_doc, entries, file_error: None })
}

/// Parses one item; cached by the item's text.
#[salsa::tracked(returns(clone))]
pub fn parse_item_text(db: &dyn Db, item: ItemText) -> Arc<ItemParse> {
    Arc::new(plumb_syntax::parse_item(item.text(db)))
}

/// The kind of a top-level definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DefKind {
    Schema,
    Let,
    Model,
    Loss,
    Extern,
    Fit,
    Sampler,
    Selector,
}

impl DefKind {
    pub fn describe(self) -> &'static str {
        match self {
            DefKind::Schema => "schema",
            DefKind::Let => "binding",
            DefKind::Model => "model",
            DefKind::Loss => "loss",
            DefKind::Extern => "function",
            DefKind::Fit => "fitted preference model",
            DefKind::Sampler => "sampler",
            DefKind::Selector => "selector",
        }
    }
}

/// Where a name is defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DefRef {
    pub file: SourceFile,
    pub item: ItemText,
    pub kind: DefKind,
}

/// The kind of definition an item makes, if any.
pub fn def_kind(kind: &ItemKind) -> Option<DefKind> {
    Some(match kind {
        ItemKind::Schema(_) => DefKind::Schema,
        ItemKind::Let(_) => DefKind::Let,
        ItemKind::Model(_) => DefKind::Model,
        ItemKind::Loss(_) => DefKind::Loss,
        ItemKind::Extern(_) => DefKind::Extern,
        ItemKind::Fit(_) => DefKind::Fit,
        ItemKind::Sampler(_) => DefKind::Sampler,
        ItemKind::Selector(_) => DefKind::Selector,
        _ => return None,
    })
}

/// The names a file defines itself (the first definition of each name).
#[salsa::tracked(returns(clone))]
pub fn own_defs(db: &dyn Db, file: SourceFile) -> Arc<BTreeMap<String, DefRef>> {
    let mut defs = BTreeMap::new();
    for entry in &file_items(db, file).entries {
        let parse = parse_item_text(db, entry.text);
        let Some(item) = &parse.item else { continue };
        if let (Some(name), Some(kind)) = (item.kind.defined_name(), def_kind(&item.kind)) {
            defs.entry(name.text.clone()).or_insert(DefRef { file, item: entry.text, kind });
        }
    }
    Arc::new(defs)
}

/// The file a `use` refers to, if the workspace has it.
pub fn resolve_use_source(db: &dyn Db, file: SourceFile, source: &UseSource) -> Option<SourceFile> {
    let files = db.workspace().files(db);
    match source {
        UseSource::Module(path) => {
            let names: Vec<&str> = path.iter().map(|n| n.text.as_str()).collect();
            match names.as_slice() {
                ["std", module] => files.get(&plumb_db::std_path(module)).copied(),
                _ => None,
            }
        }
        UseSource::File { path, .. } => files.get(&relative_path(file.path(db), path)).copied(),
    }
}

/// `target` resolved against the directory of `from`, lexically normalised.
pub fn relative_path(from: &str, target: &str) -> String {
    let base = std::path::Path::new(from).parent().unwrap_or(std::path::Path::new(""));
    plumb_db::normalize_path(&base.join(target).to_string_lossy())
}

/// Every name visible at the top level of a file: the math prelude, imports, and
/// the file's own definitions (which win).
#[salsa::tracked(returns(clone))]
pub fn scope(db: &dyn Db, file: SourceFile) -> Arc<BTreeMap<String, DefRef>> {
    let mut names = BTreeMap::new();
    let prelude_path = plumb_db::std_path("math");
    if file.path(db) != &prelude_path
        && let Some(&prelude) = db.workspace().files(db).get(&prelude_path)
    {
        names.extend(own_defs(db, prelude).iter().map(|(k, v)| (k.clone(), *v)));
    }
    for entry in &file_items(db, file).entries {
        let parse = parse_item_text(db, entry.text);
        let Some(ItemKind::Use(use_item)) = parse.item.as_ref().map(|i| &i.kind) else {
            continue;
        };
        let Some(target) = resolve_use_source(db, file, &use_item.source) else {
            continue;
        };
        if target == file {
            continue;
        }
        let defs = own_defs(db, target);
        for name in &use_item.names {
            if let Some(def) = defs.get(&name.text) {
                names.insert(name.text.clone(), *def);
            }
        }
    }
    names.extend(own_defs(db, file).iter().map(|(k, v)| (k.clone(), *v)));
    Arc::new(names)
}

/// Names that exist but could not be resolved: imported by a `use` that failed,
/// or defined by an item that does not parse. Uses of them are not reported
/// again (the failed item already was).
#[salsa::tracked(returns(clone))]
pub fn unresolved_names(db: &dyn Db, file: SourceFile) -> Arc<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for entry in &file_items(db, file).entries {
        let parse = parse_item_text(db, entry.text);
        match parse.item.as_ref().map(|i| &i.kind) {
            Some(ItemKind::Use(use_item)) => {
                let target = resolve_use_source(db, file, &use_item.source);
                let defs = target.map(|t| own_defs(db, t));
                for name in &use_item.names {
                    if !defs.as_ref().is_some_and(|d| d.contains_key(&name.text)) {
                        names.insert(name.text.clone());
                    }
                }
            }
            Some(_) => {}
            None => {
                if let Some(name) = tentative_name(entry.text.text(db)) {
                    names.insert(name);
                }
            }
        }
    }
    Arc::new(names)
}

/// The name a broken item was meant to define (`let NAME`, `loss NAME`, …).
fn tentative_name(text: &str) -> Option<String> {
    use plumb_syntax::lexer::{TokenKind, tokenize};
    let mut tokens = tokenize(text).into_iter().filter(|t| !t.is_trivia() && !t.is_comment());
    let keyword = tokens.next()?;
    let defining = ["let", "model", "loss", "schema", "fit", "sampler", "selector", "extern"];
    if keyword.kind != TokenKind::Keyword || !defining.contains(&keyword.text(text)) {
        return None;
    }
    let mut name = tokens.next()?;
    if name.text(text) == "fn" {
        name = tokens.next()?;
    }
    (name.kind == TokenKind::Ident).then(|| name.text(text).to_string())
}

/// The type of a top-level `let`, `model` or `fit` item.
#[salsa::tracked(returns(clone), cycle_result = binding_type_cycle)]
pub fn binding_type(db: &dyn Db, file: SourceFile, item: ItemText) -> Type {
    check::infer_binding(db, file, item)
}

fn binding_type_cycle(_db: &dyn Db, _id: salsa::Id, _file: SourceFile, _item: ItemText) -> Type {
    Type::Opaque("cycle".into())
}

/// What a loss needs from a stage: its schema and the roles it calls.
#[salsa::tracked(returns(clone))]
pub fn loss_use(db: &dyn Db, file: SourceFile, item: ItemText) -> Option<LossUse> {
    let parse = parse_item_text(db, item);
    let Some(ItemKind::Loss(loss)) = parse.item.as_ref().map(|i| &i.kind) else {
        return None;
    };
    let mut usage = walk::loss_use(loss);
    // A schema that does not resolve was reported with the loss; do not wire-check it.
    if let Some(schema) = &usage.schema
        && scope(db, file).get(schema).is_none_or(|d| d.kind != DefKind::Schema)
    {
        usage.schema = None;
    }
    Some(usage)
}

/// The diagnostics of one item, with item-relative spans.
#[salsa::tracked(returns(clone))]
pub fn check_item(db: &dyn Db, file: SourceFile, item: ItemText) -> Arc<Vec<Diagnostic>> {
    Arc::new(check::check_item(db, file, item))
}

/// Every diagnostic of a file, with file-relative spans, in source order.
#[salsa::tracked(returns(clone))]
pub fn file_diagnostics(db: &dyn Db, file: SourceFile) -> Arc<Vec<Diagnostic>> {
    let items = file_items(db, file);
    if let Some(error) = &items.file_error {
        return Arc::new(vec![error.clone()]);
    }
    let mut diagnostics = Vec::new();
    let mut defined: BTreeMap<String, u32> = BTreeMap::new();
    let mut used = BTreeSet::new();
    let mut candidates_unused = Vec::new();
    let mut any_broken = false;
    for entry in &items.entries {
        if let Some(diagnostic) = &entry.too_deep {
            diagnostics.push(diagnostic.clone().shifted(entry.offset));
            continue;
        }
        let parse = parse_item_text(db, entry.text);
        diagnostics.extend(parse.diagnostics.iter().map(|d| d.clone().shifted(entry.offset)));
        let Some(item) = &parse.item else {
            any_broken = true;
            continue;
        };
        walk::names_used(item, &mut used);
        if let Some(name) = item.kind.defined_name() {
            match defined.get(&name.text) {
                Some(&first) => diagnostics.push(check::duplicate(name, first, entry.offset)),
                None => {
                    defined.insert(name.text.clone(), entry.offset);
                }
            }
        }
        if let ItemKind::Use(use_item) = &item.kind
            && resolve_use_source(db, file, &use_item.source) != Some(file)
        {
            for name in &use_item.names {
                if let Some(&first) = defined.get(&name.text) {
                    diagnostics.push(check::duplicate(name, first, entry.offset));
                } else {
                    defined.insert(name.text.clone(), entry.offset);
                }
                candidates_unused.push((name.clone(), entry.offset, true));
            }
        }
        if let ItemKind::Let(binding) = &item.kind {
            candidates_unused.push((binding.name.clone(), entry.offset, false));
        }
        diagnostics.extend(check_item(db, file, entry.text).iter().map(|d| d.clone().shifted(entry.offset)));
    }
    // Names used only inside an item that does not parse would look unused.
    if !file.is_std(db) && !any_broken {
        for (name, offset, import) in candidates_unused {
            if !used.contains(&name.text) {
                diagnostics.push(check::unused(&name, offset, import));
            }
        }
    }
    // A warning on the very span of an error says nothing new.
    let error_spans: BTreeSet<_> = diagnostics.iter().filter(|d| d.is_error()).map(|d| d.span()).collect();
    diagnostics.retain(|d| d.is_error() || !error_spans.contains(&d.span()));
    diagnostics.sort_by_key(|d| (d.span().start, d.code));
    Arc::new(diagnostics)
}

/// The file paths a file imports with `use "..."`, resolved against its directory.
pub fn imported_paths(db: &dyn Db, file: SourceFile) -> Vec<String> {
    let mut paths = Vec::new();
    for entry in &file_items(db, file).entries {
        let parse = parse_item_text(db, entry.text);
        if let Some(ItemKind::Use(use_item)) = parse.item.as_ref().map(|i| &i.kind)
            && let UseSource::File { path, .. } = &use_item.source
        {
            paths.push(relative_path(file.path(db), path));
        }
    }
    paths
}
