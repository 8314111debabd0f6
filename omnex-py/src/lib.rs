//! `import omnex`: the Python binding of Omnex (pyo3). All logic stays in Rust;
//! `python/omnex/__init__.py` only re-exports this module.

mod aio;
mod api;
mod convert;
mod engine;
mod errors;
mod types;

use pyo3::prelude::*;

#[pymodule]
fn _omnex(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<api::Omnex>()?;
    m.add_class::<api::Client>()?;
    m.add_class::<api::Contexts>()?;
    m.add_class::<api::Memories>()?;
    m.add_class::<api::ContextIterator>()?;
    m.add_class::<api::MemoryIterator>()?;
    m.add_class::<aio::AsyncOmnex>()?;
    m.add_class::<aio::AsyncClient>()?;
    m.add_class::<aio::AsyncContexts>()?;
    m.add_class::<aio::AsyncMemories>()?;
    m.add_class::<aio::AsyncContextIterator>()?;
    m.add_class::<aio::AsyncMemoryIterator>()?;
    m.add_class::<types::Memory>()?;
    m.add_class::<types::Context>()?;
    m.add_class::<types::SearchHit>()?;
    errors::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
