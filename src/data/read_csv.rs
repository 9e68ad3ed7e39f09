//! CSV reader: numeric feature columns plus, where the manifest names them, a label column
//! (a class name or a class index), a sample-id column and a group column.

use super::error::{DataError, Location, Row};
use crate::manifest::Column;

/// The special columns of a CSV file; every other column is a numeric feature.
#[derive(Debug, Clone, Default)]
pub struct Columns {
    /// The label column (`None`: the last column when `label_last`, else no labels).
    pub label: Option<Column>,
    /// Without `label`, the last column is the label.
    pub label_last: bool,
    /// The sample-id column.
    pub id: Option<Column>,
    /// The group column.
    pub group: Option<Column>,
}

/// Rows of a CSV file.
#[derive(Debug, Clone, Default)]
pub struct CsvTable {
    /// Row-major features (all finite: a `nan`, `inf` or an f32 overflow is an error).
    pub values: Vec<f32>,
    /// Features per row.
    pub width: usize,
    /// The label cell of each row, trimmed (empty without a label column).
    pub labels: Vec<String>,
    /// The id cell of each row (empty without an id column).
    pub ids: Vec<String>,
    /// The group cell of each row (empty without a group column; never an empty cell).
    pub groups: Vec<String>,
    /// The 1-based line of each row.
    pub lines: Vec<usize>,
    /// The label column as errors name it (its header name in backticks, else its 1-based
    /// number), when there is one.
    pub label_column: Option<String>,
}

impl CsvTable {
    /// Where data row `row` is: its line, the column `column` names, and its id.
    pub fn at(&self, row: usize, column: Option<&str>) -> Location {
        Location {
            row: Row::Line(self.lines[row]),
            column: column.map(Into::into),
            id: self.ids.get(row).map(|id| id.as_str().into()),
        }
    }
}

/// Parse `bytes` (named `file` in errors). Ragged rows, non-numeric or non-finite feature
/// cells, empty group cells, unknown columns and a file without rows are errors that give the
/// 1-based line, the column (by header name where there is one) and the row's id.
pub fn read(
    bytes: &[u8],
    file: &str,
    header: bool,
    columns: &Columns,
) -> Result<CsvTable, DataError> {
    read_with(bytes, file, header, columns, true)
}

/// [`read`] for a file of ids, labels and groups only (no feature columns).
pub fn read_columns_only(
    bytes: &[u8],
    file: &str,
    header: bool,
    columns: &Columns,
) -> Result<CsvTable, DataError> {
    read_with(bytes, file, header, columns, false)
}

/// Column `j` (0-based) as errors name it: its header name in backticks, else its 1-based
/// number.
fn column_name(names: &[String], j: usize) -> String {
    match names.get(j) {
        Some(h) => format!("`{h}`"),
        None => (j + 1).to_string(),
    }
}

/// A feature cell as an f32: a literal `nan`/`inf` and a finite value beyond f32's range are
/// told apart.
fn feature(cell: &str, file: &str, at: impl Fn() -> Location) -> Result<f32, DataError> {
    let value: f64 = cell.parse().map_err(|_| DataError::Csv {
        file: file.into(),
        at: at(),
        reason: format!(
            "not a number: `{cell}`; name non-feature columns in the manifest (label, id, group)"
        ),
    })?;
    if !value.is_finite() {
        return Err(DataError::NonFinite {
            file: file.into(),
            at: at(),
            cell: cell.into(),
        });
    }
    let narrow = value as f32;
    if !narrow.is_finite() {
        return Err(DataError::Overflow {
            file: file.into(),
            at: at(),
            cell: cell.into(),
        });
    }
    Ok(narrow)
}

