//! Host-side batch assembly: gather rows of each modality and upload them.

use crate::data::error::MediaReadError;
use crate::data::Dataset;
use crate::model::params::Matrix;
use crate::model::Backend;

/// Rows `idx` of every modality as host vectors (`idx.len() × width` each), media in the
/// evaluation view.
pub fn gather_host(data: &Dataset, idx: &[usize]) -> Result<Vec<Vec<f32>>, MediaReadError> {
    data.modalities
        .iter()
        .map(|m| m.rows(idx, crate::media::source::View::Eval))
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
