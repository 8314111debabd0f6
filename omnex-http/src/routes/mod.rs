//! One file per resource.

pub(crate) mod access;
pub(crate) mod contexts;
pub(crate) mod events;
pub(crate) mod health;
pub(crate) mod jobs;
pub(crate) mod memories;
