//! SVG plots, written by hand (no plotting dependency): per-run curves from `metrics.csv`
//! and a bar chart with error bars for a table report.

use super::render::{Cell, Report};
use std::fmt::Write;
use std::path::Path;

const PALETTE: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];
/// The SVG namespace every chart declares.
pub(crate) const SVG_NS: &str = "http://www.w3.org/2000/svg";
const W: f64 = 720.0;
const H: f64 = 420.0;
// Margins: left, right (legend), top, bottom.
const L: f64 = 64.0;
const R: f64 = 170.0;
const T: f64 = 40.0;
const B: f64 = 52.0;

/// One named line.
pub struct Series {
    /// Legend name.
    pub name: String,
    /// Points (x, y).
    pub points: Vec<(f64, f64)>,
    /// Dashed line.
    pub dashed: bool,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn frame(
    title: &str,
    x_label: &str,
    y_label: &str,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
    x_ticks: bool,
) -> String {
    let mut s = format!(
        "<svg xmlns=\"{SVG_NS}\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>\n<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
        (L + W - R) / 2.0,
        esc(title)
    );
    let (pw, ph) = (W - L - R, H - T - B);
    let intervals = nice_intervals(y0, y1);
    for i in 0..=intervals {
        let v = y0 + (y1 - y0) * i as f64 / intervals as f64;
        let y = T + ph - ph * i as f64 / intervals as f64;
        let _ = writeln!(s, "<line x1=\"{L}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>", L + pw, L - 6.0, y + 4.0, trim(v));
    }
    if x_ticks {
        for i in 0..=5 {
            let v = x0 + (x1 - x0) * i as f64 / 5.0;
            let x = L + pw * i as f64 / 5.0;
            let _ = writeln!(
                s,
                "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                T + ph + 18.0,
                trim(v)
            );
        }
    }
    let _ = writeln!(
        s,
        "<rect x=\"{L}\" y=\"{T}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#333\"/>"
    );
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
        L + pw / 2.0,
        H - 10.0,
        esc(x_label)
    );
    let _ = writeln!(
        s,
        "<text transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        T + ph / 2.0,
        esc(y_label)
    );
    s
}

/// The largest "nice" tick step (1, 2 or 5 × 10^k) giving at least 4 intervals over
/// `[y0, y1]` (so a range widened to its multiples keeps the same step).
fn nice_step(y0: f64, y1: f64) -> f64 {
    let span = (y1 - y0).abs().max(1e-12);
    let mag = 10f64.powf((span / 4.0).log10().floor());
    [10.0, 5.0, 2.0, 1.0]
        .iter()
        .map(|m| m * mag)
        .find(|step| span / step >= 4.0 - 1e-9)
        .unwrap_or(mag / 2.0)
}

/// `[y0, y1]` widened outwards to multiples of its nice step.
fn nice_range(y0: f64, y1: f64) -> (f64, f64) {
    let step = nice_step(y0, y1);
    // The small slack keeps values already on the grid (0.3 / 0.1 = 2.9999…) where they are.
    (
        (y0 / step + 1e-9).floor() * step,
        (y1 / step - 1e-9).ceil() * step,
    )
}

/// The number of tick intervals of a range made by [`nice_range`]: the largest nice step that
/// divides it into 4 to 12 intervals with both ends on the grid (5 for any other range).
fn nice_intervals(y0: f64, y1: f64) -> usize {
    let span = y1 - y0;
    let mag = 10f64.powf((span.abs().max(1e-12) / 4.0).log10().floor());
    let on_grid = |v: f64, step: f64| ((v / step) - (v / step).round()).abs() < 1e-6;
    [10.0, 5.0, 2.0, 1.0, 0.5]
        .iter()
        .map(|m| m * mag)
        .find_map(|step| {
            let n = (span / step).round();
            let fits = (4.0..=12.0).contains(&n) && on_grid(y0, step) && on_grid(y1, step);
            fits.then_some(n as usize)
        })
        .unwrap_or(5)
}

