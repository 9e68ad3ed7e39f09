//! Host-side batch assembly: gather rows of each modality and upload them.

use crate::data::Dataset;
use crate::model::params::Matrix;
use crate::model::Backend;

/// Rows `idx` of every modality as host vectors (`idx.len() × width` each).
pub fn gather_host(data: &Dataset, idx: &[usize]) -> Vec<Vec<f32>> {
    data.modalities
        .iter()
        .map(|m| {
            let mut v = Vec::with_capacity(idx.len() * m.width);
            for &i in idx {
                v.extend_from_slice(m.row(i));
            }
            v
        })
        .collect()
}

/// Upload host rows as `(n, width)` tensors.
pub fn upload<D: Backend>(
    dev: &D,
    rows: Vec<Vec<f32>>,
    data: &Dataset,
    n: usize,
) -> Vec<Matrix<D>> {
    rows.into_iter()
        .zip(&data.modalities)
        .map(|(v, m)| dev.tensor_from_vec(v, (n, m.width)))
        .collect()
}

/// Labels of rows `idx`.
pub fn labels(data: &Dataset, idx: &[usize]) -> Vec<usize> {
    idx.iter().map(|&i| data.labels[i]).collect()
}