fn read_with(
    bytes: &[u8],
    file: &str,
    header: bool,
    columns: &Columns,
    features: bool,
) -> Result<CsvTable, DataError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(header)
        .flexible(true)
        .from_reader(bytes);
    let names: Vec<String> = if header {
        reader
            .headers()
            .map_err(|e| csv_error(file, Location::line(1), e.to_string()))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect()
    } else {
        Vec::new()
    };
    let mut table = CsvTable::default();
    // The csv crate skips blank lines without counting them: lines are counted here, from
    // the byte where each record starts (past any blank lines before it).
    let (mut counted_to, mut counted_line) = (0usize, 1usize);
    let mut line_of = |byte: u64| -> usize {
        let mut start = byte as usize;
        while matches!(bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        if start > counted_to {
            let end = start.min(bytes.len());
            counted_line += bytes[counted_to.min(end)..end]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            counted_to = end;
        }
        counted_line
    };
    // Positions of label, id and group once the column count is known.
    let mut layout: Option<(usize, [Option<usize>; 3])> = None;
    for (i, record) in reader.records().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e
                    .position()
                    .map_or(i + 1 + usize::from(header), |p| line_of(p.byte()));
                return Err(csv_error(file, Location::line(line), e.to_string()));
            }
        };
        let line = record
            .position()
            .map_or(i + 1 + usize::from(header), |p| line_of(p.byte()));
        let n = record.len();
        let (count, special) = match layout {
            Some(l) => l,
            None => {
                let mut special = [None; 3];
                let roles = [&columns.label, &columns.id, &columns.group];
                for (k, c) in roles.into_iter().enumerate() {
                    if let Some(c) = c {
                        let at = position(c, &names, n, file)?;
                        if special.contains(&Some(at)) {
                            return Err(DataError::Format {
                                file: file.into(),
                                reason: format!("{c} is given for two roles (label, id, group)"),
                            });
                        }
                        special[k] = Some(at);
                    }
                }
                if columns.label.is_none() && columns.label_last {
                    if special.contains(&Some(n - 1)) {
                        return Err(DataError::Format {
                            file: file.into(),
                            reason: "the last column is the label unless `label` names another; it cannot also be the id or group".into(),
                        });
                    }
                    special[0] = Some(n - 1);
                }
                let taken = special.iter().flatten().count();
                if features && n <= taken {
                    return Err(csv_error(
                        file,
                        Location::line(line),
                        format!("{n} column(s): need at least one feature column besides the label, id and group columns"),
                    ));
                }
                table.width = n - taken;
                table.label_column = special[0].map(|j| column_name(&names, j));
                layout = Some((n, special));
                (n, special)
            }
        };
        if n != count {
            return Err(csv_error(
                file,
                Location {
                    column: Some(column_name(&names, n.min(count)).into()),
                    ..Location::line(line)
                },
                format!("ragged row: {n} columns, expected {count}"),
            ));
        }
        let [label, id, group] = special;
        let row_id: Option<Box<str>> = id.map(|j| record[j].trim().into());
        let at = |j: usize| Location {
            row: Row::Line(line),
            column: Some(column_name(&names, j).into()),
            id: row_id.clone(),
        };
        for (j, cell) in record.iter().enumerate() {
            let cell = cell.trim();
            if Some(j) == label {
                table.labels.push(cell.to_string());
            } else if Some(j) == id {
                table.ids.push(cell.to_string());
            } else if Some(j) == group {
                if cell.is_empty() {
                    return Err(DataError::EmptyGroup {
                        file: file.into(),
                        at: at(j),
                    });
                }
                table.groups.push(cell.to_string());
            } else if features {
                table.values.push(feature(cell, file, || at(j))?);
            }
        }
        table.lines.push(line);
    }
    if table.lines.is_empty() {
        return Err(DataError::NoRows {
            file: file.into(),
            header_columns: Some(names.len()).filter(|&n| header && n > 0),
        });
    }
    Ok(table)
}

/// The 0-based position of `column` in a file of `n` columns.
fn position(column: &Column, names: &[String], n: usize, file: &str) -> Result<usize, DataError> {
    match column {
        Column::Index(i) if *i < n => Ok(*i),
        Column::Index(i) => Err(DataError::Format {
            file: file.into(),
            reason: format!("column {i} does not exist: the file has {n} columns (0-based)"),
        }),
        Column::Name(name) if names.is_empty() => Err(DataError::Format {
            file: file.into(),
            reason: format!(
                "column `{name}` is named but the manifest says header = false; set header = true or give its 0-based index"
            ),
        }),
        Column::Name(name) => names.iter().position(|h| h == name).ok_or_else(|| DataError::Format {
            file: file.into(),
            reason: format!("no column `{name}` in the header (columns: {})", names.join(", ")),
        }),
    }
}

fn csv_error(file: &str, at: Location, reason: String) -> DataError {
    DataError::Csv {
        file: file.into(),
        at,
        reason,
    }
}

