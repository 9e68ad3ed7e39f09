//! Table files (`recipes/tables/<name>.toml`): rows (methods) × columns (datasets) × seeds,
//! each cell one recipe plus overrides, with optional reference numbers and their source.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// A table file as written.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TableFile {
    /// Title printed above the report.
    pub title: String,
    /// The evaluation protocol, printed in the footer (split, model selection, metric).
    pub protocol: String,
    /// Seeds every cell runs with.
    pub seeds: Vec<u64>,
    /// Overrides applied to every cell, before column and row overrides.
    #[serde(default)]
    pub set: Vec<String>,
    /// Columns: datasets.
    pub columns: Vec<Column>,
    /// Rows: methods.
    pub rows: Vec<Row>,
    /// Published numbers to compare with.
    #[serde(default)]
    pub references: Vec<Reference>,
    /// Row key the robustness report's paired differences are taken against (e.g. `concat`).
    #[serde(default)]
    pub robustness_baseline: Option<String>,
}

/// A dataset column.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// Short key (used in run paths and references).
    pub key: String,
    /// Heading.
    pub label: String,
    /// Folder of the column's recipes, relative to the table file.
    pub dir: String,
    /// Overrides for every cell of the column.
    #[serde(default)]
    pub set: Vec<String>,
    /// Which modality is the weak one (its own accuracy is shown beside the fused one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weak: Option<String>,
}

/// A method row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// Short key (used in run paths and references).
    pub key: String,
    /// Label in the report.
    pub label: String,
    /// Recipe file name inside each column's folder.
    pub recipe: String,
    /// Overrides for every cell of the row (after the column's).
    #[serde(default)]
    pub set: Vec<String>,
    /// Per-column exceptions, keyed by column key.
    #[serde(default)]
    pub cells: BTreeMap<String, CellOverride>,
}

/// A per-cell exception.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct CellOverride {
    /// Another recipe file in the column's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<String>,
    /// More overrides.
    #[serde(default)]
    pub set: Vec<String>,
    /// Leave the cell empty (the method does not apply).
    #[serde(default)]
    pub skip: bool,
}

/// A published number for one cell.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// Row key.
    pub row: String,
    /// Column key.
    pub column: String,
    /// Accuracy in percent.
    pub value: f64,
    /// Where the number comes from.
    pub source: String,
}

/// One cell to run: the recipe path and overrides (the run name is set by the runner).
#[derive(Debug, Clone, PartialEq)]
pub struct CellSpec {
    /// Row index.
    pub row: usize,
    /// Column index.
    pub column: usize,
    /// Recipe file.
    pub recipe: PathBuf,
    /// Overrides, in order.
    pub sets: Vec<String>,
}

/// A table file that cannot be used.
#[derive(Debug, Error)]
#[allow(missing_docs)]
pub enum TableError {
    #[error("{path}: cannot read table: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
}

/// A loaded table and the folder its paths are relative to.
#[derive(Debug, Clone)]
pub struct Table {
    /// The file.
    pub file: TableFile,
    /// Table name (file stem).
    pub name: String,
    /// The table file's folder.
    pub dir: PathBuf,
}

impl Table {
    /// Read and check a table file.
    pub fn load(path: &Path) -> Result<Table, TableError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| TableError::Unreadable {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let file: TableFile = toml::from_str(&text).map_err(|e| TableError::Invalid {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let invalid = |reason: String| TableError::Invalid {
            path: shown.clone(),
            reason,
        };
        if file.seeds.is_empty() || file.rows.is_empty() || file.columns.is_empty() {
            return Err(invalid("seeds, rows and columns must not be empty".into()));
        }
        for (i, c) in file.columns.iter().enumerate() {
            if file.columns[..i].iter().any(|o| o.key == c.key) {
                return Err(invalid(format!("column key `{}` is used twice", c.key)));
            }
        }
        for (i, r) in file.rows.iter().enumerate() {
            if file.rows[..i].iter().any(|o| o.key == r.key) {
                return Err(invalid(format!("row key `{}` is used twice", r.key)));
            }
            if let Some(k) = r
                .cells
                .keys()
                .find(|k| !file.columns.iter().any(|c| &c.key == *k))
            {
                return Err(invalid(format!(
                    "rows.{}.cells: unknown column `{k}`",
                    r.key
                )));
            }
        }
        for reference in &file.references {
            if !file.rows.iter().any(|r| r.key == reference.row)
                || !file.columns.iter().any(|c| c.key == reference.column)
            {
                return Err(invalid(format!(
                    "reference for unknown cell {}/{}",
                    reference.row, reference.column
                )));
            }
        }
        if let Some(k) = &file.robustness_baseline {
            if !file.rows.iter().any(|r| &r.key == k) {
                return Err(invalid(format!("robustness_baseline: unknown row `{k}`")));
            }
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("table")
            .to_string();
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        Ok(Table { file, name, dir })
    }

    /// Every non-skipped cell, row-major.
    pub fn cells(&self) -> Vec<CellSpec> {
        let mut out = Vec::new();
        for (ri, row) in self.file.rows.iter().enumerate() {
            for (ci, col) in self.file.columns.iter().enumerate() {
                let exception = row.cells.get(&col.key).cloned().unwrap_or_default();
                if exception.skip {
                    continue;
                }
                let recipe = self
                    .dir
                    .join(&col.dir)
                    .join(exception.recipe.as_deref().unwrap_or(&row.recipe));
                let mut sets = self.file.set.clone();
                sets.extend(col.set.iter().cloned());
                sets.extend(row.set.iter().cloned());
                sets.extend(exception.set);
                sets.push(format!("name=\"{}/{}/{}\"", self.name, col.key, row.key));
                out.push(CellSpec {
                    row: ri,
                    column: ci,
                    recipe,
                    sets,
                });
            }
        }
        out
    }

    /// The reference of a cell, if any.
    pub fn reference(&self, row: usize, column: usize) -> Option<&Reference> {
        let (r, c) = (&self.file.rows[row].key, &self.file.columns[column].key);
        self.file
            .references
            .iter()
            .find(|x| &x.row == r && &x.column == c)
    }
}
