//! Vector maths and byte encoding, shared by the facade and every backend.

/// Dot product of two equal-length vectors (cosine similarity for unit vectors), on
/// the widest SIMD unit the CPU has (AVX-512, AVX2 + FMA, or portable code).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    omnex_ann::dot(a, b)
}

/// The vector scaled to unit length (cosine similarity becomes a dot product);
/// a zero vector is returned as it is.
pub fn normalized(v: &[f32]) -> Vec<f32> {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        v.iter().map(|x| x / norm).collect()
    } else {
        v.to_vec()
    }
}

/// The bytes of a vector (little-endian f32s): how stores and caches keep embeddings.
pub fn encode(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A vector from its bytes (a trailing partial value is ignored).
pub fn decode(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_unit_length() {
        let v = vec![3.0, 4.0, 0.0, -1.5, 2.0, 0.25, 7.0, 1.0, 9.0];
        assert_eq!(decode(&encode(&v)), v);
        let n = normalized(&[3.0, 4.0]);
        assert!((dot(&n, &n) - 1.0).abs() < 1e-6);
        assert_eq!(normalized(&[0.0, 0.0]), vec![0.0, 0.0]);
        assert_eq!(dot(&v, &v), v.iter().map(|x| x * x).sum::<f32>());
    }
}
