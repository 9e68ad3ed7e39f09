//! SVG plots: per-run curves from `metrics.csv` (accuracy, mixing and contributions, loss),
//! the same curves as mean ± std bands over a multi-seed or cross-validated group of runs
//! ([`group_plots`], [`cell_plots`]), and a bar chart of a table report ([`table_chart`]).
//!
//! The SVG is written by hand rather than with a plotting crate (plotters): the bytes are a pure
//! function of the numbers, so snapshot and geometry tests can pin them; text is left to the
//! viewer's fonts, so nothing needs a font file or a system library (plotters' bitmap backend
//! needs fontconfig/FreeType to draw text); and every element carries a `class` (`xtick`,
//! `ytick`, `band`, `key`, `cell-failed`, …) that tests read back. Layout sizes text by an
//! estimate of its width, [`CHAR_WIDTH`] × font size per character, with a margin, so titles
//! and legends are never clipped.
//!
//! Lines and rows are told apart by colour and marker together: [`style`] pairs 12 colours
//! with 7 marker shapes so that the first 84 rows all get distinct pairs (and the first 12
//! distinct colours).

mod bars;
mod chart;
mod runs;

pub use bars::table_chart;
pub(crate) use chart::SVG_NS;
pub use chart::{integer_ticks, line_chart, style, Series, CHAR_WIDTH};
pub use runs::{cell_plots, find_runs, group_plots, run_plots};
