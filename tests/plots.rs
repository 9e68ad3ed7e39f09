//! Plots read back as data: integer epoch ticks, loss curves, mean ± std bands recomputed here
//! from the runs' metrics.csv, and a table chart whose text fits its canvas, whose rows have
//! distinct (colour, marker) pairs and whose failed, diverged and missing cells are marked.

use crate::common::{balmix, recipe, text, train};
use crate::snapshot;
use balmix::report::plot::{run_plots, table_chart};
use balmix::report::render::{Cell, ColumnInfo, Report, Stat};
use std::collections::BTreeMap;
use std::path::Path;

// ---- a small reader for the SVG these plots write -----------------------------------------

/// One element: tag (`/g` for a closing group), attributes, and the text up to the next tag.
#[derive(Debug)]
struct El {
    tag: String,
    attrs: Vec<(String, String)>,
    text: String,
}

impl El {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn num(&self, name: &str) -> f64 {
        let v = self
            .attr(name)
            .unwrap_or_else(|| panic!("{self:?} has no {name}"));
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
    }

    fn has_class(&self, class: &str) -> bool {
        self.attr("class")
            .is_some_and(|c| c.split(' ').any(|x| x == class))
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

fn parse(svg: &str) -> Vec<El> {
    let mut out = Vec::new();
    for chunk in svg.split('<').skip(1) {
        let end = chunk.find('>').expect("tag closes");
        let (inside, after) = (chunk[..end].trim_end_matches('/'), &chunk[end + 1..]);
        let split = inside.find(char::is_whitespace).unwrap_or(inside.len());
        let (tag, mut rest) = inside.split_at(split);
        let mut attrs = Vec::new();
        while let Some(eq) = rest.find("=\"") {
            let close = eq + 2 + rest[eq + 2..].find('"').expect("attribute closes");
            attrs.push((
                rest[..eq].trim().to_string(),
                unescape(&rest[eq + 2..close]),
            ));
            rest = &rest[close + 1..];
        }
        out.push(El {
            tag: tag.to_string(),
            attrs,
            text: unescape(after.trim()),
        });
    }
    out
}

fn canvas(els: &[El]) -> (f64, f64) {
    let svg = els.iter().find(|e| e.tag == "svg").expect("an svg element");
    (svg.num("width"), svg.num("height"))
}

/// The elements inside each `<g>` of `class`.
fn groups<'a>(els: &'a [El], class: &str) -> Vec<&'a [El]> {
    let mut out = Vec::new();
    for (i, e) in els.iter().enumerate() {
        if e.tag == "g" && e.has_class(class) {
            let end = els[i..]
                .iter()
                .position(|x| x.tag == "/g")
                .expect("group closes");
            out.push(&els[i + 1..i + end]);
        }
    }
    out
}

/// Every unrotated text, sized at 0.6 × font size per character (about the average advance
/// of DejaVu Sans, the usual sans-serif), lies inside the canvas.
fn assert_texts_fit(svg: &str, what: &str) {
    let els = parse(svg);
    let (w, h) = canvas(&els);
    for e in els
        .iter()
        .filter(|e| e.tag == "text" && e.attr("transform").is_none())
    {
        let size = e.attr("font-size").map_or(12.0, |v| v.parse().unwrap());
        let width = 0.6 * size * e.text.chars().count() as f64;
        let x = e.num("x");
        let y = e.num("y") + e.attr("dy").map_or(0.0, |v| v.parse().unwrap());
        let left = match e.attr("text-anchor") {
            Some("middle") => x - width / 2.0,
            Some("end") => x - width,
            _ => x,
        };
        assert!(
            left >= 0.0 && left + width <= w && y - 0.8 * size >= 0.0 && y + 0.25 * size <= h,
            "{what}: {:?} spans x {left:.1}..{:.1}, baseline {y:.1} (size {size}) on a {w}×{h} canvas",
            e.text,
            left + width
        );
    }
}

