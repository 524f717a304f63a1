//! Prints the parse of a file: `cargo run -p plumb-syntax --example parse_debug FILE`.
fn main() {
    let path = std::env::args().nth(1).expect("usage: parse_debug FILE");
    let text = std::fs::read_to_string(path).expect("readable file");
    let parsed = plumb_syntax::parse_file(&text);
    for (offset, item) in &parsed.items {
        println!("@{offset} {} {:?}", item.kind.keyword(), item.kind.defined_name().map(|n| &n.text));
    }
    for d in &parsed.diagnostics {
        println!("{} {:?} {} | {:?}", d.code, d.span(), d.message, d.help);
    }
}
