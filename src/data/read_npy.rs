//! A small NPY/NPZ reader: little-endian f32, f64, i32, i64 (and u8) arrays in C order.

use super::error::DataError;
use std::io::Read;

/// An array read from NPY, converted to f64.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values in C order.
    pub values: Vec<f64>,
}

/// Parse one `.npy` file.
pub fn read_npy(bytes: &[u8], file: &str) -> Result<Array, DataError> {
    let bad = |reason: String| DataError::Format {
        file: file.into(),
        reason,
    };
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not an NPY file (bad magic)".into()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(bad(format!("unsupported NPY version {v}"))),
    };
    let header = std::str::from_utf8(
        bytes
            .get(start..start + header_len)
            .ok_or_else(|| bad("truncated header".into()))?,
    )
    .map_err(|_| bad("header is not UTF-8".into()))?;
    let field = |key: &str| -> Option<&str> {
        let at = header.find(&format!("'{key}':"))? + key.len() + 3;
        Some(header[at..].trim_start())
    };
    let descr = field("descr")
        .and_then(|s| s.strip_prefix('\''))
        .and_then(|s| s.split('\'').next())
        .ok_or_else(|| bad("no descr".into()))?;
    if field("fortran_order").is_some_and(|s| s.starts_with("True")) {
        return Err(bad("Fortran-ordered arrays are not supported".into()));
    }
    let shape_text = field("shape")
        .and_then(|s| s.strip_prefix('('))
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no shape".into()))?;
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| bad(format!("bad shape `{shape_text}`")))
        })
        .collect::<Result<_, _>>()?;
    let count: usize = shape.iter().product();
    let data = &bytes[start + header_len..];
    let (size, convert): (usize, fn(&[u8]) -> f64) = match descr {
        "<f4" => (4, |b| f32::from_le_bytes(b.try_into().unwrap()) as f64),
        "<f8" => (8, |b| f64::from_le_bytes(b.try_into().unwrap())),
        "<i4" => (4, |b| i32::from_le_bytes(b.try_into().unwrap()) as f64),
        "<i8" => (8, |b| i64::from_le_bytes(b.try_into().unwrap()) as f64),
        "|u1" => (1, |b| b[0] as f64),
        other => {
            return Err(bad(format!(
                "unsupported dtype `{other}` (little-endian f4, f8, i4, i8 or u1 expected)"
            )))
        }
    };
    if data.len() < count * size {
        return Err(bad(format!(
            "truncated data: {} bytes for {count} values of {size} bytes",
            data.len()
        )));
    }
    Ok(Array {
        shape,
        values: data[..count * size]
            .chunks_exact(size)
            .map(convert)
            .collect(),
    })
}

/// Parse array `name` (without `.npy`) of an `.npz` archive.
pub fn read_npz(bytes: &[u8], file: &str, name: &str) -> Result<Array, DataError> {
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| DataError::Format {
            file: file.into(),
            reason: format!("not an NPZ archive: {e}"),
        })?;
    let mut entry = zip
        .by_name(&format!("{name}.npy"))
        .map_err(|_| DataError::MemberMissing {
            archive: file.into(),
            member: format!("{name}.npy"),
        })?;
    let mut data = Vec::new();
    entry
        .read_to_end(&mut data)
        .map_err(|e| DataError::Format {
            file: file.into(),
            reason: e.to_string(),
        })?;
    read_npy(&data, &format!("{file}:{name}.npy"))
}

/// Encode a C-order array as NPY v1 (f32 if `f32`, else i64) — for fixtures and tests.
pub fn write_npy(shape: &[usize], values: &[f64], f32: bool) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape_text}, }}",
        if f32 { "<f4" } else { "<i8" }
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    for v in values {
        if f32 {
            out.extend((*v as f32).to_le_bytes());
        } else {
            out.extend((*v as i64).to_le_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip() {
        let bytes = write_npy(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.5], true);
        assert_eq!(
            read_npy(&bytes, "t").unwrap(),
            Array {
                shape: vec![2, 3],
                values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5]
            }
        );
        let ints = write_npy(&[3], &[7.0, -1.0, 2.0], false);
        assert_eq!(read_npy(&ints, "t").unwrap().values, vec![7.0, -1.0, 2.0]);
    }

    #[test]
    fn truncated_npy_is_an_error() {
        let bytes = write_npy(&[4], &[1.0; 4], true);
        let err = read_npy(&bytes[..bytes.len() - 3], "t.npy").unwrap_err();
        assert!(err.to_string().contains("truncated data"), "{err}");
    }
}
