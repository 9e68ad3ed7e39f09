//! The chart of a table report: one panel per dataset column, one band per method row with
//! horizontal bars for the fused accuracy and for each modality's own accuracy (±1 std error
//! bars), rows labelled directly on the left with their colour and marker, and cells that did
//! not produce a number (failed, diverged, data missing, not applicable) marked in place.

use super::chart::{esc, header, marker, nice_intervals, style, text_width, trim};
use crate::report::render::{Cell, Report, Stat};
use std::fmt::Write;

// Row band: padding, fused bar, one thinner bar per modality.
const PAD: f64 = 4.0;
const FUSED: f64 = 9.0;
const OWN: f64 = 5.0;
// Panel: bar area, value column (fused mean), gap to the next panel.
const AREA: f64 = 250.0;
const VALUE: f64 = 44.0;
const GAP: f64 = 20.0;
const KEY_FONT: f64 = 11.0;

/// The fill patterns of modality `k`'s own bars, `k mod 4`: diagonal lines, dots,
/// cross-hatch, vertical lines. The first two (the usual two modalities) differ in kind, not
/// only in angle: mirrored diagonals were hard to tell apart on 5 px bars.
const HATCHES: [(&str, i32); 4] = [
    (
        "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"5\" stroke=\"#222\" stroke-width=\"1.3\"/>",
        45,
    ),
    ("<circle cx=\"2.5\" cy=\"2.5\" r=\"1.2\" fill=\"#222\"/>", 0),
    (
        "<path d=\"M0,0 V5 M0,0 H5\" stroke=\"#222\" stroke-width=\"1\" fill=\"none\"/>",
        45,
    ),
    (
        "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"5\" stroke=\"#222\" stroke-width=\"1.3\"/>",
        0,
    ),
];

/// Hatch pattern `own<k>` of the `k`-th modality's own bars (drawn over the row colour), used
/// by the bars and their key alike.
fn hatch_defs(count: usize) -> String {
    let mut s = String::from("<defs>\n");
    for k in 0..count {
        let (body, rotate) = HATCHES[k % HATCHES.len()];
        let _ = writeln!(
            s,
            "<pattern id=\"own{k}\" patternUnits=\"userSpaceOnUse\" width=\"5\" height=\"5\" patternTransform=\"rotate({rotate})\">{body}</pattern>"
        );
    }
    s.push_str("</defs>\n");
    s
}

/// One bar: top `y`, height `h`, the statistic, the row colour, `Some(k)` for modality `k`'s
/// own accuracy (thin and hatched) and a tooltip.
struct Bar<'a> {
    y: f64,
    h: f64,
    stat: Stat,
    color: &'a str,
    own: Option<usize>,
    tip: String,
}

/// A bar from the axis start to the mean, with its ±1 std error bar (none for one seed,
/// whose spread is unknown).
fn bar(s: &mut String, x: &impl Fn(f64) -> f64, b: Bar) {
    let Bar {
        y,
        h,
        stat,
        color,
        own,
        tip,
    } = b;
    let (x0, xm) = (x(f64::NEG_INFINITY), x(stat.mean));
    let class = if own.is_some() {
        "bar own"
    } else {
        "bar fused"
    };
    let opacity = if own.is_some() {
        " fill-opacity=\"0.4\""
    } else {
        ""
    };
    let _ = write!(
        s,
        "<g class=\"{class}\"><title>{}</title><rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h}\" fill=\"{color}\"{opacity}/>",
        esc(&tip),
        (xm - x0).max(0.0)
    );
    if let Some(k) = own {
        let _ = write!(
            s,
            "<rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h}\" fill=\"url(#own{k})\" fill-opacity=\"0.55\"/>",
            (xm - x0).max(0.0)
        );
    }
    if stat.n > 1 && stat.std > 0.0 {
        let (a, b, cy) = (
            x(stat.mean - stat.std),
            x(stat.mean + stat.std),
            y + h / 2.0,
        );
        let cap = h / 2.0 + 1.0;
        let _ = write!(
            s,
            "<path class=\"errorbar\" stroke=\"black\" stroke-width=\"1\" fill=\"none\" d=\"M{a:.1},{cy:.1} H{b:.1} M{a:.1},{:.1} V{:.1} M{b:.1},{:.1} V{:.1}\"/>",
            cy - cap,
            cy + cap,
            cy - cap,
            cy + cap
        );
    }
    s.push_str("</g>\n");
}

/// One line of a panel's key: labels and the modality each stands for (`None`: fused).
type KeyLine = Vec<(String, Option<usize>)>;

/// Width of a key entry: swatch, gap, label, space before the next.
fn key_width(label: &str) -> f64 {
    18.0 + text_width(label, KEY_FONT) + 12.0
}

