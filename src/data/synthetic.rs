//! The `synthetic` source: Gaussian classes per modality, generated from the `synthetic`
//! stream (docs/methods.md §7). Labels are balanced (sample i has class i mod K before a shuffle).

use super::dataset::{Dataset, Modality};
use super::error::DataError;
use crate::manifest::{Manifest, SyntheticModality};
use crate::rng::{stream, Stream};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::StandardNormal;

/// Generate the dataset a synthetic manifest describes. Stream index 0 draws the labels,
/// index 1 + m the means and noise of modality m, so each modality is independent of the others.
pub fn generate(manifest: &Manifest, samples: usize, seed: u64) -> Result<Dataset, DataError> {
    let k = manifest.classes.len();
    let mut labels: Vec<usize> = (0..samples).map(|i| i % k).collect();
    labels.shuffle(&mut stream(seed, Stream::Synthetic, 0));
    let modalities = manifest
        .modalities
        .iter()
        .enumerate()
        .map(|(m, spec)| {
            let params = spec.synthetic.as_ref().ok_or_else(|| DataError::Manifest {
                manifest: manifest.name.clone(),
                reason: format!("synthetic modality `{}` has no parameters", spec.name),
            })?;
            let mut rng = stream(seed, Stream::Synthetic, 1 + m as u64);
            let means = class_means(&mut rng, k, spec.width, params);
            let mut values = Vec::with_capacity(samples * spec.width);
            for &y in &labels {
                for mean in &means[y] {
                    let noise: f64 = rng.sample(StandardNormal);
                    values.push((mean + params.noise * noise) as f32);
                }
            }
            Ok(Modality {
                name: spec.name.clone(),
                width: spec.width,
                values,
                media: None,
            })
        })
        .collect::<Result<_, DataError>>()?;
    Ok(Dataset {
        name: manifest.name.clone(),
        classes: manifest.classes.clone(),
        modalities,
        labels,
        groups: Vec::new(),
        fixed_train: None,
    })
}

/// Random directions scaled to `mean_norm`; classes in a `shared` group take the group's first
/// class's mean.
fn class_means(rng: &mut impl Rng, k: usize, width: usize, p: &SyntheticModality) -> Vec<Vec<f64>> {
    let mut means: Vec<Vec<f64>> = (0..k)
        .map(|_| {
            let v: Vec<f64> = (0..width).map(|_| rng.sample(StandardNormal)).collect();
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
            v.into_iter().map(|x| x / norm * p.mean_norm).collect()
        })
        .collect();
    for group in &p.shared {
        if let Some(&first) = group.first() {
            for &c in &group[1..] {
                means[c] = means[first].clone();
            }
        }
    }
    means
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Catalog;

    #[test]
    fn generation_is_deterministic_and_shared_classes_share_means() {
        let m = Catalog::discover(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
            .get("synthetic-imbalance")
            .unwrap();
        let a = generate(&m, 600, 0).unwrap();
        assert_eq!(a, generate(&m, 600, 0).unwrap());
        assert_ne!(a, generate(&m, 600, 1).unwrap());
        // visual: classes 0 and 1 have the same mean, so their class averages nearly agree,
        // while class 2 sits far away (norm-4 means).
        let visual = &a.modalities[1];
        let avg = |c: usize| -> Vec<f64> {
            let rows: Vec<usize> = (0..a.len()).filter(|&i| a.labels[i] == c).collect();
            (0..visual.width)
                .map(|j| {
                    rows.iter().map(|&i| visual.row(i)[j] as f64).sum::<f64>() / rows.len() as f64
                })
                .collect()
        };
        let dist = |x: &[f64], y: &[f64]| {
            x.iter()
                .zip(y)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                .sqrt()
        };
        assert!(dist(&avg(0), &avg(1)) < 1.5);
        assert!(dist(&avg(0), &avg(2)) > 4.0);
    }
}
