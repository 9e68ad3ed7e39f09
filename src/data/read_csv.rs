//! Numeric CSV reader: every cell a number, the label in the last column.

use super::error::DataError;

/// Rows of a numeric CSV: features (row-major, `width` per row) and the last column as labels.
pub struct CsvTable {
    /// Row-major features.
    pub values: Vec<f32>,
    /// Features per row (columns − 1).
    pub width: usize,
    /// Last column, as integers.
    pub labels: Vec<i64>,
}

/// Parse `bytes` (named `file` in errors). Ragged rows and non-numeric cells are errors that
/// give the 1-based line and column.
pub fn read(bytes: &[u8], file: &str, header: bool) -> Result<CsvTable, DataError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(header)
        .flexible(true)
        .from_reader(bytes);
    let mut table = CsvTable {
        values: Vec::new(),
        width: 0,
        labels: Vec::new(),
    };
    let mut columns = None;
    for (i, record) in reader.records().enumerate() {
        let line = i + 1 + usize::from(header);
        let record = record.map_err(|e| DataError::Csv {
            file: file.into(),
            line,
            column: 0,
            reason: e.to_string(),
        })?;
        let n = record.len();
        match columns {
            None if n < 2 => {
                return Err(DataError::Csv {
                    file: file.into(),
                    line,
                    column: n,
                    reason: "need at least one feature and a label column".into(),
                })
            }
            None => {
                columns = Some(n);
                table.width = n - 1;
            }
            Some(c) if c != n => {
                return Err(DataError::Csv {
                    file: file.into(),
                    line,
                    column: n.min(c) + 1,
                    reason: format!("ragged row: {n} columns, expected {c}"),
                })
            }
            _ => {}
        }
        for (j, cell) in record.iter().enumerate() {
            let cell = cell.trim();
            let value: f64 = cell.parse().map_err(|_| DataError::Csv {
                file: file.into(),
                line,
                column: j + 1,
                reason: format!("not a number: `{cell}`"),
            })?;
            if j + 1 == n {
                if value.fract() != 0.0 {
                    return Err(DataError::Csv {
                        file: file.into(),
                        line,
                        column: j + 1,
                        reason: format!("label `{cell}` is not an integer"),
                    });
                }
                table.labels.push(value as i64);
            } else {
                table.values.push(value as f32);
            }
        }
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_header_features_and_labels() {
        let t = read(b"a,b,y\n1,2.5,0\n3,4,1\n", "t.csv", true).unwrap();
        assert_eq!(
            (t.values, t.width, t.labels),
            (vec![1.0, 2.5, 3.0, 4.0], 2, vec![0, 1])
        );
    }

    #[test]
    fn ragged_row_reports_line_and_column() {
        let err = read(b"a,b,y\n1,2,0\n3,1\n", "t.csv", true).err().unwrap();
        assert_eq!(
            err.to_string(),
            "t.csv: line 3, column 3: ragged row: 2 columns, expected 3"
        );
    }

    #[test]
    fn non_numeric_cell_reports_line_and_column() {
        let err = read(b"1,2,0\n3,x,1\n", "t.csv", false).err().unwrap();
        assert_eq!(
            err.to_string(),
            "t.csv: line 2, column 2: not a number: `x`"
        );
    }
}
