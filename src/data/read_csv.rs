//! CSV reader: numeric feature columns plus, where the manifest names them, a label column
//! (a class name or a class index), a sample-id column and a group column.

use super::error::DataError;
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
    /// Row-major features.
    pub values: Vec<f32>,
    /// Features per row.
    pub width: usize,
    /// The label cell of each row, trimmed (empty without a label column).
    pub labels: Vec<String>,
    /// The id cell of each row (empty without an id column).
    pub ids: Vec<String>,
    /// The group cell of each row (empty without a group column).
    pub groups: Vec<String>,
    /// Whether the first line was a header.
    pub header: bool,
}

impl CsvTable {
    /// The 1-based line of data row `row`.
    pub fn line(&self, row: usize) -> usize {
        row + 1 + usize::from(self.header)
    }
}

/// Parse `bytes` (named `file` in errors). Ragged rows, non-numeric feature cells and
/// unknown columns are errors that give the 1-based line and column.
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
            .map_err(|e| csv_error(file, 1, 0, e.to_string()))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect()
    } else {
        Vec::new()
    };
    let mut table = CsvTable {
        header,
        ..CsvTable::default()
    };
    // Positions of label, id and group once the column count is known.
    let mut layout: Option<(usize, [Option<usize>; 3])> = None;
    for (i, record) in reader.records().enumerate() {
        let line = i + 1 + usize::from(header);
        let record = record.map_err(|e| csv_error(file, line, 0, e.to_string()))?;
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
                        line,
                        n,
                        "need at least one feature column besides the label, id and group columns"
                            .into(),
                    ));
                }
                table.width = n - taken;
                layout = Some((n, special));
                (n, special)
            }
        };
        if n != count {
            return Err(csv_error(
                file,
                line,
                n.min(count) + 1,
                format!("ragged row: {n} columns, expected {count}"),
            ));
        }
        let [label, id, group] = special;
        for (j, cell) in record.iter().enumerate() {
            let cell = cell.trim();
            if Some(j) == label {
                table.labels.push(cell.to_string());
            } else if Some(j) == id {
                table.ids.push(cell.to_string());
            } else if Some(j) == group {
                table.groups.push(cell.to_string());
            } else if features {
                let value: f64 = cell.parse().map_err(|_| {
                    let named = names
                        .get(j)
                        .map(|h| format!(" (`{h}`)"))
                        .unwrap_or_default();
                    csv_error(
                        file,
                        line,
                        j + 1,
                        format!("not a number: `{cell}`{named}; name non-feature columns in the manifest (label, id, group)"),
                    )
                })?;
                table.values.push(value as f32);
            }
        }
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

fn csv_error(file: &str, line: usize, column: usize, reason: String) -> DataError {
    DataError::Csv {
        file: file.into(),
        line,
        column,
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
            "t.csv: line 3, column 3: ragged row: 2 columns, expected 3"
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
