//! Build a [`Dataset`] from a file manifest: read the needed modalities, check labels, counts
//! and values, and match rows across modalities (by row, or by label with a fixed seed).

use super::cache::Cache;
use super::dataset::{Dataset, Modality};
use super::error::DataError;
use super::local;
use super::read_modality::{self, ModalityRows};
use crate::manifest::{Alignment, Manifest};
use crate::rng::{stream, Stream};
use rand::seq::SliceRandom;

/// Load the modalities `names` of a file dataset (every modality when `names` is empty).
pub fn load(
    manifest: &Manifest,
    names: &[String],
    cache: &Cache,
    log: &dyn Fn(&str),
) -> Result<Dataset, DataError> {
    let k = manifest.classes.len();
    let lists = match &manifest.fixed_splits {
        Some(_) => Some(local::check(manifest, cache)?),
        None => None,
    };
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
        let rows = read_modality::read(manifest, spec, cache, log)?;
        for (row, &label) in rows.labels.iter().enumerate() {
            if label < 0 || label as usize >= k {
                return Err(DataError::LabelOutOfRange {
                    file: format!("{} ({})", manifest.name, spec.name),
                    row,
                    label,
                    classes: k,
                });
            }
        }
        for (i, v) in rows.values.iter().enumerate() {
            if !v.is_finite() {
                return Err(DataError::NonFinite {
                    dataset: manifest.name.clone(),
                    modality: spec.name.clone(),
                    row: i / spec.width,
                    column: i % spec.width,
                    value: *v,
                });
            }
        }
        read.push((spec.name.clone(), spec.width, rows));
    }
    let (modalities, labels) = match &manifest.alignment {
        Alignment::Rows => by_rows(manifest, read, lists)?,
        Alignment::ByLabel { anchor, seed } => by_label(manifest, read, anchor, *seed)?,
    };
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
    })
}

type Assembled = (Vec<Modality>, Vec<usize>);

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
    let mut labels: Option<(String, Vec<usize>)> =
        list_labels.map(|l| ("the split lists".to_string(), l));
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
        if !rows.labels.is_empty() {
            let these: Vec<usize> = rows.labels.iter().map(|&l| l as usize).collect();
            match &labels {
                None => labels = Some((name.clone(), these)),
                Some((first, known)) => {
                    if let Some(row) = (0..n).find(|&i| known[i] != these[i]) {
                        return Err(DataError::LabelDisagreement {
                            dataset: manifest.name.clone(),
                            a: first.clone(),
                            b: name.clone(),
                            row,
                            la: known[row],
                            lb: these[row],
                        });
                    }
                }
            }
        }
        modalities.push(Modality {
            name,
            width,
            values: rows.values,
            media: None,
        });
    }
    let labels = labels.map(|(_, l)| l).ok_or_else(|| DataError::Format {
        file: manifest.name.clone(),
        reason: "no modality carries labels".into(),
    })?;
    Ok((modalities, labels))
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
    Ok((modalities, labels))
}
