//! Raw media to tensors (issue 13; `../shared/specs/av-datasets.md`): audio decoding and the
//! audio front-ends of the reference code bases, JPEG frames and their test transform. Each front-end is checked against the
//! reference library on committed inputs (`tools/av-reference/`, `tests/reference/{audio,image}/`).

pub mod fake;
pub mod fake_marker;
pub mod fbank;
pub mod frame;
pub mod layout;
pub mod options;
pub mod prepare;
pub mod random_crop;
pub mod resample;
pub mod select;
pub mod source;
pub mod spectrogram;
pub mod vocabulary;
pub mod wav;