/// A linear map from drawn coordinate to value, fitted to the tick labels of `class` along
/// attribute `axis` (`x` or `y`), and the value of one pixel.
fn axis(els: &[El], class: &str, axis: &str) -> (impl Fn(f64) -> f64, f64) {
    let ticks: Vec<(f64, f64)> = els
        .iter()
        .filter(|e| e.tag == "text" && e.has_class(class))
        .map(|e| (e.num(axis), e.text.parse::<f64>().unwrap()))
        .collect();
    assert!(ticks.len() >= 2, "{class}: {ticks:?}");
    let (a, b) = (ticks[0], ticks[ticks.len() - 1]);
    let slope = (b.1 - a.1) / (b.0 - a.0);
    (move |p: f64| a.1 + (p - a.0) * slope, slope.abs())
}

fn points(s: &str) -> Vec<(f64, f64)> {
    s.split_whitespace()
        .map(|p| {
            let (x, y) = p.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

// ---- fake runs --------------------------------------------------------------------------------

/// A metrics.csv with the columns the plots read; `rows` are (epoch, train loss, val loss,
/// fused test accuracy, audio own accuracy).
fn write_run(dir: &Path, rows: &[(usize, f64, f64, f64, f64)]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut s = String::from(
        "epoch,lr,train_loss,val_loss,val_accuracy,test_accuracy,accuracy_audio,lambda_audio,lambda_label,contribution_audio\n",
    );
    for (e, tl, vl, acc, audio) in rows {
        s.push_str(&format!("{e},0.01,{tl},{vl},,{acc},{audio},0.5,0.5,0.25\n"));
    }
    std::fs::write(dir.join("metrics.csv"), s).unwrap();
}

/// Per epoch of `column` over the metrics.csv files in `runs`: the finite values.
fn values_by_epoch(runs: &[&Path], column: &str) -> BTreeMap<usize, Vec<f64>> {
    let mut out: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for dir in runs {
        let mut r = csv::Reader::from_path(dir.join("metrics.csv")).unwrap();
        let i = r
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == column)
            .unwrap();
        for row in r.records() {
            let row = row.unwrap();
            let v: f64 = match row[i].parse() {
                Ok(v) if f64::is_finite(v) => v,
                _ => continue,
            };
            out.entry(row[0].parse().unwrap()).or_default().push(v);
        }
    }
    out
}

/// The series `name` of `svg` is drawn at the mean of `column` over `runs` per epoch, and its
/// band at mean ± sample std (n − 1) exactly where two or more runs have the epoch.
fn assert_bands(svg: &str, name: &str, runs: &[&Path], column: &str) {
    let els = parse(svg);
    let (x_of, _) = axis(&els, "xtick", "x");
    let (y_of, tol) = axis(&els, "ytick", "y");
    // Points are written to 0.01 px, tick positions to 0.1 px.
    let tol = 0.15 * tol;
    let mut expected_mean = Vec::new();
    let mut expected_band = Vec::new();
    for (epoch, vs) in values_by_epoch(runs, column) {
        let n = vs.len() as f64;
        let mean = vs.iter().sum::<f64>() / n;
        expected_mean.push((epoch as f64, mean));
        if vs.len() >= 2 {
            let var = vs.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
            expected_band.push((epoch as f64, mean - var.sqrt(), mean + var.sqrt()));
        }
    }
    let line = els
        .iter()
        .find(|e| e.tag == "polyline" && e.attr("data-series") == Some(name))
        .unwrap_or_else(|| panic!("no line {name}"));
    let drawn: Vec<(f64, f64)> = points(line.attr("points").unwrap())
        .into_iter()
        .map(|(x, y)| (x_of(x), y_of(y)))
        .collect();
    assert_eq!(drawn.len(), expected_mean.len(), "{name}: {drawn:?}");
    for ((x, y), (e, m)) in drawn.iter().zip(&expected_mean) {
        assert!(
            (x - e).abs() < 0.01 && (y - m).abs() < tol,
            "{name} epoch {e}: drawn {y}, mean {m}"
        );
    }
    // Each band polygon runs along the upper edge, then back along the lower one.
    let mut band = Vec::new();
    for poly in els.iter().filter(|e| {
        e.tag == "polygon" && e.has_class("band") && e.attr("data-series") == Some(name)
    }) {
        let p = points(poly.attr("points").unwrap());
        let k = p.len() / 2;
        for i in 0..k {
            let (upper, lower) = (p[i], p[p.len() - 1 - i]);
            assert_eq!(upper.0, lower.0);
            band.push((x_of(upper.0), y_of(lower.1), y_of(upper.1)));
        }
    }
    assert_eq!(
        band.len(),
        expected_band.len(),
        "{name}: band {band:?}, expected {expected_band:?}"
    );
    for ((x, lo, hi), (e, elo, ehi)) in band.iter().zip(&expected_band) {
        assert!(
            (x - e).abs() < 0.01 && (lo - elo).abs() < tol && (hi - ehi).abs() < tol,
            "{name} epoch {e}: band {lo}..{hi}, expected {elo}..{ehi}"
        );
    }
}

fn xtick_labels(svg: &str) -> Vec<String> {
    parse(svg)
        .into_iter()
        .filter(|e| e.tag == "text" && e.has_class("xtick"))
        .map(|e| e.text)
        .collect()
}

// ---- run plots ----------------------------------------------------------------------------

#[test]
fn epoch_axes_have_integer_ticks_one_per_epoch_when_few_and_a_round_step_when_many() {
    let tmp = tempfile::tempdir().unwrap();
    for epochs in [1usize, 2, 5, 12, 13, 40, 100, 250] {
        let dir = tmp.path().join(format!("e{epochs}"));
        let rows: Vec<_> = (1..=epochs)
            .map(|e| {
                (
                    e,
                    2.0 / e as f64,
                    2.1 / e as f64,
                    0.5 + 0.4 * e as f64 / epochs as f64,
                    0.3,
                )
            })
            .collect();
        write_run(&dir, &rows);
        for (name, svg) in run_plots(&dir).unwrap() {
            let labels = xtick_labels(&svg);
            let ticks: Vec<i64> = labels
                .iter()
                .map(|l| {
                    l.parse()
                        .unwrap_or_else(|_| panic!("{epochs} epochs, {name}: tick {l:?}"))
                })
                .collect();
            assert!(
                !ticks.is_empty() && ticks.len() <= 12,
                "{epochs}: {ticks:?}"
            );
            assert!(
                ticks.iter().all(|&t| t >= 1 && t <= epochs as i64),
                "{epochs}: {ticks:?}"
            );
            if epochs <= 12 {
                assert_eq!(ticks, (1..=epochs as i64).collect::<Vec<_>>(), "{name}");
            } else {
                let step = ticks[1] - ticks[0];
                let round = [1, 2, 5]
                    .iter()
                    .any(|m| (0..4).any(|p| m * 10i64.pow(p) == step));
                assert!(
                    round && ticks.iter().all(|t| t % step == 0),
                    "{epochs}: {ticks:?}"
                );
                assert!(
                    ticks.windows(2).all(|w| w[1] - w[0] == step),
                    "{epochs}: {ticks:?}"
                );
            }
            assert_texts_fit(&svg, &format!("{epochs} epochs, {name}"));
        }
    }
}

#[test]
fn plot_of_a_run_draws_its_training_loss_and_every_recorded_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = train(&recipe("tiny.toml", &[]), 0, &tmp.path().join("runs"));
    let o = balmix(&["plot", dir.to_str().unwrap()], &dir);
    assert!(o.status.success(), "{:?}", text(&o));
    for name in ["accuracy.svg", "balance.svg", "loss.svg"] {
        let svg = std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(xtick_labels(&svg), ["1", "2", "3", "4"], "{name}");
        assert_texts_fit(&svg, name);
        // One run: lines at its own values, no band.
        assert!(!svg.contains("class=\"band\""), "{name}");
    }
    let loss = std::fs::read_to_string(dir.join("loss.svg")).unwrap();
    assert_bands(&loss, "train", &[&dir], "train_loss");
    // A run that also records validation loss gets a second line.
    let fake = tmp.path().join("fake");
    write_run(&fake, &[(1, 1.0, 1.2, 0.5, 0.3), (2, 0.8, 1.1, 0.6, 0.3)]);
    let plots = run_plots(&fake).unwrap();
    let (_, loss) = plots.iter().find(|(n, _)| n == "loss.svg").unwrap();
    assert_bands(loss, "train", &[&fake], "train_loss");
    assert_bands(loss, "val", &[&fake], "val_loss");
}

/// Four runs nested as fold-<i>/seed-<n> with 7, 6, 4 and 2 epochs (so epochs 1–2 have four
/// runs, 5–6 two, 7 one) and one non-finite loss: the bands are recomputed here from the
/// metrics.csv files.
#[test]
fn group_bands_are_the_mean_plus_minus_sample_std_of_the_runs_that_have_the_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let group = tmp.path().join("runs/mm");
    let runs = [
        group.join("fold-0/seed-0"),
        group.join("fold-0/seed-1"),
        group.join("fold-1/seed-0"),
        group.join("fold-1/seed-1"),
    ];
    for (k, (dir, epochs)) in runs.iter().zip([7usize, 6, 4, 2]).enumerate() {
        let rows: Vec<_> = (1..=epochs)
            .map(|e| {
                let spread = 0.15 * k as f64;
                let loss = if k == 3 && e == 2 {
                    f64::NAN
                } else {
                    2.0 / e as f64 + spread
                };
                (
                    e,
                    loss,
                    loss + 0.2,
                    0.4 + 0.05 * e as f64 + spread / 3.0,
                    0.2 + spread,
                )
            })
            .collect();
        write_run(dir, &rows);
    }
    let o = balmix(&["plot", group.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "{:?}", text(&o));
    let runs: Vec<&Path> = runs.iter().map(|p| p.as_path()).collect();
    let read = |n: &str| std::fs::read_to_string(group.join(n)).unwrap();
    assert_bands(&read("loss.svg"), "train", &runs, "train_loss");
    assert_bands(&read("loss.svg"), "val", &runs, "val_loss");
    assert_bands(
        &read("accuracy.svg"),
        "fused (test)",
        &runs,
        "test_accuracy",
    );
    assert_bands(&read("accuracy.svg"), "audio own", &runs, "accuracy_audio");
    for n in ["accuracy.svg", "balance.svg", "loss.svg"] {
        assert_eq!(xtick_labels(&read(n)), ["1", "2", "3", "4", "5", "6", "7"]);
        assert_texts_fit(&read(n), n);
    }
}

#[test]
fn a_multi_seed_recipe_folder_gets_bands_from_its_real_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let r = recipe("tiny.toml", &[]);
    let runs: Vec<_> = (0..3).map(|seed| train(&r, seed, &out)).collect();
    let group = out.join(r.name());
    let o = balmix(&["plot", group.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "{:?}", text(&o));
    let runs: Vec<&Path> = runs.iter().map(|p| p.as_path()).collect();
    let read = |n: &str| std::fs::read_to_string(group.join(n)).unwrap();
    assert_bands(&read("loss.svg"), "train", &runs, "train_loss");
    assert_bands(
        &read("accuracy.svg"),
        "fused (test)",
        &runs,
        "test_accuracy",
    );
    // tiny mixes nothing: contributions are drawn, λ is not.
    let balance = read("balance.svg");
    assert_bands(&balance, "contribution audio", &runs, "contribution_audio");
    assert!(balance.contains("no mixing"), "{balance}");
}

/// The λ lines of balance.svg as drawn, and its note.
fn balance_lines(svg: &str) -> (Vec<String>, Vec<String>) {
    let els = parse(svg);
    let lines = els
        .iter()
        .filter(|e| e.tag == "polyline")
        .map(|e| e.attr("data-series").unwrap().to_string())
        .collect();
    let notes = els
        .iter()
        .filter(|e| e.tag == "text" && e.has_class("note"))
        .map(|e| e.text.clone())
        .collect();
    (lines, notes)
}

/// A run without mixing (every λ 1 at every epoch) once drew its three λ lines on top of each
/// other at 1: it now draws none and says "no mixing" in the legend, contributions still drawn;
/// a run that mixes keeps its λ lines and no note.
#[test]
fn balance_plot_of_a_run_without_mixing_says_no_mixing_instead_of_lambda_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let flat = tmp.path().join("flat");
    write_run(&flat, &[(1, 1.0, 1.1, 0.5, 0.2), (2, 0.7, 0.9, 0.7, 0.3)]);
    let csv = std::fs::read_to_string(flat.join("metrics.csv"))
        .unwrap()
        .replace(",0.5,0.5,0.25\n", ",1,1,0.25\n");
    std::fs::write(flat.join("metrics.csv"), csv).unwrap();
    let plots = run_plots(&flat).unwrap();
    let (_, svg) = plots.iter().find(|(n, _)| n == "balance.svg").unwrap();
    let (lines, notes) = balance_lines(svg);
    assert_eq!(lines, ["contribution audio"], "{svg}");
    assert_eq!(notes, ["no mixing (λ = 1 throughout)"], "{svg}");
    assert_texts_fit(svg, "balance.svg without mixing");
    assert_bands(svg, "contribution audio", &[&flat], "contribution_audio");

    let mixed = tmp.path().join("mixed");
    write_run(&mixed, &[(1, 1.0, 1.1, 0.5, 0.2), (2, 0.7, 0.9, 0.7, 0.3)]);
    let plots = run_plots(&mixed).unwrap();
    let (_, svg) = plots.iter().find(|(n, _)| n == "balance.svg").unwrap();
    let (lines, notes) = balance_lines(svg);
    assert_eq!(lines, ["λ audio", "λ label", "contribution audio"], "{svg}");
    assert!(notes.is_empty(), "{svg}");
}

