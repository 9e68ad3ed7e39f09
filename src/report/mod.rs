//! Reports: table files ([`table_file`]), running them with reuse and parallel jobs
//! ([`runner`]), the report data and its Markdown/CSV renderers ([`render`]) and SVG plots
//! ([`plot`]).

pub mod plot;
pub mod render;
pub mod runner;
pub mod table_file;
