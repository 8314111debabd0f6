//! Contracts of [`Embedder`].

use crate::embed::Embedder;

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// Every vector has the advertised dimension and unit length.
pub async fn unit_vectors_of_the_dimension(e: &dyn Embedder) {
    assert!(!e.model_id().is_empty());
    let out = e
        .embed(&texts(&["hello world", "🦀 ünïcode 中文", "x"]))
        .await
        .unwrap();
    assert_eq!(out.len(), 3);
    for v in out {
        assert_eq!(v.len(), e.dimension());
        assert!((norm(&v) - 1.0).abs() < 1e-3, "norm {}", norm(&v));
    }
}

/// A batch gives the same vectors, in the same order, as one call per text.
pub async fn batch_matches_single(e: &dyn Embedder) {
    let items = texts(&[
        "first sentence about dogs",
        "a second one, about taxes",
        "third: the sea",
    ]);
    let batch = e.embed(&items).await.unwrap();
    for (t, b) in items.iter().zip(&batch) {
        let single = e.embed(std::slice::from_ref(t)).await.unwrap().remove(0);
        let cos: f32 = b.iter().zip(&single).map(|(x, y)| x * y).sum();
        assert!(cos > 0.999, "{t:?}: cosine {cos}");
    }
}

/// No texts, no vectors; empty and whitespace strings still embed.
pub async fn empty_inputs(e: &dyn Embedder) {
    assert!(e.embed(&[]).await.unwrap().is_empty());
    let out = e.embed(&texts(&["", "   "])).await.unwrap();
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|v| v.len() == e.dimension()));
}

/// Related texts are closer than unrelated ones.
pub async fn meaning_orders_similarity(e: &dyn Embedder) {
    let v = e
        .embed(&texts(&[
            "The cat sits on the mat.",
            "A kitten rests on a rug.",
            "Quarterly revenue grew by twelve percent.",
        ]))
        .await
        .unwrap();
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(cos(&v[0], &v[1]) > cos(&v[0], &v[2]));
}
