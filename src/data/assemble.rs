//! Build a [`Dataset`] from a file manifest: read the needed modalities, check labels, counts
//! and values, and match rows across modalities (by row, or by label with a fixed seed).

use super::cache::Cache;
use super::dataset::{Dataset, Modality};
use super::error::DataError;
use super::fetch::{member_bytes, member_display};
use super::local;
use super::read_csv;
use super::read_modality::{self, ModalityRows};
use crate::manifest::{Alignment, LabelsFile, Manifest};
use crate::rng::{stream, Stream};
use rand::seq::SliceRandom;
use std::collections::HashMap;

/// Load the modalities `names` of a file dataset (every modality when `names` is empty).
pub fn load(
    manifest: &Manifest,
    names: &[String],
    cache: &Cache,
    log: &dyn Fn(&str),
) -> Result<Dataset, DataError> {
    let k = manifest.classes.len();
    // A local folder is checked whole first (what is missing, and how to prepare it).
    let checked = match super::fetch::local_folder(manifest, cache) {
        Some(_) => Some(local::check(manifest, cache)?),
        None => None,
    };
    let lists = checked.filter(|_| manifest.fixed_splits.is_some());
    let mut wanted: Vec<&str> = if names.is_empty() {
        manifest
            .modalities
            .iter()
            .map(|m| m.name.as_str())
            .collect()
    } else {
        names.iter().map(String::as_str).collect()
    };
    if let Alignment::ByLabel { anchor, .. } = &manifest.alignment {
        if !wanted.contains(&anchor.as_str()) {
            wanted.push(anchor);
        }
    }
    let mut read: Vec<(String, usize, ModalityRows)> = Vec::new();
    for spec in manifest
        .modalities
        .iter()
        .filter(|m| wanted.contains(&m.name.as_str()))
    {
        // Every value is finite: the readers check it where they can name the cell.
        let rows = read_modality::read(manifest, spec, cache, log)?;
        read.push((spec.name.clone(), spec.width, rows));
    }
    let labels_file = match &manifest.labels {
        Some(l) => Some(read_labels_file(manifest, l, cache, log)?),
        None => None,
    };
    let sources = labels_file
        .iter()
        .map(|(name, rows)| (name.as_str(), rows))
        .chain(read.iter().map(|(name, _, rows)| (name.as_str(), rows)));
    // CSV labels are checked as they are read; this catches labels of binary arrays.
    for (_, rows) in sources {
        for (row, &label) in rows.labels.iter().enumerate() {
            if label < 0 || label as usize >= k {
                return Err(DataError::LabelOutOfRange {
                    file: rows.file.clone(),
                    at: read_modality::location(rows, row),
                    label,
                    classes: k,
                });
            }
        }
    }
    let with_ids = read.iter().filter(|(_, _, r)| !r.ids.is_empty()).count();
    let fixed_train = lists.as_ref().map(|l| l.train.len());
    let assembled = if labels_file.is_some() || with_ids > 0 {
        if let Some((name, _, _)) = read.iter().find(|(_, _, r)| r.ids.is_empty()) {
            return Err(DataError::Join {
                dataset: manifest.name.clone(),
                problem: format!(
                    "modality `{name}` has no id column while other files have one: declare `id` on every file (rows are then joined on it), or on none (rows are matched by position)"
                ),
            });
        }
        if matches!(manifest.alignment, Alignment::ByLabel { .. }) {
            return Err(DataError::Join {
                dataset: manifest.name.clone(),
                problem: "alignment by-label pairs rows by class; files with ids are joined on them — use one or the other".into(),
            });
        }
        by_ids(manifest, read, labels_file.map(|(_, rows)| rows), lists)?
    } else {
        match &manifest.alignment {
            Alignment::Rows => by_rows(manifest, read, lists)?,
            Alignment::ByLabel { anchor, seed } => by_label(manifest, read, anchor, *seed)?,
        }
    };
    let (modalities, labels, groups) = assembled;
    if let Some(e) = &manifest.expected {
        if labels.len() != e.samples {
            return Err(DataError::CountMismatch {
                dataset: manifest.name.clone(),
                what: "the dataset".into(),
                got: labels.len(),
                expected: e.samples,
            });
        }
        if let Some(per) = e.per_class {
            for c in 0..k {
                let got = labels.iter().filter(|&&l| l == c).count();
                if got != per {
                    return Err(DataError::CountMismatch {
                        dataset: manifest.name.clone(),
                        what: format!("class {c}"),
                        got,
                        expected: per,
                    });
                }
            }
        }
    }
    Ok(Dataset {
        name: manifest.name.clone(),
        classes: manifest.classes.clone(),
        modalities,
        labels,
        groups,
        fixed_train,
    })
}

