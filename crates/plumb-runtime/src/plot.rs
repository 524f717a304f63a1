//! SVG line charts of training metrics, written by hand: axes with nice ticks,
//! a title, axis labels, a legend and one polyline per series.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cache::write_atomic;
use crate::error::{Result, RuntimeError, codes};

#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 360.0;
// The plot area; the legend sits to its right.
const LEFT: f64 = 64.0;
const RIGHT: f64 = 480.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 306.0;
const LEGEND_X: f64 = 496.0;
const LEGEND_CHARS: usize = 20;
/// Distinct for up to eight series, then repeated.
const COLOURS: [&str; 8] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

/// About five round tick values (steps of 1, 2 or 5 × 10^k) whose first and
/// last enclose `[min, max]`. An empty or non-finite range is widened or
/// replaced, so there are always at least two ticks.
pub fn nice_ticks(min: f64, max: f64) -> Vec<f64> {
    const FALLBACK: [f64; 3] = [-1.0, 0.0, 1.0];
    let (mut lo, mut hi) = if min.is_finite() && max.is_finite() { (min.min(max), min.max(max)) } else { (0.0, 1.0) };
    if hi - lo <= 0.0 {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        lo -= pad;
        hi += pad;
    }
    // Halving first keeps the span of values near f64::MAX finite.
    let raw = (hi / 2.0 - lo / 2.0) / 2.0;
    if !(raw.is_finite() && raw > 0.0) {
        return FALLBACK.to_vec();
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction < 1.5 {
        1.0
    } else if fraction < 3.0 {
        2.0
    } else if fraction < 7.0 {
        5.0
    } else {
        10.0
    };
    let step = nice * magnitude;
    // The slack keeps a bound that is a multiple of the step up to rounding from gaining an extra tick.
    let first = (lo / step + 1e-9).floor();
    let last = (hi / step - 1e-9).ceil();
    if !(step.is_finite() && step > 0.0 && first.is_finite() && last.is_finite()) || last - first > 20.0 {
        return FALLBACK.to_vec();
    }
    let (first, last) = (first as i64, last as i64);
    // Adding 0.0 turns -0.0 into 0.0.
    let ticks: Vec<f64> = (first..=last).map(|k| k as f64 * step + 0.0).collect();
    if ticks.iter().all(|t| t.is_finite()) { ticks } else { vec![lo, hi] }
}

/// A tick label: fixed decimals enough to tell ticks `step` apart, or scientific notation for extreme magnitudes.
fn tick_label(value: f64, step: f64) -> String {
    if value == 0.0 {
        return "0".to_string();
    }
    if (1e-4..1e7).contains(&step) && value.abs() < 1e7 {
        let decimals = (-(step.log10() + 1e-9).floor()).max(0.0) as usize;
        return format!("{value:.decimals$}");
    }
    let text = format!("{value:.3e}");
    match text.split_once('e') {
        Some((mantissa, exponent)) if mantissa.contains('.') => {
            format!("{}e{exponent}", mantissa.trim_end_matches('0').trim_end_matches('.'))
        }
        _ => text,
    }
}

/// Text escaped for XML, without the control characters XML 1.0 cannot hold.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if c < ' ' || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

fn legend_name(name: &str) -> String {
    if name.chars().count() <= LEGEND_CHARS {
        name.to_string()
    } else {
        let mut short: String = name.chars().take(LEGEND_CHARS - 1).collect();
        short.push('…');
        short
    }
}

/// A standalone 640×360 SVG line chart. Points with a NaN or infinite
/// coordinate are skipped; a series left with no points draws no line but keeps its legend entry.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let finite: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| s.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect())
        .collect();
    let range = |pick: fn(&(f64, f64)) -> f64| {
        let values = finite.iter().flatten().map(pick);
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if lo <= hi { (lo, hi) } else { (0.0, 1.0) }
    };
    let (x_min, x_max) = range(|p| p.0);
    let (y_min, y_max) = range(|p| p.1);
    let x_ticks = nice_ticks(x_min, x_max);
    let y_ticks = nice_ticks(y_min, y_max);
    let axis = |ticks: &[f64]| {
        let lo = ticks.first().copied().unwrap_or(0.0);
        let hi = ticks.last().copied().unwrap_or(1.0);
        let step = if ticks.len() > 1 { ticks[1] - ticks[0] } else { 1.0 };
        (lo, hi, step)
    };
    let (x_lo, x_hi, x_step) = axis(&x_ticks);
    let (y_lo, y_hi, y_step) = axis(&y_ticks);
    // Halved like the ticks, so that no difference overflows.
    let px = |x: f64| LEFT + (x / 2.0 - x_lo / 2.0) / (x_hi / 2.0 - x_lo / 2.0) * (RIGHT - LEFT);
    let py = |y: f64| BOTTOM - (y / 2.0 - y_lo / 2.0) / (y_hi / 2.0 - y_lo / 2.0) * (BOTTOM - TOP);
    let finite: Vec<Vec<(f64, f64)>> = finite
        .into_iter()
        .map(|points| points.into_iter().filter(|&(x, y)| px(x).is_finite() && py(y).is_finite()).collect())
        .collect();

    let mut svg = String::new();
    // Writing to a String cannot fail, so the results of write! are ignored.
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(svg, r#"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14" font-weight="bold">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );

    for &tick in &x_ticks {
        let x = px(tick);
        let _ = writeln!(svg, r##"<line x1="{x:.2}" y1="{TOP}" x2="{x:.2}" y2="{BOTTOM}" stroke="#e5e5e5"/>"##);
        let _ = writeln!(
            svg,
            r#"<text x="{x:.2}" y="{}" text-anchor="middle">{}</text>"#,
            BOTTOM + 16.0,
            escape(&tick_label(tick, x_step))
        );
    }
    for &tick in &y_ticks {
        let y = py(tick);
        let _ = writeln!(svg, r##"<line x1="{LEFT}" y1="{y:.2}" x2="{RIGHT}" y2="{y:.2}" stroke="#e5e5e5"/>"##);
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{y:.2}" dy="0.32em" text-anchor="end">{}</text>"#,
            LEFT - 6.0,
            escape(&tick_label(tick, y_step))
        );
    }
    let _ = writeln!(
        svg,
        r#"<polyline points="{LEFT},{TOP} {LEFT},{BOTTOM} {RIGHT},{BOTTOM}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (LEFT + RIGHT) / 2.0,
        HEIGHT - 16.0,
        escape(x_label)
    );
    let middle = (TOP + BOTTOM) / 2.0;
    let _ = writeln!(
        svg,
        r#"<text x="16" y="{middle}" text-anchor="middle" transform="rotate(-90 16 {middle})">{}</text>"#,
        escape(y_label)
    );

    for (i, (s, points)) in series.iter().zip(&finite).enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        if !points.is_empty() {
            let coords: Vec<String> = points.iter().map(|&(x, y)| format!("{:.2},{:.2}", px(x), py(y))).collect();
            let _ = writeln!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="1.5"/>"#,
                coords.join(" ")
            );
            if let [(x, y)] = points[..] {
                let _ = writeln!(svg, r#"<circle cx="{:.2}" cy="{:.2}" r="2.5" fill="{colour}"/>"#, px(x), py(y));
            }
        }
        let y = TOP + 10.0 + 18.0 * i as f64;
        let _ = writeln!(
            svg,
            r#"<line x1="{LEGEND_X}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="2"/>"#,
            LEGEND_X + 18.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{y}" dy="0.32em">{}</text>"#,
            LEGEND_X + 24.0,
            escape(&legend_name(&s.name))
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A metric value: a JSON number, or a string such as `"NaN"` or `"inf"` (how
/// Plumb's JSON writes non-finite numbers).
fn metric(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The series of `field` over the rows that have it, against `step` (the row's index where it has none).
fn series_of(metrics: &[Value], field: &str) -> Option<Series> {
    let mut present = false;
    let mut points = Vec::new();
    for (index, row) in metrics.iter().enumerate() {
        let Some(value) = row.get(field) else { continue };
        present = true;
        let step = row.get("step").and_then(metric).unwrap_or(index as f64);
        points.push((step, metric(value).unwrap_or(f64::NAN)));
    }
    present.then(|| Series { name: field.to_string(), points })
}

/// Writes `loss.svg`, `reward.svg` (margin and accuracy, where present) and
/// `kl.svg` (where any row has `kl`) into `dir`, and returns their paths.
pub fn write_charts(dir: impl AsRef<Path>, metrics: &[Value]) -> Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    fs::create_dir_all(dir).map_err(|e| RuntimeError::io(codes::IO, "create", dir, &e))?;
    let loss = series_of(metrics, "loss").unwrap_or_else(|| Series { name: "loss".into(), points: Vec::new() });
    let reward: Vec<Series> = ["margin", "accuracy"].iter().filter_map(|f| series_of(metrics, f)).collect();
    let kl = series_of(metrics, "kl");

    let mut charts = vec![("loss.svg", line_chart("Training loss", "step", "loss", &[loss]))];
    if !reward.is_empty() {
        charts.push(("reward.svg", line_chart("Reward margin and accuracy", "step", "value", &reward)));
    }
    if let Some(kl) = kl {
        charts.push(("kl.svg", line_chart("KL divergence from the reference", "step", "kl", &[kl])));
    }
    let mut paths = Vec::new();
    for (name, svg) in charts {
        let path = dir.join(name);
        write_atomic(&path, svg.as_bytes())?;
        paths.push(path);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_fit_the_step() {
        assert_eq!(tick_label(0.4, 0.2), "0.4");
        assert_eq!(tick_label(0.05, 0.05), "0.05");
        assert_eq!(tick_label(1000.0, 500.0), "1000");
        assert_eq!(tick_label(0.001, 0.001), "0.001");
        assert_eq!(tick_label(1.25e8, 5e6), "1.25e8");
        assert_eq!(tick_label(2e-6, 1e-6), "2e-6");
    }

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        assert_eq!(escape("a<b & \"c\" 'd'>\u{1}"), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
    }

    #[test]
    fn long_legend_names_are_shortened() {
        assert_eq!(legend_name("short"), "short");
        assert_eq!(legend_name(&"x".repeat(30)).chars().count(), LEGEND_CHARS);
    }
}
