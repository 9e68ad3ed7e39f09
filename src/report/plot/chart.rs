//! The SVG primitives every plot draws with: colours and markers ([`style`]), text widths,
//! ticks, escaping, and the line chart with its bands ([`line_chart`]).

use std::fmt::Write;

const PALETTE: [&str; 12] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#111111",
];
/// Number of marker shapes (coprime to the 12 colours).
const MARKERS: usize = 7;
/// The SVG namespace every chart declares.
pub(crate) const SVG_NS: &str = "http://www.w3.org/2000/svg";
/// Estimated width of one character, as a fraction of the font size (sans-serif; wide
/// capitals and narrow letters average out below it for ordinary labels).
pub const CHAR_WIDTH: f64 = 0.6;

/// Estimated width in pixels of `s` at `size` px.
pub(crate) fn text_width(s: &str, size: f64) -> f64 {
    CHAR_WIDTH * size * s.chars().count() as f64
}

/// Colour and marker shape (0..7) of series or row `i`: colour `i mod 12`, marker `i mod 7`,
/// so pairs repeat only after 84 rows.
pub fn style(i: usize) -> (&'static str, usize) {
    (PALETTE[i % PALETTE.len()], i % MARKERS)
}

/// A marker of shape `kind` (circle, square, triangle up, diamond, triangle down, plus, star)
/// centred on `(x, y)` with radius about `r`.
pub(crate) fn marker(kind: usize, x: f64, y: f64, r: f64, fill: &str) -> String {
    let pts = |p: &[(f64, f64)]| -> String {
        let d: Vec<String> = p
            .iter()
            .map(|(a, b)| format!("{:.1},{:.1}", x + a * r, y + b * r))
            .collect();
        format!("M{}Z", d.join(" L"))
    };
    let d = match kind % MARKERS {
        0 => format!(
            "M{:.1},{y:.1} a{r:.1},{r:.1} 0 1,0 {:.1},0 a{r:.1},{r:.1} 0 1,0 {:.1},0Z",
            x - r,
            2.0 * r,
            -2.0 * r
        ),
        1 => pts(&[(-0.85, -0.85), (0.85, -0.85), (0.85, 0.85), (-0.85, 0.85)]),
        2 => pts(&[(0.0, -1.15), (1.05, 0.75), (-1.05, 0.75)]),
        3 => pts(&[(0.0, -1.2), (1.0, 0.0), (0.0, 1.2), (-1.0, 0.0)]),
        4 => pts(&[(0.0, 1.15), (1.05, -0.75), (-1.05, -0.75)]),
        5 => pts(&[
            (-0.35, -1.1),
            (0.35, -1.1),
            (0.35, -0.35),
            (1.1, -0.35),
            (1.1, 0.35),
            (0.35, 0.35),
            (0.35, 1.1),
            (-0.35, 1.1),
            (-0.35, 0.35),
            (-1.1, 0.35),
            (-1.1, -0.35),
            (-0.35, -0.35),
        ]),
        _ => {
            let star: Vec<(f64, f64)> = (0..10)
                .map(|k| {
                    let a = std::f64::consts::PI * (k as f64 / 5.0 - 0.5);
                    let m = if k % 2 == 0 { 1.25 } else { 0.5 };
                    (m * a.cos(), m * a.sin())
                })
                .collect();
            pts(&star)
        }
    };
    format!(
        "<path class=\"marker m{}\" fill=\"{fill}\" stroke=\"#222\" stroke-width=\"0.6\" d=\"{d}\"/>",
        kind % MARKERS
    )
}

/// One named line.
pub struct Series {
    /// Legend name.
    pub name: String,
    /// Points (x, y).
    pub points: Vec<(f64, f64)>,
    /// Dashed line.
    pub dashed: bool,
}

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
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
pub(crate) fn nice_range(y0: f64, y1: f64) -> (f64, f64) {
    let step = nice_step(y0, y1);
    // The small slack keeps values already on the grid (0.3 / 0.1 = 2.9999…) where they are.
    (
        (y0 / step + 1e-9).floor() * step,
        (y1 / step - 1e-9).ceil() * step,
    )
}

