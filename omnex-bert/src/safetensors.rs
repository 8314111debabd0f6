//! Reading f32 tensors from a `.safetensors` file: an 8-byte little-endian header
//! length, a JSON header naming each tensor's dtype, shape and byte range, then the
//! data.

use std::collections::HashMap;

use serde::Deserialize;

use crate::LoadError;

#[derive(Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [usize; 2],
}

/// The tensors of one safetensors file, held in memory.
pub(crate) struct Tensors {
    bytes: Vec<u8>,
    data_start: usize,
    entries: HashMap<String, Entry>,
    prefix: &'static str,
}

impl Tensors {
    pub(crate) fn parse(bytes: Vec<u8>) -> Result<Self, LoadError> {
        let len = bytes
            .get(..8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .ok_or_else(|| LoadError::new("shorter than its 8-byte header length"))?;
        let data_start = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(8))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| LoadError::new("header length runs past the end of the file"))?;
        let header: HashMap<String, serde_json::Value> =
            serde_json::from_slice(&bytes[8..data_start])
                .map_err(|e| LoadError::new(format!("header is not valid JSON: {e}")))?;
        let mut entries = HashMap::with_capacity(header.len());
        for (name, value) in header {
            if name == "__metadata__" {
                continue;
            }
            let entry: Entry = serde_json::from_value(value)
                .map_err(|e| LoadError::new(format!("tensor {name}: {e}")))?;
            entries.insert(name, entry);
        }
        let prefix = if entries.contains_key("embeddings.word_embeddings.weight") {
            ""
        } else {
            "bert."
        };
        Ok(Self {
            bytes,
            data_start,
            entries,
            prefix,
        })
    }

    /// The tensor `name` (with the file's `bert.` prefix, if it has one) as f32,
    /// checked to have `shape`.
    pub(crate) fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, LoadError> {
        let full = format!("{}{name}", self.prefix);
        let e = self
            .entries
            .get(&full)
            .ok_or_else(|| LoadError::new(format!("tensor {full} is missing")))?;
        if e.dtype != "F32" {
            return Err(LoadError::new(format!(
                "tensor {full} is {}, only F32 is supported",
                e.dtype
            )));
        }
        if e.shape != shape {
            return Err(LoadError::new(format!(
                "tensor {full} has shape {:?}, expected {shape:?}",
                e.shape
            )));
        }
        let count: usize = shape.iter().product();
        let [start, end] = e.data_offsets;
        let data = self
            .data_start
            .checked_add(start)
            .zip(self.data_start.checked_add(end))
            .filter(|&(s, e)| s <= e && e <= self.bytes.len() && e - s == count * 4)
            .map(|(s, e)| &self.bytes[s..e])
            .ok_or_else(|| LoadError::new(format!("tensor {full} has a bad byte range")))?;
        Ok(data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect())
    }

    /// The first tensor of `names` that the file holds.
    pub(crate) fn get_any(&self, names: &[&str], shape: &[usize]) -> Result<Vec<f32>, LoadError> {
        let mut last = None;
        for name in names {
            match self.get(name, shape) {
                Ok(t) => return Ok(t),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| LoadError::new("no tensor name given")))
    }
}