/// A table's run folder: the chart from report.json, and per cell the bands of its runs. A
/// run that stopped before its first epoch (a diverged or failed cell: metrics.csv holds only
/// its header) is left out instead of failing the command, as it once did.
#[test]
fn plot_of_a_table_folder_draws_each_cells_bands_and_skips_runs_without_epochs() {
    let tmp = tempfile::tempdir().unwrap();
    let table = tmp.path().join("runs/small");
    std::fs::create_dir_all(&table).unwrap();
    std::fs::write(
        table.join("report.json"),
        serde_json::to_string(&report(3, 1)).unwrap(),
    )
    .unwrap();
    let cell = table.join("synthetic/mm");
    let runs = [cell.join("seed-0"), cell.join("seed-1")];
    write_run(
        &runs[0],
        &[(1, 1.0, 1.1, 0.5, 0.2), (2, 0.7, 0.9, 0.7, 0.3)],
    );
    write_run(
        &runs[1],
        &[(1, 1.4, 1.5, 0.6, 0.1), (2, 0.5, 0.6, 0.8, 0.5)],
    );
    write_run(&table.join("synthetic/hot/seed-0"), &[]);
    let o = balmix(&["plot", table.to_str().unwrap()], tmp.path());
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(table.join("report.svg").is_file());
    assert!(!table.join("synthetic/hot/loss.svg").exists());
    let runs: Vec<&Path> = runs.iter().map(|p| p.as_path()).collect();
    let loss = std::fs::read_to_string(cell.join("loss.svg")).unwrap();
    assert_bands(&loss, "train", &runs, "train_loss");
}

