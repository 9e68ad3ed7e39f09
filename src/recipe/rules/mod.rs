//! The validation rules, one file per recipe section. Each adds methods to the
//! [`super::validate`] checker; each rule has its own [`super::RecipeError`] variant.

mod method;
mod train;