/// The class of a label cell: a class name, else an integer index (range-checked later).
/// `None` when it is neither.
pub fn class_of(cell: &str, classes: &[String]) -> Option<i64> {
    if let Some(c) = classes.iter().position(|c| c == cell) {
        return Some(c as i64);
    }
    let value: f64 = cell.parse().ok()?;
    (value.fract() == 0.0).then_some(value as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last() -> Columns {
        Columns {
            label: Some(Column::Index(2)),
            ..Columns::default()
        }
    }

    #[test]
    fn reads_header_features_and_labels() {
        let t = read(b"a,b,y\n1,2.5,0\n3,4,1\n", "t.csv", true, &last()).unwrap();
        assert_eq!(
            (t.values, t.width, t.labels),
            (vec![1.0, 2.5, 3.0, 4.0], 2, vec!["0".into(), "1".into()])
        );
    }

    #[test]
    fn named_columns_anywhere_leave_the_rest_as_features() {
        let cols = Columns {
            label: Some(Column::Name("activity".into())),
            label_last: false,
            id: Some(Column::Name("id".into())),
            group: Some(Column::Index(1)),
        };
        let t = read(
            b"id,subject,x,activity,y\nw1,s1,0.5,walk,2\nw2,s2,1.5,run,3\n",
            "t.csv",
            true,
            &cols,
        )
        .unwrap();
        assert_eq!(t.values, vec![0.5, 2.0, 1.5, 3.0]);
        assert_eq!(t.width, 2);
        assert_eq!(t.ids, vec!["w1", "w2"]);
        assert_eq!(t.groups, vec!["s1", "s2"]);
        assert_eq!(t.labels, vec!["walk", "run"]);
    }

    #[test]
    fn unknown_column_name_lists_the_header() {
        let cols = Columns {
            label: Some(Column::Name("label".into())),
            ..Columns::default()
        };
        let err = read(b"a,b,y\n1,2,0\n", "t.csv", true, &cols).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.csv: no column `label` in the header (columns: a, b, y)"
        );
    }

    #[test]
    fn ragged_row_reports_line_and_column() {
        let err = read(b"a,b,y\n1,2,0\n3,1\n", "t.csv", true, &last())
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "t.csv: line 3, column `y`: ragged row: 2 columns, expected 3"
        );
    }

    #[test]
    fn non_numeric_cell_reports_line_and_column() {
        let err = read(b"1,2,0\n3,x,1\n", "t.csv", false, &last())
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .starts_with("t.csv: line 2, column 2: not a number: `x`"),
            "{err}"
        );
    }

    fn with_id_and_group() -> Columns {
        Columns {
            label: Some(Column::Name("y".into())),
            label_last: false,
            id: Some(Column::Name("id".into())),
            group: Some(Column::Name("subject".into())),
        }
    }

    #[test]
    fn literal_nan_and_inf_are_not_finite_and_1e40_overflows_f32() {
        for (cell, problem) in [
            ("nan", "value `nan` is not finite"),
            ("-inf", "value `-inf` is not finite"),
            ("1e40", "value `1e40` overflows f32 (|x| > 3.4e38)"),
            ("-1e39", "value `-1e39` overflows f32 (|x| > 3.4e38)"),
        ] {
            let csv = format!("id,subject,a,b,y\nw1,s1,1,2,0\nw2,s1,3,{cell},1\n");
            let err = read(csv.as_bytes(), "t.csv", true, &with_id_and_group()).unwrap_err();
            let expected = format!("t.csv: line 3, column `b` (id `w2`): {problem}");
            assert!(err.to_string().starts_with(&expected), "{err}");
        }
        // The largest f32 itself is kept.
        let t = read(b"3.4028235e38,0\n", "t.csv", false, &last_of_two()).unwrap();
        assert_eq!(t.values, vec![f32::MAX]);
    }

    fn last_of_two() -> Columns {
        Columns {
            label: Some(Column::Index(1)),
            ..Columns::default()
        }
    }

    #[test]
    fn empty_group_cell_is_an_error_naming_line_column_and_id() {
        let err = read(
            b"id,subject,a,y\nw1,s1,1,0\nw2, ,3,1\n",
            "t.csv",
            true,
            &with_id_and_group(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            DataError::EmptyGroup {
                file: "t.csv".into(),
                at: Location {
                    row: Row::Line(3),
                    column: Some("`subject`".into()),
                    id: Some("w2".into()),
                }
            }
        );
        // In a labels file (no features) too.
        let err = read_columns_only(
            b"id,subject,y\nw1,,0\n",
            "l.csv",
            true,
            &with_id_and_group(),
        )
        .unwrap_err();
        assert!(matches!(err, DataError::EmptyGroup { .. }), "{err}");
    }

    #[test]
    fn header_only_file_has_no_data_rows() {
        let err = read(b"a,b,c,d,y\n", "t.csv", true, &last()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.csv: no data rows (a header of 5 columns and nothing below it); add one row per sample"
        );
        let err = read(b"", "t.csv", false, &last()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.csv: no data rows (the file is empty); add one row per sample"
        );
    }

    #[test]
    fn lines_count_blank_lines_and_headers() {
        let t = read(
            b"a,b,y\n1,2,0\n\n3,4,1\r\n\r\n5,6,2\n",
            "t.csv",
            true,
            &last(),
        )
        .unwrap();
        assert_eq!(t.lines, vec![2, 4, 6]);
    }

    #[test]
    fn labels_are_class_names_or_indices() {
        let classes = vec!["walk".to_string(), "run".to_string()];
        assert_eq!(class_of("run", &classes), Some(1));
        assert_eq!(class_of("0", &classes), Some(0));
        assert_eq!(class_of("7", &classes), Some(7));
        assert_eq!(class_of("swim", &classes), None);
        assert_eq!(class_of("1.5", &classes), None);
    }
}
