//! Reports: the report data and its Markdown/CSV renderers ([`render`]), SVG plots
//! ([`plot`]) and the robustness part ([`robustness`]). Reports read run records; they never train (tables do: [`crate::table`]).

pub mod plot;
pub mod render;
pub mod robustness;
