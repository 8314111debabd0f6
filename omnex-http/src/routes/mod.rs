//! One file per resource.

pub(crate) mod contexts;
pub(crate) mod health;
pub(crate) mod memories;
