//! Reports: the report data and its Markdown/CSV renderers ([`render`]), the statistic of a
//! cell ([`stat`]), SVG plots ([`plot`]) and the robustness part ([`robustness`]). Reports read run records; they never train (tables do: [`crate::table`]).

pub mod plot;
pub mod render;
pub mod robustness;
pub mod stat;
