//! The language server as its own binary (`plumb lsp` runs the same function):
//! LSP over stdin/stdout until `exit`.

fn main() {
    std::process::exit(plumb_lsp::run_stdio());
}