// ---- table chart ------------------------------------------------------------------------------

fn stat(mean: f64, std: f64) -> Stat {
    Stat { mean, std, n: 3 }
}

/// A report of `rows` rows over `columns` columns (1 to 3) with long labels and every kind of
/// cell: done (with a modality unused), failed, diverged (one run, several), data missing,
/// not applicable.
fn report(rows: usize, columns: usize) -> Report {
    let names = [
        ("synthetic", ["audio", "visual"]),
        ("mfeat fac+mor", ["mor", "fac"]),
        ("a dataset with a long name", ["gyroscope", "accelerometer"]),
    ];
    let cell = |r: usize, c: usize| -> Cell {
        let a = 60.0 + ((r * 7 + c * 3) % 35) as f64;
        match (r + 2 * c) % 9 {
            4 => Cell::Failed("recipes/x.toml: mixup.alpha must be > 0 (got -1)\nmore".into()),
            6 => Cell::Diverged(vec![(1, 3)]),
            7 if r > 9 => Cell::Diverged(vec![(0, 2), (2, 5)]),
            8 => Cell::DataMissing("`d` must be prepared locally".into()),
            _ if r == 2 && c == 0 => Cell::Skipped,
            _ => Cell::Done {
                accuracy: stat(a, 0.3 + (r % 4) as f64),
                macro_f1: stat(a - 1.0, 1.0),
                modalities: vec![
                    (r % 5 != 1).then(|| stat(a / 3.0, 4.0)),
                    Some(stat(a - 10.0, 1.5)),
                ],
            },
        }
    };
    let labels = [
        "concat",
        "OGM-GE + modality dropout",
        "input mixup + modality dropout (α = 0.4)",
        "B-MM",
    ];
    Report {
        title: "A table with a rather long title that must never be clipped by the chart".into(),
        protocol: "made-up numbers".into(),
        seeds: vec![0, 1, 2],
        folds: None,
        columns: names[..columns]
            .iter()
            .map(|(label, mods)| ColumnInfo {
                label: label.to_string(),
                modalities: mods.iter().map(|m| m.to_string()).collect(),
                epochs: vec![10],
            })
            .collect(),
        rows: (0..rows)
            .map(|r| format!("{} {r}", labels[r % labels.len()]))
            .collect(),
        cells: (0..rows)
            .map(|r| (0..columns).map(|c| cell(r, c)).collect())
            .collect(),
        references: vec![vec![None; columns]; rows],
        code_version: "0.0.0 (fixed)".into(),
        runs: (0, 0),
        seconds: (0.0, 0.0),
        robustness: None,
    }
}

