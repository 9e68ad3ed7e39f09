//! Recipes: the file types ([`mod@file`]), layering with `extends`, environment and `--set`
//! ([`load`]), and validation into a [`Recipe`] ([`validate`]) with one [`RecipeError`]
//! variant per rule.

mod checker;
pub mod error;
pub mod file;
pub mod keys;
pub mod load;
mod problem;
mod rules;
pub mod typed;
pub mod validate;

pub use error::RecipeError;
pub use validate::Recipe;
