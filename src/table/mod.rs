//! Tables: table files ([`file`]) and their runs — every cell × seed run or reused with
//! parallel jobs, then aggregated into a [`crate::report::render::Report`] ([`runner`]). Tables
//! train; reports only render.

pub mod file;
pub mod runner;
pub mod slurm;
