//! Data files of any content give rows or a coded error, never a panic:
//! random bytes, random CSV-like and JSONL-like lines, against a Pairwise schema.

use plumb_plan::data::load_rows;
use plumb_plan::plan::FieldSpec;
use proptest::prelude::*;

fn pairwise() -> Vec<FieldSpec> {
    let text = |n: &str| FieldSpec { name: n.into(), ty: "Text".into(), optional: false, default: None };
    vec![
        text("prompt"),
        text("chosen"),
        text("rejected"),
        FieldSpec { name: "margin".into(), ty: "f32".into(), optional: false, default: Some(serde_json::json!(0.0)) },
        FieldSpec { name: "tags".into(), ty: "Text[k]".into(), optional: true, default: None },
    ]
}

fn load(bytes: &[u8], format: &str) -> Result<usize, &'static str> {
    let path = std::env::temp_dir().join(format!("plumb-data-prop-{}-{format}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    let result = load_rows(&path, "data", format, &pairwise()).map(|r| r.len()).map_err(|e| e.code);
    let _ = std::fs::remove_file(&path);
    result
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        for format in ["jsonl", "csv", "parquet"] {
            if let Err(code) = load(&bytes, format) {
                prop_assert_eq!(code, "P0820");
            }
        }
    }

    #[test]
    fn jsonl_like_lines(lines in proptest::collection::vec(
        prop_oneof![
            Just("{\"prompt\": \"a\", \"chosen\": \" b\", \"rejected\": \" c\"}".to_string()),
            Just("{\"prompt\": \"a\", \"chosen\": [{\"role\": \"assistant\", \"content\": \"x\"}], \"rejected\": \" c\"}".to_string()),
            Just("{\"prompt\": \"\", \"chosen\": \" b\", \"rejected\": \" c\"}".to_string()),
            Just("{\"prompt\": 3}".to_string()),
            Just("[1, 2]".to_string()),
            Just("{\"prompt\": \"a\", \"chosen\": \" b\", \"rejected\": \" c\", \"margin\": \"x\", \"tags\": [1]}".to_string()),
            "[ -~]{0,40}",
        ],
        0..8,
    )) {
        let text = lines.join("\n");
        match load(text.as_bytes(), "jsonl") {
            Ok(n) => prop_assert!(n > 0),
            Err(code) => prop_assert_eq!(code, "P0820"),
        }
    }

    #[test]
    fn csv_like_lines(lines in proptest::collection::vec("[a-z,\" ]{0,30}", 0..6)) {
        let text = format!("prompt,chosen,rejected\n{}", lines.join("\n"));
        match load(text.as_bytes(), "csv") {
            Ok(n) => prop_assert!(n > 0),
            Err(code) => prop_assert_eq!(code, "P0820"),
        }
    }
}
