//! `import omnex`: the Python binding of Omnex (pyo3). All logic stays in Rust;
//! `python/omnex/__init__.py` only re-exports this module.

mod api;
mod collections;
mod convert;
mod engine;
mod errors;
mod events;
mod requests;
mod types;

use pyo3::prelude::*;

#[pymodule]
fn _omnex(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<api::Omnex>()?;
    m.add_class::<api::Client>()?;
    m.add_class::<api::AsyncOmnex>()?;
    m.add_class::<api::AsyncClient>()?;
    m.add_class::<collections::Contexts>()?;
    m.add_class::<collections::Memories>()?;
    m.add_class::<collections::AsyncContexts>()?;
    m.add_class::<collections::AsyncMemories>()?;
    m.add_class::<collections::ContextIterator>()?;
    m.add_class::<collections::MemoryIterator>()?;
    m.add_class::<collections::AsyncContextIterator>()?;
    m.add_class::<collections::AsyncMemoryIterator>()?;
    m.add_class::<types::Memory>()?;
    m.add_class::<types::Context>()?;
    m.add_class::<types::SearchHit>()?;
    m.add_class::<types::Event>()?;
    m.add_class::<types::EventPage>()?;
    m.add_class::<types::Job>()?;
    m.add_class::<events::EventFollower>()?;
    m.add_class::<events::AsyncEventFollower>()?;
    errors::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
