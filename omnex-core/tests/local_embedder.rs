//! The local all-MiniLM-L6-v2 embedder against the real model: parity with an
//! independent implementation, and robustness on any input.
//!
//! The model is found exactly as `Omnex::open` does it (`scripts/test` installs it
//! first with `omnex model install`).

// Tests, examples and benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use omnex_core::{
    backend::local_embedder::{LocalEmbedder, MAX_TOKENS, MODEL_ID},
    local_model, Config, Embedder, ErrorKind, Omnex,
};

mod conformance {
    omnex_core::embed_conformance!(async { Some(super::embedder().await) });
}

async fn embedder() -> LocalEmbedder {
    LocalEmbedder::load(None, false)
        .await
        .expect("the model is installed (omnex model install)")
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Reference vectors from `scripts/parity/make_reference.py` (a float64 numpy
/// forward pass, itself checked against sentence-transformers).
#[tokio::test]
async fn parity_with_reference_implementation() {
    let sentences: Vec<String> =
        serde_json::from_str(include_str!("data/parity_sentences.json")).unwrap();
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("data/parity_reference.json")).unwrap();
    let want: Vec<Vec<f32>> = serde_json::from_value(reference["vectors"].clone()).unwrap();
    assert!(sentences.len() >= 30);
    assert_eq!(sentences.len(), want.len());
    let e = embedder().await;
    // Once as one batch (padding and masks at work), once one by one.
    let batch = e.embed(&sentences).await.unwrap();
    let mut worst = (1.0f64, String::new());
    for (i, s) in sentences.iter().enumerate() {
        let single = e.embed(std::slice::from_ref(s)).await.unwrap().remove(0);
        for got in [&batch[i], &single] {
            assert_eq!(got.len(), 384);
            let c = cosine(got, &want[i]);
            if c < worst.0 {
                worst = (c, s.chars().take(40).collect());
            }
        }
    }
    eprintln!("parity: minimum cosine {:.8} ({:?})", worst.0, worst.1);
    assert!(
        worst.0 >= 0.9999,
        "minimum cosine {} for {:?}",
        worst.0,
        worst.1
    );
}

#[tokio::test]
async fn any_input_embeds_to_a_unit_vector() {
    let e = embedder().await;
    assert_eq!(e.model_id(), MODEL_ID);
    assert_eq!(e.dimension(), 384);
    let long = "word ".repeat(MAX_TOKENS * 8);
    let texts: Vec<String> = [
        "",
        " ",
        "\u{0}\u{1}\t\n",
        "🦀🦀🦀",
        "混合 text with العربية and кириллица",
        &long,
        "\u{FEFF}\u{200B}zero width",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let vectors = e.embed(&texts).await.unwrap();
    assert_eq!(vectors.len(), texts.len());
    for (t, v) in texts.iter().zip(&vectors) {
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{t:?}: norm {norm}");
        assert!(v.iter().all(|x| x.is_finite()));
    }
    // Truncation: text beyond 256 tokens does not change the vector.
    let longer = format!("{long} and a different ending that is far past the limit");
    let both = e.embed(&[long.clone(), longer]).await.unwrap();
    assert!(cosine(&both[0], &both[1]) > 0.99999);
    assert!(e.embed(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn similar_sentences_are_closer() {
    let e = embedder().await;
    let v = e
        .embed(&[
            "The cat sits on the mat.".into(),
            "A kitten is resting on a rug.".into(),
            "Quarterly revenue grew by twelve percent.".into(),
        ])
        .await
        .unwrap();
    assert!(cosine(&v[0], &v[1]) > cosine(&v[0], &v[2]) + 0.2);
}

#[test]
fn installed_model_matches_published_hashes() {
    let dir = local_model::model_dir(None).unwrap();
    local_model::verify(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_model_is_a_not_found_that_names_the_command() {
    // An empty cache and no Hugging Face cache: the model is nowhere.
    let empty = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "opening_without_the_model_child", "--ignored"])
        .env("OMNEX_CACHE_DIR", empty.path())
        .env("HOME", empty.path())
        .env_remove("HF_HOME")
        .env_remove("HF_HUB_CACHE")
        .env_remove("XDG_CACHE_HOME")
        .env("OMNEX_TEST_CHILD_DATA", dir.path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{said}");
    assert!(said.contains("1 passed"), "the child test ran: {said}");
}

/// Run by the test above in a child process whose environment hides the model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run in a child process by a_missing_model_is_a_not_found_that_names_the_command"]
async fn opening_without_the_model_child() {
    let data = std::env::var_os("OMNEX_TEST_CHILD_DATA").expect("run by the parent test");
    let err = Omnex::open(Config::with_data_dir(data)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(err.entity(), Some(omnex_core::error::Entity::Model));
    assert!(err.to_string().contains("omnex model install"), "{err}");
}

#[test]
fn explicit_model_dir_without_files_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = local_model::find_model_dir(Some(dir.path())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}
