//! Placeholder: this crate is built in a later milestone.