/// The number of tick intervals of a range made by [`nice_range`]: the largest nice step that
/// divides it into 4 to 12 intervals with both ends on the grid (5 for any other range).
pub(crate) fn nice_intervals(y0: f64, y1: f64) -> usize {
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

/// Integer ticks inside `[x0, x1]` (epochs: never 2.5): every integer when there are at most
/// 12, else the multiples of the smallest 1-2-5 step that gives at most 10.
pub fn integer_ticks(x0: f64, x1: f64) -> Vec<i64> {
    let (lo, hi) = (x0.ceil() as i64, x1.floor() as i64);
    if hi < lo {
        return Vec::new();
    }
    if hi - lo < 12 {
        return (lo..=hi).collect();
    }
    let step = (0..)
        .flat_map(|p| [1, 2, 5].map(|m| m * 10i64.pow(p)))
        .find(|s| hi.div_euclid(*s) - (lo - 1).div_euclid(*s) <= 10)
        .unwrap_or(1);
    (lo..=hi).filter(|v| v % step == 0).collect()
}

pub(crate) fn trim(v: f64) -> String {
    let t = format!("{v:.3}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    if t == "-0" { "0" } else { t }.to_string()
}

/// A series' band, aligned with its points: `(lo, hi)` at a point, `None` where it has none.
pub(crate) type Band = Vec<Option<(f64, f64)>>;

/// A line chart: series with optional ±1 std bands, a legend on the right sized to its names.
pub(crate) struct LineChart<'a> {
    pub title: &'a str,
    /// A second, smaller title line (what the bands mean).
    pub subtitle: Option<&'a str>,
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub series: &'a [Series],
    /// Per series (may be empty), aligned with its points: the band `(lo, hi)` at that point,
    /// `None` where there is none (fewer than two runs).
    pub bands: &'a [Band],
    /// The y range covers the data and this range.
    pub y_range: Option<(f64, f64)>,
    /// Integer x ticks (epochs) instead of multiples of a 1-2-5 step.
    pub integer_x: bool,
    /// A line of text under the legend's entries (e.g. why some curves are not drawn).
    pub note: Option<&'a str>,
}

// Plot area size and the margins that do not depend on text.
const PW: f64 = 486.0;
const PH: f64 = 328.0;
const B: f64 = 48.0;

impl LineChart<'_> {
    fn band(&self, i: usize) -> &[Option<(f64, f64)>] {
        self.bands.get(i).map_or(&[], Vec::as_slice)
    }

    /// The SVG document.
    pub fn svg(&self) -> String {
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0));
        let ys = self.series.iter().enumerate().flat_map(|(i, s)| {
            let band = self.band(i).iter().flatten().flat_map(|&(a, b)| [a, b]);
            s.points.iter().map(|p| p.1).chain(band)
        });
        let (x0, x1) = extent(xs);
        let (mut y0, mut y1) = extent(ys);
        if let Some((a, b)) = self.y_range {
            (y0, y1) = (y0.min(a), y1.max(b));
        }
        let usable = y0.is_finite() && y1.is_finite() && y1 > y0;
        if !usable {
            let c = if y0.is_finite() { y0 } else { 0.0 };
            (y0, y1) = (c - 0.5, c + 0.5);
        }
        let half = if self.integer_x { 0.5 } else { 1.0 };
        let (x0, x1) = match (x0.is_finite(), x1 > x0) {
            (true, true) => (x0, x1),
            (true, false) => (x0 - half, x0 + half),
            _ => (0.0, 1.0),
        };
        let (y0, y1) = nice_range(y0, y1);
        let intervals = nice_intervals(y0, y1);
        let y_ticks: Vec<f64> = (0..=intervals)
            .map(|i| y0 + (y1 - y0) * i as f64 / intervals as f64)
            .collect();
        let tick_w = y_ticks
            .iter()
            .map(|v| text_width(&trim(*v), 12.0))
            .fold(0.0, f64::max);
        let l = (tick_w + 34.0).max(64.0).ceil();
        let t = if self.subtitle.is_some() { 60.0 } else { 44.0 };
        let n = self.series.len();
        let legend_x = l + PW + 16.0;
        let longest = self
            .series
            .iter()
            .map(|s| text_width(&s.name, 12.0))
            .fold(0.0, f64::max);
        let head_w = text_width(self.title, 15.0)
            .max(self.subtitle.map_or(0.0, |s| text_width(s, 12.0)))
            + 24.0;
        let note_w = self.note.map_or(0.0, |n| text_width(n, 12.0));
        let w = (legend_x + 36.0 + longest + 14.0)
            .max(legend_x + note_w + 14.0)
            .max(head_w)
            .max(720.0)
            .ceil();
        let entries = n + usize::from(self.note.is_some());
        let h = (t + PH + B)
            .max(t + 14.0 + 18.0 * entries as f64 + 12.0)
            .ceil();
        let px = |x: f64| l + PW * (x - x0) / (x1 - x0);
        let py = |y: f64| t + PH - PH * (y - y0) / (y1 - y0);

        let mut s = header(w, h);
        let _ = writeln!(
            s,
            "<text class=\"title\" x=\"{:.1}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">{}</text>",
            w / 2.0,
            esc(self.title)
        );
        if let Some(sub) = self.subtitle {
            let _ = writeln!(
                s,
                "<text class=\"subtitle\" x=\"{:.1}\" y=\"44\" text-anchor=\"middle\" fill=\"#444\">{}</text>",
                w / 2.0,
                esc(sub)
            );
        }
        for v in &y_ticks {
            let y = py(*v);
            let _ = writeln!(
                s,
                "<line x1=\"{l}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text class=\"ytick\" x=\"{:.1}\" y=\"{y:.1}\" dy=\"4\" text-anchor=\"end\">{}</text>",
                l + PW,
                l - 6.0,
                trim(*v)
            );
        }
        let x_ticks: Vec<f64> = if self.integer_x {
            integer_ticks(x0, x1)
                .into_iter()
                .map(|v| v as f64)
                .collect()
        } else {
            let step = nice_step(x0, x1);
            let (first, last) = ((x0 / step - 1e-9).ceil(), (x1 / step + 1e-9).floor());
            (first as i64..=last as i64)
                .map(|k| k as f64 * step)
                .collect()
        };
        for v in x_ticks {
            let x = px(v);
            let _ = writeln!(
                s,
                "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#333\"/><text class=\"xtick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                t + PH,
                t + PH + 4.0,
                t + PH + 18.0,
                trim(v)
            );
        }
        let _ = writeln!(
            s,
            "<rect x=\"{l}\" y=\"{t}\" width=\"{PW}\" height=\"{PH}\" fill=\"none\" stroke=\"#333\"/>"
        );
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            l + PW / 2.0,
            t + PH + 40.0,
            esc(self.x_label)
        );
        let _ = writeln!(
            s,
            "<text transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
            t + PH / 2.0,
            esc(self.y_label)
        );
        // Bands first, so that every line is drawn over them.
        for (i, ser) in self.series.iter().enumerate() {
            let (color, _) = style(i);
            for seg in band_segments(&ser.points, self.band(i)) {
                if let [(x, lo, hi)] = seg[..] {
                    let _ = writeln!(
                        s,
                        "<line class=\"band\" data-series=\"{}\" x1=\"{:.2}\" y1=\"{:.2}\" x2=\"{:.2}\" y2=\"{:.2}\" stroke=\"{color}\" stroke-opacity=\"0.5\" stroke-width=\"4\"/>",
                        esc(&ser.name),
                        px(x),
                        py(hi),
                        px(x),
                        py(lo)
                    );
                    continue;
                }
                let upper = seg.iter().map(|&(x, _, hi)| (x, hi));
                let lower = seg.iter().rev().map(|&(x, lo, _)| (x, lo));
                let pts: Vec<String> = upper
                    .chain(lower)
                    .map(|(x, y)| format!("{:.2},{:.2}", px(x), py(y)))
                    .collect();
                let _ = writeln!(
                    s,
                    "<polygon class=\"band\" data-series=\"{}\" fill=\"{color}\" fill-opacity=\"0.18\" stroke=\"none\" points=\"{}\"/>",
                    esc(&ser.name),
                    pts.join(" ")
                );
            }
        }
        for (i, ser) in self.series.iter().enumerate() {
            let (color, mark) = style(i);
            let dash = if ser.dashed {
                " stroke-dasharray=\"6 4\""
            } else {
                ""
            };
            let shown: Vec<(f64, f64)> = ser
                .points
                .iter()
                .copied()
                .filter(|p| p.1.is_finite())
                .collect();
            let pts: Vec<String> = shown
                .iter()
                .map(|&(x, y)| format!("{:.2},{:.2}", px(x), py(y)))
                .collect();
            let _ = writeln!(
                s,
                "<polyline class=\"line\" data-series=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
                esc(&ser.name),
                pts.join(" ")
            );
            // At most about 12 markers per line; offset by series so they overlap less.
            let every = shown.len().div_ceil(12).max(1);
            for (k, &(x, y)) in shown.iter().enumerate() {
                if (k + i) % every == 0 {
                    s.push_str(&marker(mark, px(x), py(y), 3.5, color));
                    s.push('\n');
                }
            }
            let ly = t + 14.0 + 18.0 * i as f64;
            let _ = writeln!(
                s,
                "<g class=\"key\"><line x1=\"{legend_x:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>{}<text x=\"{:.1}\" y=\"{ly:.1}\" dy=\"4\">{}</text></g>",
                legend_x + 28.0,
                marker(mark, legend_x + 14.0, ly, 3.5, color),
                legend_x + 36.0,
                esc(&ser.name)
            );
        }
        if let Some(note) = self.note {
            let _ = writeln!(
                s,
                "<text class=\"note\" x=\"{legend_x:.1}\" y=\"{:.1}\" dy=\"4\" fill=\"#444\">{}</text>",
                t + 14.0 + 18.0 * n as f64,
                esc(note)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

/// The smallest and largest finite value (infinities when there is none).
fn extent(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        })
}