/// The manifest's `[labels]` file as rows (no features): its shown name and its ids, labels
/// and groups.
fn read_labels_file(
    manifest: &Manifest,
    l: &LabelsFile,
    cache: &Cache,
    log: &dyn Fn(&str),
) -> Result<(String, ModalityRows), DataError> {
    let bytes = member_bytes(manifest, &l.file, cache, log)?;
    let shown = member_display(manifest, &l.file, cache);
    let columns = read_csv::Columns {
        label: Some(l.label.clone()),
        label_last: false,
        id: Some(l.id.clone()),
        group: l.group.clone(),
    };
    let t = read_csv::read_columns_only(&bytes, &shown, l.header, &columns)?;
    let labels = read_modality::class_labels(&t, &manifest.classes, &shown)?;
    Ok((
        "the labels file".to_string(),
        ModalityRows {
            file: shown,
            values: Vec::new(),
            labels,
            ids: t.ids,
            groups: t.groups,
            lines: t.lines,
        },
    ))
}

/// Modalities, labels and groups (empty when the data has none).
type Assembled = (Vec<Modality>, Vec<usize>, Vec<String>);

/// Row i of every file is sample i (with fixed lists: the lists' rows, train then test).
fn by_rows(
    manifest: &Manifest,
    read: Vec<(String, usize, ModalityRows)>,
    lists: Option<local::Lists>,
) -> Result<Assembled, DataError> {
    let list_labels: Option<Vec<usize>> =
        lists.map(|l| l.train.into_iter().chain(l.test).collect());
    let n = list_labels
        .as_ref()
        .map_or_else(|| read[0].2.len(read[0].1), Vec::len);
    let at = |i: usize| format!("row {i}");
    let mut agreement = Agreement::new(&manifest.name, &at);
    if let Some(l) = list_labels {
        agreement.labels("the split lists", l)?;
    }
    let mut modalities = Vec::new();
    for (name, width, rows) in read {
        let got = rows.len(width);
        if got != n {
            return Err(DataError::CountMismatch {
                dataset: manifest.name.clone(),
                what: format!("modality `{name}`"),
                got,
                expected: n,
            });
        }
        agreement.add(&name, &rows, &(0..n).collect::<Vec<_>>())?;
        modalities.push(Modality {
            name,
            width,
            values: rows.values,
            media: None,
        });
    }
    let (labels, groups) = agreement.finish("no modality carries labels")?;
    Ok((modalities, labels, groups))
}

/// The labels and groups of the samples as the first source that carries them gives them,
/// every later source checked against them (`at(i)` names sample i in errors: a row or an id).
struct Agreement<'a> {
    dataset: &'a str,
    at: &'a dyn Fn(usize) -> String,
    labels: Option<(String, Vec<usize>)>,
    groups: Option<(String, Vec<String>)>,
}

impl<'a> Agreement<'a> {
    fn new(dataset: &'a str, at: &'a dyn Fn(usize) -> String) -> Self {
        Agreement {
            dataset,
            at,
            labels: None,
            groups: None,
        }
    }

    /// Sample i's labels from `source`.
    fn labels(&mut self, source: &str, these: Vec<usize>) -> Result<(), DataError> {
        match &self.labels {
            None => self.labels = Some((source.to_string(), these)),
            Some((first, known)) => {
                if let Some(i) = (0..known.len()).find(|&i| known[i] != these[i]) {
                    return Err(DataError::LabelDisagreement {
                        dataset: self.dataset.to_string(),
                        a: first.clone(),
                        b: source.to_string(),
                        at: (self.at)(i),
                        la: known[i],
                        lb: these[i],
                    });
                }
            }
        }
        Ok(())
    }

