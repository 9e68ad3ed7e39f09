//! Raw media to tensors (issue 13; `../shared/specs/av-datasets.md`): audio decoding and the
//! audio front-ends of the reference code bases. Each front-end is checked against the
//! reference library on committed inputs (`tools/av-reference/`, `tests/reference/audio/`).

pub mod spectrogram;
pub mod wav;
