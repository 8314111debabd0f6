//! JSON values and timestamps between Rust and Python.

use omnex_core::model::{Metadata, Timestamp};
use pyo3::{
    exceptions::PyTypeError,
    prelude::*,
    types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple},
};
use serde_json::Value;

/// A JSON value as Python objects (dict, list, str, int, float, bool, None).
pub(crate) fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            _ => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => metadata_to_py(py, map)?.into_any(),
    })
}

pub(crate) fn metadata_to_py<'py>(py: Python<'py>, map: &Metadata) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in map {
        dict.set_item(k, to_py(py, v)?)?;
    }
    Ok(dict)
}

/// A Python object as JSON; anything that is not JSON-like is a `TypeError`.
pub(crate) fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if obj.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(obj.extract()?));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        return Ok(Value::from(obj.extract::<u64>()?));
    }
    if obj.is_instance_of::<PyFloat>() {
        let f: f64 = obj.extract()?;
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| PyTypeError::new_err(format!("{f} is not a JSON number")));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.extract::<String>()?));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return Ok(Value::Object(dict_from_py(d)?));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for item in obj.try_iter()? {
            items.push(from_py(&item?)?);
        }
        return Ok(Value::Array(items));
    }
    Err(PyTypeError::new_err(format!(
        "{} is not JSON-serializable (use dict, list, str, int, float, bool or None)",
        obj.get_type().name()?
    )))
}

fn dict_from_py(d: &Bound<'_, PyDict>) -> PyResult<Metadata> {
    let mut map = Metadata::new();
    for (k, v) in d.iter() {
        let key = k
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err("JSON object keys must be str"))?
            .extract::<String>()?;
        map.insert(key, from_py(&v)?);
    }
    Ok(map)
}

/// An optional dict argument as metadata.
pub(crate) fn metadata_from_py(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Metadata>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => match o.cast::<PyDict>() {
            Ok(d) => Ok(Some(dict_from_py(d)?)),
            Err(_) => Err(PyTypeError::new_err("metadata and filter must be a dict")),
        },
    }
}

/// A UTC timestamp as an aware `datetime.datetime`.
pub(crate) fn datetime<'py>(py: Python<'py>, t: &Timestamp) -> PyResult<Bound<'py, PyAny>> {
    let iso = t.to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
    py.import("datetime")?
        .getattr("datetime")?
        .call_method1("fromisoformat", (iso,))
}
