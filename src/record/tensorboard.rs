//! TensorBoard event files: each run directory also gets `tensorboard/events.out.tfevents.0.balmix`
//! with one scalar event per metric and epoch (losses, accuracies, each modality's own
//! accuracy, contributions, λ per modality and for the labels, gradient coefficients, the
//! learning rate), so `tensorboard --logdir runs/` shows every run. `metrics.csv` stays the
//! record; the event file is rewritten from its rows after every epoch (atomically, so a crash
//! never leaves half a file, and a resumed run's file holds exactly the rows it kept).
//!
//! The format, written by hand (no TensorFlow): a TFRecord stream — per record its length
//! (u64 little-endian), the masked CRC-32C of those 8 bytes, the data, the data's masked
//! CRC-32C — of protobuf `Event` messages: the first carries `file_version = "brain.Event:2"`,
//! each later one `wall_time`, `step` (the epoch) and a `Summary` of `simple_value`s. A test
//! reads the files back with TensorBoard's own reader (`tests/tensorboard.rs`).

use super::files::write_atomic;
use super::metrics::EpochMetrics;
use std::path::Path;

/// Folder of the event file inside a run directory.
pub const FOLDER: &str = "tensorboard";
/// The event file's name (TensorBoard reads files whose name contains `tfevents`).
pub const FILE: &str = "events.out.tfevents.0.balmix";

/// The scalars of one epoch as (tag, value), tags grouped the way TensorBoard shows them.
pub fn scalars(modalities: &[String], r: &EpochMetrics) -> Vec<(String, f64)> {
    let mut v = vec![
        ("loss/train".to_string(), r.train_loss),
        ("accuracy/test".to_string(), r.test_accuracy),
        ("macro_f1/test".to_string(), r.test_macro_f1),
        ("lr".to_string(), r.lr),
    ];
    if let Some(a) = r.val_accuracy {
        v.push(("accuracy/val".into(), a));
    }
    for (i, m) in modalities.iter().enumerate() {
        v.push((format!("accuracy_own/{m}"), r.modality_accuracy[i]));
    }
    // The method's own metrics, tagged as the method names them.
    v.extend(
        r.method
            .iter()
            .filter_map(|m| m.value.map(|x| (m.tag.clone(), x))),
    );
    v
}

/// Rewrite the run's event file from its `metrics.csv` rows. `wall_time` is the run's
/// cumulative training time at the end of each epoch (seconds from its start).
pub fn write_events(
    dir: &Path,
    modalities: &[String],
    rows: &[EpochMetrics],
) -> std::io::Result<()> {
    let mut out = Vec::new();
    record(&mut out, &event(0.0, 0, Body::FileVersion("brain.Event:2")));
    let mut clock = 0.0;
    for r in rows {
        clock += r.seconds;
        let values = scalars(modalities, r);
        record(
            &mut out,
            &event(clock, r.epoch as i64, Body::Scalars(&values)),
        );
    }
    let folder = dir.join(FOLDER);
    std::fs::create_dir_all(&folder)?;
    write_atomic(&folder.join(FILE), &out)
}

enum Body<'a> {
    FileVersion(&'a str),
    Scalars(&'a [(String, f64)]),
}

/// A protobuf `Event`: wall_time (1, double), step (2, int64), file_version (3, string) or
/// summary (5, Summary { repeated Value value = 1 }, Value { tag = 1, simple_value = 2 (float) }).
fn event(wall_time: f64, step: i64, body: Body) -> Vec<u8> {
    let mut e = Vec::new();
    e.push(1 << 3 | 1);
    e.extend_from_slice(&wall_time.to_le_bytes());
    e.push(2 << 3);
    varint(&mut e, step as u64);
    match body {
        Body::FileVersion(v) => bytes_field(&mut e, 3, v.as_bytes()),
        Body::Scalars(values) => {
            let mut summary = Vec::new();
            for (tag, value) in values {
                let mut val = Vec::new();
                bytes_field(&mut val, 1, tag.as_bytes());
                val.push(2 << 3 | 5);
                val.extend_from_slice(&(*value as f32).to_le_bytes());
                bytes_field(&mut summary, 1, &val);
            }
            bytes_field(&mut e, 5, &summary);
        }
    }
    e
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field (wire type 2).
fn bytes_field(out: &mut Vec<u8>, field: u32, data: &[u8]) {
    varint(out, ((field << 3) | 2) as u64);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// One TFRecord.
fn record(out: &mut Vec<u8>, data: &[u8]) {
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
}

/// TFRecord's masked CRC-32C.
fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c(data);
    c.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit: event files are small.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0x82F6_3B78 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CRC-32C check value of "123456789" is 0xE3069283 (RFC 3720, iSCSI), and of 32 zero
    /// bytes 0x8A9136AA (RFC 3720 B.4).
    #[test]
    fn crc32c_matches_the_published_check_values() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
    }

    /// Varints as the protobuf encoding guide writes them: 1 → 01, 150 → 96 01, 300 → AC 02.
    #[test]
    fn varints_follow_protobuf() {
        for (v, want) in [
            (1u64, vec![0x01]),
            (150, vec![0x96, 0x01]),
            (300, vec![0xAC, 0x02]),
        ] {
            let mut out = Vec::new();
            varint(&mut out, v);
            assert_eq!(out, want, "{v}");
        }
    }
}
