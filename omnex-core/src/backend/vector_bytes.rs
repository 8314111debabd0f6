//! Vectors as bytes (little-endian f32s): how stores and caches keep embeddings.

/// The bytes of a vector.
pub(crate) fn encode(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A vector from its bytes (a trailing partial value is ignored).
pub(crate) fn decode(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