fn trim(v: f64) -> String {
    let t = format!("{v:.3}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A line chart of `series`; the y range covers the data (and `y_floor`..`y_ceil` if given).
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    y_range: Option<(f64, f64)>,
) -> String {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|v| v.is_finite());
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let (mut y0, mut y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if let Some((a, b)) = y_range {
        y0 = y0.min(a);
        y1 = y1.max(b);
    }
    if y1 <= y0 || y1.is_nan() {
        (y0, y1) = (y0 - 0.5, y0 + 0.5);
    }
    let (x0, x1) = if x1 > x0 {
        (x0, x1)
    } else {
        (x0 - 1.0, x0 + 1.0)
    };
    let (y0, y1) = nice_range(y0, y1);
    let mut s = frame(title, x_label, y_label, (x0, x1), (y0, y1), true);
    let (pw, ph) = (W - L - R, H - T - B);
    for (i, ser) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        // Past the palette, colours repeat: dashes keep every line distinct.
        let dashed = ser.dashed || i >= PALETTE.len();
        let pts: Vec<String> = ser
            .points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|(x, y)| {
                format!(
                    "{:.1},{:.1}",
                    L + pw * (x - x0) / (x1 - x0),
                    T + ph - ph * (y - y0) / (y1 - y0)
                )
            })
            .collect();
        let dash = if dashed {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
            pts.join(" ")
        );
        let ly = T + 14.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            "<line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            W - R + 10.0,
            W - R + 34.0,
            W - R + 40.0,
            ly + 4.0,
            esc(&ser.name)
        );
    }
    s.push_str("</svg>\n");
    widen_for_legend(s, series)
}

/// The chart with its canvas widened to the right so the longest legend name fits (about 7
/// px per character at 12 px type).
fn widen_for_legend(s: String, series: &[Series]) -> String {
    let longest = series
        .iter()
        .map(|x| x.name.chars().count())
        .max()
        .unwrap_or(0);
    let needed = 40.0 + 7.0 * longest as f64 + 10.0;
    if needed <= R {
        return s;
    }
    let w = W - R + needed;
    s.replacen(
        &format!("width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\""),
        &format!("width=\"{w}\" height=\"{H}\" viewBox=\"0 0 {w} {H}\""),
        1,
    )
    .replacen(
        &format!("<rect width=\"{W}\""),
        &format!("<rect width=\"{w}\""),
        1,
    )
}

