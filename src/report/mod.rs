//! Reports: the report data and its Markdown/CSV renderers ([`render`]) and SVG plots
//! ([`plot`]). Reports read run records; they never train (tables do: [`crate::table`]).

pub mod plot;
pub mod render;