#[test]
fn table_chart_text_fits_its_canvas_for_1_to_20_rows() {
    for rows in [1, 4, 15, 20] {
        for columns in [1, 3] {
            let svg = table_chart(&report(rows, columns));
            assert_texts_fit(&svg, &format!("{rows} rows × {columns} columns"));
            let els = parse(&svg);
            let keys: Vec<String> = groups(&els, "key")
                .iter()
                .map(|g| g.iter().find(|e| e.tag == "text").unwrap().text.clone())
                .collect();
            assert_eq!(keys, report(rows, columns).rows);
            // Row labels end before the first panel's axis.
            let axis = els.iter().find(|e| e.has_class("vtick")).unwrap().num("x");
            for g in groups(&els, "key") {
                let t = g.iter().find(|e| e.tag == "text").unwrap();
                let end = t.num("x") + 0.6 * 12.0 * t.text.chars().count() as f64;
                assert!(
                    end <= axis,
                    "{:?} ends at {end:.1}, the axis is at {axis}",
                    t.text
                );
            }
        }
    }
}

#[test]
fn twenty_table_rows_have_distinct_colour_and_marker_pairs() {
    let svg = table_chart(&report(20, 1));
    let els = parse(&svg);
    let mut pairs: Vec<(String, String)> = groups(&els, "key")
        .iter()
        .map(|g| {
            let m = g.iter().find(|e| e.has_class("marker")).expect("a marker");
            let shape = m.attr("class").unwrap().to_string();
            (m.attr("fill").unwrap().to_string(), shape)
        })
        .collect();
    assert_eq!(pairs.len(), 20);
    let colours: std::collections::BTreeSet<_> = pairs[..12].iter().map(|p| &p.0).collect();
    assert_eq!(
        colours.len(),
        12,
        "the first 12 rows have 12 colours: {pairs:?}"
    );
    pairs.sort();
    pairs.dedup();
    assert_eq!(pairs.len(), 20, "{pairs:?}");
}