/// Plots of one run directory: `accuracy.svg` (fused and per-modality test accuracy per epoch)
/// and `balance.svg` (mean λ per modality and of the label, contribution per modality).
pub fn run_plots(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let path = dir.join("metrics.csv");
    let mut r = csv::Reader::from_path(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let header: Vec<String> = r
        .headers()
        .map_err(|e| e.to_string())?
        .iter()
        .map(str::to_string)
        .collect();
    let rows: Vec<csv::StringRecord> = r
        .records()
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    if rows.is_empty() {
        return Err(format!("{}: no epochs yet", path.display()));
    }
    let column = |name: &str, label: &str, dashed: bool| -> Option<Series> {
        let i = header.iter().position(|h| h == name)?;
        let points = rows
            .iter()
            .filter_map(|row| Some((row[0].parse().ok()?, row[i].parse().ok()?)))
            .collect::<Vec<_>>();
        (!points.is_empty()).then(|| Series {
            name: label.to_string(),
            points,
            dashed,
        })
    };
    let mods: Vec<String> = header
        .iter()
        .filter_map(|h| h.strip_prefix("accuracy_").map(str::to_string))
        .collect();
    let mut acc =
        vec![column("test_accuracy", "fused (test)", false).ok_or("no test_accuracy column")?];
    acc.extend(column("val_accuracy", "fused (val)", true));
    acc.extend(
        mods.iter()
            .filter_map(|m| column(&format!("accuracy_{m}"), &format!("{m} own"), false)),
    );
    let mut bal: Vec<Series> = mods
        .iter()
        .filter_map(|m| column(&format!("lambda_{m}"), &format!("λ {m}"), false))
        .collect();
    bal.extend(column("lambda_label", "λ label", true));
    bal.extend(mods.iter().filter_map(|m| {
        column(
            &format!("contribution_{m}"),
            &format!("contribution {m}"),
            true,
        )
    }));
    let name = dir.display().to_string();
    Ok(vec![
        (
            "accuracy.svg".into(),
            line_chart(
                &format!("Accuracy — {name}"),
                "epoch",
                "accuracy",
                &acc,
                Some((0.0, 1.0)),
            ),
        ),
        (
            "balance.svg".into(),
            line_chart(
                &format!("Mixing and contributions — {name}"),
                "epoch",
                "value",
                &bal,
                Some((0.0, 1.0)),
            ),
        ),
    ])
}

/// Bar chart of a table: per dataset a group of bars (one per method) at the mean fused
/// accuracy, with ±1 std error bars.
pub fn table_chart(rep: &Report) -> String {
    let values = rep.cells.iter().flatten().filter_map(|c| match c {
        Cell::Done { accuracy, .. } => Some(accuracy.mean - accuracy.std),
        _ => None,
    });
    let lo = values.fold(100.0f64, f64::min);
    let y0 = ((lo - 5.0) / 10.0).floor().max(0.0) * 10.0;
    let y1 = 100.0;
    let mut s = frame(
        &rep.title,
        "dataset",
        "test accuracy (%)",
        (0.0, 1.0),
        (y0, y1),
        false,
    );
    let (pw, ph) = (W - L - R, H - T - B);
    let groups = rep.columns.len().max(1) as f64;
    let bars = rep.rows.len().max(1) as f64;
    let gw = pw / groups;
    let bw = gw * 0.8 / bars;
    let y = |v: f64| T + ph - ph * (v.clamp(y0, y1) - y0) / (y1 - y0);
    for (c, col) in rep.columns.iter().enumerate() {
        let gx = L + gw * c as f64 + gw * 0.1;
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            gx + gw * 0.4,
            T + ph + 18.0,
            esc(&col.label)
        );
        for r in 0..rep.rows.len() {
            let x = gx + bw * r as f64;
            let color = PALETTE[r % PALETTE.len()];
            if let Cell::Done { accuracy, .. } = &rep.cells[r][c] {
                let _ = writeln!(s, "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"/>", y(accuracy.mean), bw * 0.9, (T + ph - y(accuracy.mean)).max(0.0));
                let cx = x + bw * 0.45;
                let (a, b) = (
                    y(accuracy.mean - accuracy.std),
                    y(accuracy.mean + accuracy.std),
                );
                let _ = writeln!(s, "<line x1=\"{cx:.1}\" y1=\"{a:.1}\" x2=\"{cx:.1}\" y2=\"{b:.1}\" stroke=\"black\"/>");
            }
        }
    }
    for (r, label) in rep.rows.iter().enumerate() {
        let ly = T + 10.0 + 16.0 * r as f64;
        let _ = writeln!(s, "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"12\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>", W - R + 10.0, ly - 9.0, PALETTE[r % PALETTE.len()], W - R + 26.0, ly, esc(label));
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_get_round_ticks() {
        assert_eq!(nice_range(47.5, 99.667), (40.0, 100.0));
        assert_eq!(nice_intervals(40.0, 100.0), 6);
        assert_eq!(nice_range(49.7, 99.667), (40.0, 100.0));
        let (lo, hi) = nice_range(0.3, 0.87);
        assert!(
            (lo - 0.3).abs() < 1e-12 && (hi - 0.9).abs() < 1e-12,
            "{lo} {hi}"
        );
        assert_eq!(nice_intervals(0.3, 0.9), 6);
        // Widening to step 2 gives (76, 96), which has no 5-grid: ten steps of 2.
        assert_eq!(nice_range(76.1, 94.2), (76.0, 96.0));
        assert_eq!(nice_intervals(76.0, 96.0), 10);
        // A range off every grid keeps five intervals.
        assert_eq!(nice_intervals(1.03, 2.31), 5);
    }
}