/// What a cell without a number shows: (class, label, colour, cross, tooltip).
fn problem(cell: &Cell) -> Option<(&'static str, String, &'static str, bool, String)> {
    let first = |m: &str| m.lines().next().unwrap_or("").to_string();
    Some(match cell {
        Cell::Done { .. } => return None,
        Cell::Failed(why) => ("cell-failed", "failed".into(), "#c00000", true, first(why)),
        Cell::Diverged(runs) => {
            let label = match runs.as_slice() {
                [(seed, epoch)] => format!("diverged (seed {seed}, epoch {epoch})"),
                _ => format!("diverged ({} runs)", runs.len()),
            };
            let each: Vec<String> = runs
                .iter()
                .map(|(s, e)| format!("seed {s}, epoch {e}"))
                .collect();
            ("cell-diverged", label, "#c00000", true, each.join("; "))
        }
        Cell::DataMissing(why) => (
            "cell-missing",
            "data not present".into(),
            "#666",
            true,
            first(why),
        ),
        Cell::Skipped => (
            "cell-skipped",
            "not applicable".into(),
            "#888",
            false,
            "the method does not apply to this dataset".into(),
        ),
    })
}

/// The chart of a table report (see the module doc). Sizes follow the number of rows, the
/// longest row label, the modalities and the title, so nothing is clipped.
pub fn table_chart(rep: &Report) -> String {
    let mods = rep
        .columns
        .iter()
        .map(|c| c.modalities.len())
        .max()
        .unwrap_or(0);
    let row_h = 2.0 * PAD + FUSED + mods as f64 * (OWN + 1.0);
    // The value axis, shared by the panels, from 0 to 100 %: a bar's length is its accuracy
    // (an axis from the lowest bar up magnified differences).
    let (v0, v1) = (0.0, 100.0);
    let intervals = nice_intervals(v0, v1);

    // Row labels: marker, then the label.
    let label_w = rep
        .rows
        .iter()
        .map(|r| text_width(r, 12.0))
        .fold(0.0, f64::max);
    let left = (30.0 + label_w + 14.0).ceil();
    // Each panel's key (fused, then one entry per modality), wrapped to the panel width.
    // Wide enough for the bars and value column, each column's bold heading (wider than
    // regular type: +15 %) and its widest key entry.
    let panel_w = rep
        .columns
        .iter()
        .flat_map(|col| {
            let keys = col
                .modalities
                .iter()
                .map(|m| key_width(&format!("{m} own")));
            keys.chain([1.15 * text_width(&col.label, 13.0)])
        })
        .fold(AREA + VALUE, f64::max)
        .ceil();
    let keys: Vec<Vec<KeyLine>> = rep
        .columns
        .iter()
        .map(|col| {
            let items = std::iter::once(("fused".to_string(), None)).chain(
                col.modalities
                    .iter()
                    .enumerate()
                    .map(|(k, m)| (format!("{m} own"), Some(k))),
            );
            let mut lines: Vec<KeyLine> = vec![Vec::new()];
            let mut used = 0.0;
            for (label, k) in items {
                let w = key_width(&label);
                if used + w > panel_w && !lines.last().is_some_and(Vec::is_empty) {
                    lines.push(Vec::new());
                    used = 0.0;
                }
                used += w;
                lines.last_mut().expect("one line").push((label, k));
            }
            lines
        })
        .collect();
    let key_lines = keys.iter().map(Vec::len).max().unwrap_or(1);
    let subtitle = format!(
        "test accuracy (%), mean ± 1 std over {}seeds {}; solid: fused, hatched: each modality's own accuracy",
        rep.folds.map(|k| format!("{k} folds × ")).unwrap_or_default(),
        rep.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    );
    let top = 56.0 + 18.0 + 15.0 * key_lines as f64 + 10.0;
    let n = rep.rows.len();
    let bottom = top + row_h * n as f64;
    let columns = rep.columns.len().max(1) as f64;
    let w = (left + columns * panel_w + (columns - 1.0) * GAP + 16.0)
        .max(text_width(&rep.title, 15.0) + 24.0)
        .max(text_width(&subtitle, 11.0) + 24.0)
        .ceil();
    let h = (bottom + 46.0).ceil();

    let mut s = header(w, h);
    s.push_str(&hatch_defs(mods));
    let _ = writeln!(
        s,
        "<text class=\"title\" x=\"{:.1}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{}</text>",
        w / 2.0,
        esc(&rep.title)
    );
    let _ = writeln!(
        s,
        "<text class=\"subtitle\" x=\"{:.1}\" y=\"42\" text-anchor=\"middle\" font-size=\"11\" fill=\"#444\">{}</text>",
        w / 2.0,
        esc(&subtitle)
    );
    for r in (1..n).step_by(2) {
        let _ = writeln!(
            s,
            "<rect x=\"4\" y=\"{:.1}\" width=\"{:.1}\" height=\"{row_h:.1}\" fill=\"#f2f2f2\"/>",
            top + row_h * r as f64,
            w - 8.0
        );
    }
    for (r, label) in rep.rows.iter().enumerate() {
        let (color, mark) = style(r);
        let cy = top + row_h * r as f64 + PAD + FUSED / 2.0;
        let _ = writeln!(
            s,
            "<g class=\"key\" data-row=\"{r}\">{}<text x=\"30\" y=\"{cy:.1}\" dy=\"4\">{}</text></g>",
            marker(mark, 16.0, cy, 4.5, color),
            esc(label)
        );
    }
    for (c, col) in rep.columns.iter().enumerate() {
        let px = left + (panel_w + GAP) * c as f64;
        let x = |v: f64| px + AREA * (v.clamp(v0, v1) - v0) / (v1 - v0);
        let _ = writeln!(
            s,
            "<text class=\"column\" x=\"{:.1}\" y=\"70\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">{}</text>",
            px + panel_w / 2.0,
            esc(&col.label)
        );
        for (line, items) in keys[c].iter().enumerate() {
            let ky = 56.0 + 18.0 + 15.0 * (line as f64 + 1.0);
            let mut kx = px;
            for (label, k) in items {
                let fill = match k {
                    None => "#555".to_string(),
                    Some(k) => format!("url(#own{k})"),
                };
                let _ = writeln!(
                    s,
                    "<rect x=\"{kx:.1}\" y=\"{:.1}\" width=\"14\" height=\"9\" fill=\"{fill}\" stroke=\"#555\" stroke-width=\"0.5\"/><text x=\"{:.1}\" y=\"{ky:.1}\" font-size=\"{KEY_FONT}\">{}</text>",
                    ky - 8.0,
                    kx + 18.0,
                    esc(label)
                );
                kx += key_width(label);
            }
        }
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"10\" fill=\"#555\">fused</text>",
            px + panel_w - 2.0,
            top - 3.0
        );
        for i in 0..=intervals {
            let v = v0 + (v1 - v0) * i as f64 / intervals as f64;
            let gx = x(v);
            let _ = writeln!(
                s,
                "<line x1=\"{gx:.1}\" y1=\"{top:.1}\" x2=\"{gx:.1}\" y2=\"{bottom:.1}\" stroke=\"#d0d0d0\"/><text class=\"vtick\" x=\"{gx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{}</text>",
                bottom + 15.0,
                trim(v)
            );
        }
        let _ = writeln!(
            s,
            "<line x1=\"{px:.1}\" y1=\"{top:.1}\" x2=\"{px:.1}\" y2=\"{bottom:.1}\" stroke=\"#333\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">accuracy (%)</text>",
            px + AREA / 2.0,
            bottom + 34.0
        );
        for (r, row) in rep.cells.iter().enumerate() {
            let (color, _) = style(r);
            let y = top + row_h * r as f64 + PAD;
            let cell = &row[c];
            let label = &rep.rows[r];
            if let Cell::Done {
                accuracy,
                modalities,
                ..
            } = cell
            {
                let tip = format!("{label}, {}: fused {}", col.label, accuracy.show());
                bar(
                    &mut s,
                    &x,
                    Bar {
                        y,
                        h: FUSED,
                        stat: *accuracy,
                        color,
                        own: None,
                        tip,
                    },
                );
                let _ = writeln!(
                    s,
                    "<text class=\"value\" x=\"{:.1}\" y=\"{:.1}\" dy=\"4\" text-anchor=\"end\" font-size=\"11\">{:.1}</text>",
                    px + panel_w - 2.0,
                    y + FUSED / 2.0,
                    accuracy.mean
                );
                for (k, m) in col.modalities.iter().enumerate() {
                    let yk = y + FUSED + 1.0 + (OWN + 1.0) * k as f64;
                    match modalities.get(k).copied().flatten() {
                        Some(stat) => {
                            let tip = format!("{label}, {}: {m} own {}", col.label, stat.show());
                            bar(
                                &mut s,
                                &x,
                                Bar {
                                    y: yk,
                                    h: OWN,
                                    stat,
                                    color,
                                    own: Some(k),
                                    tip,
                                },
                            );
                        }
                        None => {
                            let _ = writeln!(
                                s,
                                "<text x=\"{:.1}\" y=\"{:.1}\" dy=\"3\" font-size=\"8\" fill=\"#777\">{m}: not used</text>",
                                px + 3.0,
                                yk + OWN / 2.0
                            );
                        }
                    }
                }
            } else if let Some((class, text, ink, cross, tip)) = problem(cell) {
                let cy = y + (row_h - 2.0 * PAD) / 2.0;
                let mut g = format!("<g class=\"{class}\"><title>{}</title>", esc(&tip));
                if cross {
                    let (a, b) = (px + 5.0, px + 13.0);
                    let _ = write!(
                        g,
                        "<path class=\"cross\" stroke=\"{ink}\" stroke-width=\"2\" d=\"M{a:.1},{:.1} L{b:.1},{:.1} M{a:.1},{:.1} L{b:.1},{:.1}\"/>",
                        cy - 4.0,
                        cy + 4.0,
                        cy + 4.0,
                        cy - 4.0
                    );
                }
                let _ = writeln!(
                    g,
                    "<text x=\"{:.1}\" y=\"{cy:.1}\" dy=\"4\" font-size=\"11\" fill=\"{ink}\">{}</text></g>",
                    px + if cross { 18.0 } else { 5.0 },
                    esc(&text)
                );
                s.push_str(&g);
            }
        }
    }
    s.push_str("</svg>\n");
    s
}