/// The fused bar and each used modality's own bar of a cell lie in the cell's row band and
/// panel, end at the means, and the cells without a number carry their mark there instead.
#[test]
fn table_chart_draws_fused_and_own_accuracy_side_by_side_and_marks_failed_cells() {
    let rep = report(15, 3);
    let svg = table_chart(&rep);
    let els = parse(&svg);
    // Row centres from the row labels; panels from the value ticks (one run of ticks each).
    let rows: Vec<f64> = groups(&els, "key")
        .iter()
        .map(|g| {
            let t = g.iter().find(|e| e.tag == "text").unwrap();
            t.num("y")
        })
        .collect();
    // Everything of a row is drawn from its label's line (the fused bar's centre) downwards.
    let row_h = rows[1] - rows[0];
    let row_of = |y: f64| {
        rows.iter()
            .rposition(|&c| c <= y + 0.5)
            .filter(|&r| y < rows[r] + row_h - 0.5)
    };
    let ticks: Vec<(f64, f64)> = els
        .iter()
        .filter(|e| e.has_class("vtick"))
        .map(|e| (e.num("x"), e.text.parse().unwrap()))
        .collect();
    let per_panel = ticks.len() / rep.columns.len();
    let panels: Vec<(f64, f64, f64, f64)> = ticks
        .chunks(per_panel)
        .map(|t| (t[0].0, t[per_panel - 1].0, t[0].1, t[per_panel - 1].1))
        .collect();
    let panel_of = |x: f64| panels.iter().position(|p| x >= p.0 - 0.5 && x <= p.1 + 0.5);
    let value = |c: usize, x: f64| {
        let (x0, x1, v0, v1) = panels[c];
        v0 + (x - x0) * (v1 - v0) / (x1 - x0)
    };
    // Bars found at (row, panel): [fused mean, own means…] in top-to-bottom order.
    // (top, value at its end, fused) per bar.
    type Bars = Vec<(f64, f64, bool)>;
    let mut found: BTreeMap<(usize, usize), Bars> = BTreeMap::new();
    for class in ["fused", "own"] {
        for g in groups(&els, class) {
            let rect = g.iter().find(|e| e.tag == "rect").unwrap();
            let (x, y, w, h) = (
                rect.num("x"),
                rect.num("y"),
                rect.num("width"),
                rect.num("height"),
            );
            let r = row_of(y + h / 2.0).expect("bar inside a row band");
            let c = panel_of(x).expect("bar inside a panel");
            found
                .entry((r, c))
                .or_default()
                .push((y, value(c, x + w), class == "fused"));
        }
    }
    let tol = 0.25 * (panels[0].3 - panels[0].2) / (panels[0].1 - panels[0].0);
    let mut marked = BTreeMap::new();
    for (class, label) in [
        ("cell-failed", "failed"),
        ("cell-diverged", "diverged"),
        ("cell-missing", "data not present"),
    ] {
        for g in groups(&els, class) {
            let t = g.iter().find(|e| e.tag == "text").unwrap();
            assert!(t.text.starts_with(label), "{}", t.text);
            assert!(
                g.iter().any(|e| e.has_class("cross")),
                "{class} has a cross"
            );
            let at = (row_of(t.num("y")).unwrap(), panel_of(t.num("x")).unwrap());
            marked.insert(at, class);
        }
    }
    for (r, row) in rep.cells.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let bars = found.remove(&(r, c)).unwrap_or_default();
            let mark = marked.remove(&(r, c));
            match cell {
                Cell::Done {
                    accuracy,
                    modalities,
                    ..
                } => {
                    let mut bars = bars;
                    bars.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let expected: Vec<f64> = std::iter::once(accuracy.mean)
                        .chain(modalities.iter().flatten().map(|s| s.mean))
                        .collect();
                    assert_eq!(bars.len(), expected.len(), "row {r} column {c}: {bars:?}");
                    assert!(bars[0].2, "the fused bar comes first in row {r} column {c}");
                    for (b, e) in bars.iter().zip(&expected) {
                        assert!(
                            (b.1 - e).abs() < tol,
                            "row {r} column {c}: bar at {} for {e}",
                            b.1
                        );
                    }
                    assert_eq!(mark, None);
                }
                other => {
                    assert!(bars.is_empty(), "row {r} column {c}");
                    let want = match other {
                        Cell::Failed(_) => Some("cell-failed"),
                        Cell::Diverged(_) => Some("cell-diverged"),
                        Cell::DataMissing(_) => Some("cell-missing"),
                        _ => None,
                    };
                    assert_eq!(mark, want, "row {r} column {c}: {other:?}");
                }
            }
        }
    }
    assert!(
        found.is_empty() && marked.is_empty(),
        "{found:?} {marked:?}"
    );
    // The fixture has each kind at least once.
    for class in [
        "cell-failed",
        "cell-diverged",
        "cell-missing",
        "cell-skipped",
    ] {
        assert!(!groups(&els, class).is_empty(), "{class}");
    }
}

