//! The reliability suite: `omnex serve` under SIGKILL, backend outages, resource
//! limits and hostile clients, each against real servers. `docs/reliability.md`
//! says what each test does, how to run its longer form, and what it measured.

// Tests run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

mod crash;
mod limits;
mod outages;
mod support;
