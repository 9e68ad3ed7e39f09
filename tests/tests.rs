//! Integration tests, built as one binary (one link of dfdx).

mod cli;
mod common;
mod data;
mod data_errors;
mod determinism;
mod media;
mod media_fbank;
mod media_prepare;
mod media_resample;
mod media_train;
mod methods;
mod mixup_properties;
mod own_data;
mod plots;
mod readme_commands;
mod recipes;
mod reference_values;
mod resnet;
mod resnet_parity;
mod robustness;
mod runs;
mod slurm;
mod tables;
mod tensorboard;
mod trust;