/// The chart of a two-row, one-column report, byte for byte (the geometry tests above are the
/// real guard; this shows any change of the output in review).
#[test]
fn small_table_chart_matches_snapshot() {
    snapshot!("plot__small_table_chart", table_chart(&report(2, 1)));
}

/// `report(2, 1)` with every mean between 84 and 96 %.
fn high_scores() -> Report {
    let mut rep = report(2, 1);
    rep.cells = vec![
        vec![Cell::Done {
            accuracy: stat(95.0, 0.5),
            macro_f1: stat(94.0, 0.5),
            modalities: vec![Some(stat(88.0, 1.0)), Some(stat(90.0, 1.0))],
        }],
        vec![Cell::Done {
            accuracy: stat(93.0, 1.0),
            macro_f1: stat(92.0, 1.0),
            modalities: vec![Some(stat(85.0, 1.0)), Some(stat(91.0, 1.0))],
        }],
    ];
    rep
}

/// The accuracy axis runs from 0 to 100 % whatever the scores, so bar lengths compare as
/// accuracies (it once started at a round value below the lowest bar, 84 % here).
#[test]
fn table_chart_accuracy_axis_starts_at_zero() {
    let svg = table_chart(&high_scores());
    let els = parse(&svg);
    let ticks: Vec<(f64, f64)> = els
        .iter()
        .filter(|e| e.has_class("vtick"))
        .map(|e| (e.num("x"), e.text.parse().unwrap()))
        .collect();
    assert_eq!(ticks.first().map(|t| t.1), Some(0.0), "{ticks:?}");
    assert_eq!(ticks.last().map(|t| t.1), Some(100.0), "{ticks:?}");
    // Every bar starts at the 0 tick.
    for class in ["fused", "own"] {
        for g in groups(&els, class) {
            let rect = g.iter().find(|e| e.tag == "rect").unwrap();
            assert!((rect.num("x") - ticks[0].0).abs() < 0.05, "{rect:?}");
        }
    }
}