/// The opening of an SVG document of `w` × `h` on a white ground.
pub(crate) fn header(w: f64, h: f64) -> String {
    format!(
        "<svg xmlns=\"{SVG_NS}\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n"
    )
}

/// Runs of consecutive points that have a band, as `(x, lo, hi)`.
fn band_segments(points: &[(f64, f64)], band: &[Option<(f64, f64)>]) -> Vec<Vec<(f64, f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64, f64)>> = Vec::new();
    let mut open = false;
    for (k, &(x, _)) in points.iter().enumerate() {
        match band.get(k).copied().flatten() {
            Some((lo, hi)) if lo.is_finite() && hi.is_finite() => {
                if !open {
                    out.push(Vec::new());
                }
                out.last_mut().expect("pushed").push((x, lo, hi));
                open = true;
            }
            _ => open = false,
        }
    }
    out
}

/// A line chart of `series` (no bands, x ticks at multiples of a 1-2-5 step); the y range covers the data and
/// `y_range` if given.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    y_range: Option<(f64, f64)>,
) -> String {
    LineChart {
        title,
        subtitle: None,
        x_label,
        y_label,
        series,
        bands: &[],
        y_range,
        integer_x: false,
        note: None,
    }
    .svg()
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

    #[test]
    fn epoch_ticks_are_integers_with_a_round_step() {
        assert_eq!(integer_ticks(1.0, 12.0), (1..=12).collect::<Vec<_>>());
        assert_eq!(integer_ticks(0.5, 1.5), vec![1]);
        assert_eq!(
            integer_ticks(1.0, 40.0),
            vec![5, 10, 15, 20, 25, 30, 35, 40]
        );
        assert_eq!(
            integer_ticks(1.0, 100.0),
            vec![10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
        );
        assert_eq!(integer_ticks(1.0, 13.0), vec![2, 4, 6, 8, 10, 12]);
    }

    #[test]
    fn the_first_84_styles_are_distinct() {
        let mut seen: Vec<(&str, usize)> = (0..84).map(style).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 84);
    }

    #[test]
    fn band_segments_split_where_a_point_has_no_band() {
        let pts = [(1.0, 0.0), (2.0, 0.0), (3.0, 0.0), (4.0, 0.0)];
        let band = [Some((0.0, 1.0)), Some((0.0, 2.0)), None, Some((1.0, 1.0))];
        let segs = band_segments(&pts, &band);
        assert_eq!(
            segs,
            vec![
                vec![(1.0, 0.0, 1.0), (2.0, 0.0, 2.0)],
                vec![(4.0, 1.0, 1.0)]
            ]
        );
    }
}
