//! SVG charts: well-formed documents, nice ticks, and degenerate data.

mod common;

use std::fs;

use common::TempDir;
use plumb_runtime::plot::nice_ticks;
use plumb_runtime::{Series, line_chart, write_charts};
use serde_json::json;

fn series(name: &str, points: &[(f64, f64)]) -> Series {
    Series { name: name.to_string(), points: points.to_vec() }
}

/// Checks that tags balance and that text and attributes hold no raw `<` or stray `&`; returns the element names.
fn check_xml(svg: &str) -> Vec<String> {
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
    let mut stack: Vec<String> = Vec::new();
    let mut elements = Vec::new();
    let mut rest = svg;
    while let Some(open) = rest.find('<') {
        check_text(&rest[..open]);
        let close = rest[open..].find('>').expect("an unclosed tag") + open;
        let tag = &rest[open + 1..close];
        assert!(!tag.contains('<'), "a raw < inside {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
        } else {
            let name = tag.split_whitespace().next().unwrap().trim_end_matches('/').to_string();
            elements.push(name.clone());
            let quotes = tag.matches('"').count();
            assert_eq!(quotes % 2, 0, "unbalanced quotes in <{tag}>");
            check_text(tag);
            if !tag.ends_with('/') {
                stack.push(name);
            }
        }
        rest = &rest[close + 1..];
        if stack.is_empty() {
            assert!(rest.trim().is_empty(), "content after the root element");
        }
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
    elements
}

fn check_text(text: &str) {
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..text[i..].find(';').map_or(text.len(), |end| i + end + 1)];
        assert!(["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity), "a stray & in {text}");
    }
}

fn count(elements: &[String], name: &str) -> usize {
    elements.iter().filter(|e| *e == name).count()
}

#[test]
fn a_chart_is_a_well_formed_svg_with_one_polyline_per_series() {
    let svg = line_chart(
        "loss <dpo> & \"friends\"",
        "step",
        "loss",
        &[series("train", &[(0.0, 0.69), (1.0, 0.5), (2.0, 0.41)]), series("eval's", &[(0.0, 0.7), (2.0, 0.45)])],
    );
    let elements = check_xml(&svg);
    assert!(svg.contains(r#"width="640" height="360""#), "{svg}");
    assert!(svg.contains("loss &lt;dpo&gt; &amp; &quot;friends&quot;"), "{svg}");
    assert!(svg.contains("eval&apos;s"), "{svg}");
    // The axes are one more polyline.
    assert_eq!(count(&elements, "polyline"), 2 + 1);
    assert!(svg.contains("#1f77b4") && svg.contains("#d62728"), "distinct colours");
}

#[test]
fn non_finite_points_are_skipped_and_empty_series_keep_their_legend() {
    let svg = line_chart(
        "t",
        "x",
        "y",
        &[
            series("mixed", &[(0.0, 1.0), (1.0, f64::NAN), (2.0, f64::INFINITY), (f64::NAN, 3.0), (3.0, 2.0)]),
            series("all-nan", &[(0.0, f64::NAN), (1.0, f64::NEG_INFINITY)]),
            series("none", &[]),
        ],
    );
    let elements = check_xml(&svg);
    assert_eq!(count(&elements, "polyline"), 1 + 1);
    assert!(svg.contains(">all-nan</text>") && svg.contains(">none</text>"), "{svg}");
    assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    let mixed = svg.lines().find(|l| l.contains("stroke=\"#1f77b4\"") && l.contains("<polyline")).unwrap();
    assert_eq!(mixed.matches(',').count(), 2, "two finite points: {mixed}");
}

#[test]
fn constant_series_single_points_and_no_data_do_not_divide_by_zero() {
    for data in [
        vec![series("flat", &[(0.0, 2.0), (1.0, 2.0), (2.0, 2.0)])],
        vec![series("one", &[(5.0, 0.0)])],
        vec![series("zeros", &[(0.0, 0.0), (0.0, 0.0)])],
        vec![],
        vec![series("huge", &[(0.0, -1e308), (1.0, 1e308)])],
    ] {
        let svg = line_chart("t", "x", "y", &data);
        let elements = check_xml(&svg);
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        assert_eq!(count(&elements, "polyline"), data.len() + 1);
    }
    let single = line_chart("t", "x", "y", &[series("one", &[(5.0, 1.0)])]);
    assert_eq!(count(&check_xml(&single), "circle"), 1, "a single point is drawn as a dot");
}

#[test]
fn ticks_are_nice_and_enclose_the_range() {
    let close = |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9);
    let cases: [(f64, f64, &[f64]); 6] = [
        (0.0, 1.0, &[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0.0, 100.0, &[0.0, 20.0, 40.0, 60.0, 80.0, 100.0]),
        (0.0, 7.0, &[0.0, 2.0, 4.0, 6.0, 8.0]),
        (0.3, 0.95, &[0.2, 0.4, 0.6, 0.8, 1.0]),
        (-3.0, 7.0, &[-4.0, -2.0, 0.0, 2.0, 4.0, 6.0, 8.0]),
        (1.0, 1000.0, &[0.0, 200.0, 400.0, 600.0, 800.0, 1000.0]),
    ];
    for (lo, hi, expected) in cases {
        let ticks = nice_ticks(lo, hi);
        assert!(close(&ticks, expected), "{lo}..{hi}: {ticks:?}");
    }
    for (lo, hi) in [(0.0, 1.0), (-0.013, 0.021), (1e-9, 3e-9), (12345.0, 12400.0), (2.0, 2.0), (0.0, 0.0)] {
        let ticks = nice_ticks(lo, hi);
        assert!((4..=8).contains(&ticks.len()), "{lo}..{hi}: {ticks:?}");
        assert!(ticks[0] <= lo && *ticks.last().unwrap() >= hi, "{lo}..{hi}: {ticks:?}");
        let step = ticks[1] - ticks[0];
        let mantissa = step / 10f64.powf(step.log10().floor());
        assert!([1.0, 2.0, 5.0, 10.0].iter().any(|m| (mantissa - m).abs() < 1e-6), "{lo}..{hi}: step {step}");
        assert!(!ticks.iter().any(|t| t.is_sign_negative() && *t == 0.0), "no -0");
    }
    assert!(nice_ticks(f64::NAN, 1.0).len() >= 2);
}

#[test]
fn write_charts_writes_the_charts_the_metrics_have() {
    let tmp = TempDir::new("plot-write");
    let rows = vec![
        json!({"step": 1, "loss": 0.69, "margin": 0.0, "accuracy": 0.5}),
        json!({"step": 2, "loss": 0.6, "margin": 0.3, "accuracy": 0.6, "kl": 0.01}),
        json!({"step": 3, "loss": "NaN", "margin": 0.5}),
    ];
    let dir = tmp.path().join("charts");
    let paths = write_charts(&dir, &rows).unwrap();
    assert_eq!(paths, [dir.join("loss.svg"), dir.join("reward.svg"), dir.join("kl.svg")]);
    let reward = fs::read_to_string(dir.join("reward.svg")).unwrap();
    assert_eq!(count(&check_xml(&reward), "polyline"), 2 + 1);
    assert!(reward.contains(">margin</text>") && reward.contains(">accuracy</text>"));
    let loss = fs::read_to_string(dir.join("loss.svg")).unwrap();
    check_xml(&loss);

    let only_loss = tmp.path().join("only-loss");
    let paths = write_charts(&only_loss, &[json!({"step": 0, "loss": 1.0})]).unwrap();
    assert_eq!(paths, [only_loss.join("loss.svg")]);
    let names: Vec<_> = fs::read_dir(&only_loss).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "no temporaries left: {names:?}");
}