/// The patterns of the `<defs>`: id → its transform and the elements drawn in one tile.
fn patterns(els: &[El]) -> BTreeMap<String, (String, Vec<String>)> {
    let mut out = BTreeMap::new();
    for (i, e) in els.iter().enumerate().filter(|(_, e)| e.tag == "pattern") {
        let body = els[i + 1..]
            .iter()
            .take_while(|x| x.tag != "/pattern")
            .map(|x| format!("{} {:?}", x.tag, x.attrs))
            .collect();
        let transform = e.attr("patternTransform").unwrap_or("").to_string();
        out.insert(e.attr("id").unwrap().to_string(), (transform, body));
    }
    out
}

/// The own bars of the two modalities are told apart by a different kind of hatch (lines vs
/// dots), not by the same lines mirrored (as they once were); all four patterns differ; and
/// each modality's key swatch uses the pattern its bars use.
#[test]
fn own_bar_hatches_differ_in_kind_and_the_key_matches_the_bars() {
    let mut rep = report(2, 1);
    rep.columns[0].modalities = ["a", "b", "c", "d"].map(String::from).to_vec();
    for cell in rep.cells.iter_mut().flatten() {
        if let Cell::Done { modalities, .. } = cell {
            *modalities = vec![Some(stat(50.0, 1.0)); 4];
        }
    }
    let svg = table_chart(&rep);
    let els = parse(&svg);
    let pats = patterns(&els);
    assert_eq!(pats.len(), 4, "{pats:?}");
    let shape = |id: &str| -> Vec<String> {
        pats[id]
            .1
            .iter()
            .map(|e| e.split(' ').next().unwrap().to_string())
            .collect()
    };
    assert_ne!(shape("own0"), shape("own1"), "{pats:?}");
    let distinct: std::collections::BTreeSet<_> = pats.values().collect();
    assert_eq!(distinct.len(), 4, "{pats:?}");
    // Key: a swatch rect followed by its label `<m> own`.
    for (k, m) in ["a", "b", "c", "d"].iter().enumerate() {
        let label = format!("{m} own");
        let at = els
            .iter()
            .position(|e| e.tag == "text" && e.text == label)
            .unwrap_or_else(|| panic!("no key {label}"));
        assert_eq!(els[at - 1].tag, "rect");
        assert_eq!(
            els[at - 1].attr("fill"),
            Some(format!("url(#own{k})").as_str())
        );
    }
    // Bars: the k-th own bar of a cell (top to bottom) is filled with pattern k.
    let mut own: Vec<(f64, String)> = groups(&els, "own")
        .iter()
        .map(|g| {
            let hatch = g
                .iter()
                .find(|e| e.attr("fill").is_some_and(|f| f.starts_with("url(")))
                .expect("a hatched rect");
            (hatch.num("y"), hatch.attr("fill").unwrap().to_string())
        })
        .collect();
    own.sort_by(|a, b| a.0.total_cmp(&b.0));
    let fills: Vec<&str> = own.iter().map(|o| o.1.as_str()).collect();
    let one_row = ["url(#own0)", "url(#own1)", "url(#own2)", "url(#own3)"];
    assert_eq!(fills, [one_row, one_row].concat());
}
