//! One page per file.
pub mod account;
pub mod admin;
pub mod face_editor;
pub mod face_set;
pub mod login;
pub mod convert;
pub mod not_found;
pub mod project;
pub mod projects;
pub mod setup;
pub mod train;
