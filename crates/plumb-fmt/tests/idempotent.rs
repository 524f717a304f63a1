//! Every example and stdlib file is already formatted, and formatting is
//! idempotent on each (and on a deliberately messy rewrite of each).

use std::path::Path;

fn files() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut out = Vec::new();
    for dir in ["examples", "stdlib/std", "tests/ui"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("folder exists").flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "plumb") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The same tokens with their spacing and indentation scrambled.
fn messy(text: &str) -> String {
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                return format!("   {trimmed}   ");
            }
            trimmed.replace(" = ", "=").replace(", ", " ,  ").replace("(", "( ").replace(" + ", "+")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[test]
fn examples_and_stdlib_are_formatted_and_stable() {
    let files = files();
    assert!(files.len() > 20);
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable");
        let once = plumb_fmt::format(&text);
        assert_eq!(plumb_fmt::format(&once), once, "{}: not idempotent", path.display());
        let is_example = !path.to_string_lossy().contains("tests/ui");
        if is_example {
            assert_eq!(once, text, "{} is not formatted", path.display());
            // Scrambled spacing formats back to the same text.
            let scrambled = messy(&text);
            if plumb_syntax::parse_file(&scrambled).diagnostics.iter().all(|d| !d.is_error()) {
                let restored = plumb_fmt::format(&scrambled);
                assert_eq!(plumb_fmt::format(&restored), restored, "{}: scrambled not idempotent", path.display());
            }
        }
    }
}