    /// The labels and groups `rows` carries (if any), sample i being its row `row_of[i]`.
    fn add(
        &mut self,
        source: &str,
        rows: &ModalityRows,
        row_of: &[usize],
    ) -> Result<(), DataError> {
        if !rows.labels.is_empty() {
            self.labels(
                source,
                row_of.iter().map(|&r| rows.labels[r] as usize).collect(),
            )?;
        }
        if rows.groups.is_empty() {
            return Ok(());
        }
        let these: Vec<String> = row_of.iter().map(|&r| rows.groups[r].clone()).collect();
        match &self.groups {
            None => self.groups = Some((source.to_string(), these)),
            Some((first, known)) => {
                if let Some(i) = (0..known.len()).find(|&i| known[i] != these[i]) {
                    return Err(DataError::Join {
                        dataset: self.dataset.to_string(),
                        problem: format!(
                            "groups of `{first}` and `{source}` disagree at {} (`{}` vs `{}`)",
                            (self.at)(i),
                            known[i],
                            these[i]
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The labels (an error saying `none` when no source carried them) and the groups (empty
    /// when none did).
    fn finish(self, none: &str) -> Result<(Vec<usize>, Vec<String>), DataError> {
        let labels = self
            .labels
            .map(|(_, l)| l)
            .ok_or_else(|| DataError::Format {
                file: self.dataset.to_string(),
                reason: none.into(),
            })?;
        Ok((labels, self.groups.map(|(_, g)| g).unwrap_or_default()))
    }
}

/// Rows joined on their id: the samples are the fixed lists' ids (train then test), else the
/// labels file's, else the first modality's, in that order; every file must hold every
/// sample's id exactly once and no other. Errors name the file and line of each id.
fn by_ids(
    manifest: &Manifest,
    read: Vec<(String, usize, ModalityRows)>,
    labels_file: Option<ModalityRows>,
    lists: Option<local::Lists>,
) -> Result<Assembled, DataError> {
    let dataset = manifest.name.clone();
    let join = |problem: String| DataError::Join {
        dataset: dataset.clone(),
        problem,
    };
    let origins = |rows: &ModalityRows| -> Vec<(String, usize)> {
        (0..rows.ids.len())
            .map(|r| (rows.file.clone(), rows.lines.get(r).map_or(r + 1, |&l| l)))
            .collect()
    };
    let (order, order_at): (Vec<String>, Vec<(String, usize)>) = match (&lists, &labels_file) {
        (Some(l), _) => (l.ids.clone(), l.origins.clone()),
        (None, Some(f)) => (f.ids.clone(), origins(f)),
        (None, None) => (read[0].2.ids.clone(), origins(&read[0].2)),
    };
    // Row of every id; a second occurrence is an error naming both lines.
    let index =
        |ids: &[String], at: &[(String, usize)]| -> Result<HashMap<String, usize>, DataError> {
            let mut rows = HashMap::with_capacity(ids.len());
            for (row, id) in ids.iter().enumerate() {
                if let Some(first) = rows.insert(id.clone(), row) {
                    return Err(DataError::DuplicateId {
                        id: id.clone(),
                        first: at[first].clone(),
                        second: at[row].clone(),
                    });
                }
            }
            Ok(rows)
        };
    let samples = index(&order, &order_at)?;
    // For each source, the row of every sample; ids missing on either side are errors.
    let listed = lists.is_some();
    let rows_of = |name: &str, rows: &ModalityRows| -> Result<Vec<usize>, DataError> {
        let at = index(&rows.ids, &origins(rows))?;
        let missing: Vec<String> = order
            .iter()
            .enumerate()
            .filter(|(_, id)| !at.contains_key(*id))
            .map(|(i, id)| format!("`{id}` ({} line {})", order_at[i].0, order_at[i].1))
            .collect();
        let extra: Vec<String> = rows
            .ids
            .iter()
            .enumerate()
            .filter(|(_, id)| !samples.contains_key(*id))
            .map(|(row, id)| {
                format!(
                    "`{id}` (line {})",
                    rows.lines.get(row).map_or(row + 1, |&l| l)
                )
            })
            .collect();
        if !missing.is_empty() || !extra.is_empty() {
            let mut parts = Vec::new();
            if !missing.is_empty() {
                parts.push(format!(
                    "{} sample id(s) missing from {name} ({}): {}",
                    missing.len(),
                    rows.file,
                    listing(&missing)
                ));
            }
            if !extra.is_empty() {
                parts.push(format!(
                    "{} id(s) of {name} ({}) are not samples{}: {}",
                    extra.len(),
                    rows.file,
                    if listed {
                        " (in neither split list)"
                    } else {
                        ""
                    },
                    listing(&extra)
                ));
            }
            return Err(join(parts.join("; ")));
        }
        Ok(order.iter().map(|id| at[id]).collect())
    };
    let at = |i: usize| format!("id `{}`", order[i]);
    let mut agreement = Agreement::new(&manifest.name, &at);
    if let Some(l) = lists {
        agreement.labels(
            "the split lists",
            l.train.into_iter().chain(l.test).collect(),
        )?;
    }
    if let Some(f) = &labels_file {
        let row_of = rows_of("the labels file", f)?;
        agreement.add("the labels file", f, &row_of)?;
    }
    let mut modalities = Vec::new();
    for (name, width, rows) in read {
        let row_of = rows_of(&format!("modality `{name}`"), &rows)?;
        agreement.add(&name, &rows, &row_of)?;
        let mut values = Vec::with_capacity(order.len() * width);
        for &r in &row_of {
            values.extend_from_slice(&rows.values[r * width..(r + 1) * width]);
        }
        modalities.push(Modality {
            name,
            width,
            values,
            media: None,
        });
    }
    let (labels, groups) = agreement.finish("no file carries labels")?;
    Ok((modalities, labels, groups))
}

/// The first ten of `items`, then how many more.
fn listing(items: &[String]) -> String {
    let shown: Vec<&str> = items.iter().take(10).map(String::as_str).collect();
    let more = items.len().saturating_sub(10);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Pair every anchor sample with a distinct same-class sample of each other modality: per
/// class, the other modality's rows are shuffled once by the `pairing` stream of `seed`
/// (index = modality position) and handed out in anchor order.
fn by_label(
    manifest: &Manifest,
    read: Vec<(String, usize, ModalityRows)>,
    anchor: &str,
    seed: u64,
) -> Result<Assembled, DataError> {
    let k = manifest.classes.len();
    let a = read
        .iter()
        .position(|(n, _, _)| n == anchor)
        .expect("anchor was read");
    let labels: Vec<usize> = read[a].2.labels.iter().map(|&l| l as usize).collect();
    let mut modalities = Vec::new();
    for (pos, (name, width, rows)) in read.into_iter().enumerate() {
        if pos == a {
            modalities.push(Modality {
                name,
                width,
                values: rows.values,
                media: None,
            });
            continue;
        }
        let mut rng = stream(seed, Stream::Pairing, pos as u64);
        let mut pools: Vec<Vec<usize>> = (0..k)
            .map(|c| {
                (0..rows.labels.len())
                    .filter(|&i| rows.labels[i] as usize == c)
                    .collect()
            })
            .collect();
        for (c, pool) in pools.iter_mut().enumerate() {
            pool.shuffle(&mut rng);
            let need = labels.iter().filter(|&&l| l == c).count();
            if pool.len() < need {
                return Err(DataError::NotEnoughToPair {
                    dataset: manifest.name.clone(),
                    class: c,
                    modality: name.clone(),
                    have: pool.len(),
                    need,
                });
            }
            pool.truncate(need);
            pool.reverse(); // pop() hands them out in shuffled order
        }
        let mut values = Vec::with_capacity(labels.len() * width);
        for &c in &labels {
            let i = pools[c].pop().expect("counted above");
            values.extend_from_slice(&rows.values[i * width..(i + 1) * width]);
        }
        modalities.push(Modality {
            name,
            width,
            values,
            media: None,
        });
    }
    Ok((modalities, labels, Vec::new()))
}
