//! Parquet sources: rows read like JSONL rows, validated against the schema,
//! with a clear error for a file that is not Parquet or a row that does not fit.

use parquet::data_type::{ByteArray, ByteArrayType};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use plumb_plan::data::load_rows;
use plumb_plan::plan::FieldSpec;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn write_pairs(path: &Path, columns: &[(&str, Vec<&str>)]) {
    let schema = format!(
        "message pairs {{ {} }}",
        columns.iter().map(|(name, _)| format!("REQUIRED BYTE_ARRAY {name} (UTF8);")).collect::<Vec<_>>().join(" ")
    );
    let schema = Arc::new(parquet::schema::parser::parse_message_type(&schema).unwrap());
    let props = Arc::new(WriterProperties::builder().set_compression(parquet::basic::Compression::SNAPPY).build());
    let mut writer = SerializedFileWriter::new(std::fs::File::create(path).unwrap(), schema, props).unwrap();
    let mut group = writer.next_row_group().unwrap();
    for (_, values) in columns {
        let mut column = group.next_column().unwrap().unwrap();
        let data: Vec<ByteArray> = values.iter().map(|v| ByteArray::from(*v)).collect();
        column.typed::<ByteArrayType>().write_batch(&data, None, None).unwrap();
        column.close().unwrap();
    }
    group.close().unwrap();
    writer.close().unwrap();
}

fn pairwise() -> Vec<FieldSpec> {
    ["prompt", "chosen", "rejected"]
        .iter()
        .map(|n| FieldSpec { name: n.to_string(), ty: "Text".into(), optional: false, default: None })
        .chain(std::iter::once(FieldSpec {
            name: "margin".into(),
            ty: "f32".into(),
            optional: false,
            default: Some(serde_json::json!(0.0)),
        }))
        .collect()
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("plumb-parquet-{name}-{}.parquet", std::process::id()))
}

#[test]
fn parquet_rows_load_and_validate() {
    let path = scratch("good");
    write_pairs(
        &path,
        &[
            ("prompt", vec!["The kettle", "The lamp"]),
            ("chosen", vec![" is great.", " works well."]),
            ("rejected", vec![" broke.", " is dim."]),
        ],
    );
    let rows = load_rows(&path, "pairs.parquet", "parquet", &pairwise()).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["chosen"], " works well.");
    assert_eq!(rows[0]["margin"], 0.0, "defaults are filled in");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn bad_parquet_files_are_coded_errors() {
    let missing_column = scratch("missing");
    write_pairs(&missing_column, &[("prompt", vec!["The kettle"]), ("chosen", vec![" is great."])]);
    let error = load_rows(&missing_column, "pairs.parquet", "parquet", &pairwise()).unwrap_err();
    assert_eq!(error.code, "P0820");
    assert!(error.message.contains("pairs.parquet: row 1") && error.message.contains("rejected"), "{}", error.message);
    let not_parquet = scratch("text");
    std::fs::write(&not_parquet, "prompt,chosen\n").unwrap();
    let error = load_rows(&not_parquet, "x.parquet", "parquet", &pairwise()).unwrap_err();
    assert!(error.message.contains("not a Parquet file"), "{}", error.message);
    let _ = std::fs::remove_file(&missing_column);
    let _ = std::fs::remove_file(&not_parquet);
}
