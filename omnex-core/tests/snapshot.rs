//! The embedded index's snapshot in the data directory: saved, loaded and caught up
//! at start, and rebuilt from the store when the file is damaged.

// Tests may block: they read and damage the file directly.
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::{Path, PathBuf};

use common::nearest;
use omnex_core::{
    conformance::Rng,
    model::{NewMemory, Scope},
    Config, Omnex,
};

const DIM: usize = 8;

async fn open(dir: &Path) -> Omnex {
    Omnex::builder()
        .config(Config::with_data_dir(dir))
        .dimension(DIM)
        .build()
        .await
        .unwrap()
}

fn snapshot(dir: &Path) -> PathBuf {
    dir.join(format!("index-vectors-{DIM}.hnsw"))
}

async fn add(omnex: &Omnex, vectors: &[Vec<f32>]) -> Vec<omnex_core::model::MemoryId> {
    let batch = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            NewMemory::new(format!("m {i}"))
                .with_scope(Scope::namespace("s"))
                .with_embedding(v.clone())
        })
        .collect();
    omnex
        .add_memories(batch)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect()
}

async fn assert_finds(omnex: &Omnex, present: &[Vec<f32>], absent: &[Vec<f32>]) {
    for v in present {
        let m = nearest(omnex, v, "s").await.expect("a hit");
        assert_eq!(m.embedding, *v, "a present memory is its own nearest");
    }
    for v in absent {
        assert!(nearest(omnex, v, "s")
            .await
            .is_none_or(|m| m.embedding != *v));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_loaded_and_caught_up_from_the_change_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(21);
    let first: Vec<_> = (0..400).map(|_| rng.vector(DIM)).collect();
    let later: Vec<_> = (0..100).map(|_| rng.vector(DIM)).collect();
    let omnex = open(dir.path()).await;
    let ids = add(&omnex, &first).await;
    omnex.save_index().await.unwrap();
    drop(omnex);
    let saved = std::fs::metadata(snapshot(dir.path()))
        .unwrap()
        .modified()
        .unwrap();

    // Another run writes and deletes without saving: the snapshot falls behind.
    let omnex = open(dir.path()).await;
    add(&omnex, &later).await;
    for id in ids.iter().take(50) {
        omnex.delete_memory(*id).await.unwrap();
    }
    drop(omnex);
    assert_eq!(
        std::fs::metadata(snapshot(dir.path()))
            .unwrap()
            .modified()
            .unwrap(),
        saved,
        "the second run did not save"
    );

    // The next start loads the old snapshot and replays what changed since.
    let omnex = open(dir.path()).await;
    assert_eq!(omnex.index_len().await.unwrap(), 450);
    let present: Vec<_> = first[50..].iter().chain(&later).cloned().collect();
    assert_finds(&omnex, &present, &first[..50]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_snapshot_is_rebuilt_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(22);
    let vectors: Vec<_> = (0..300).map(|_| rng.vector(DIM)).collect();
    let omnex = open(dir.path()).await;
    add(&omnex, &vectors).await;
    omnex.save_index().await.unwrap();
    drop(omnex);
    let path = snapshot(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let omnex = open(dir.path()).await;
    assert_eq!(omnex.index_len().await.unwrap(), 300);
    assert_finds(&omnex, &vectors, &[]).await;
    // Torn in half: the same.
    drop(omnex);
    std::fs::write(&path, &bytes[..mid]).unwrap();
    let omnex = open(dir.path()).await;
    assert_finds(&omnex, &vectors, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_of_another_store_is_not_used() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut rng = Rng::new(23);
    let va: Vec<_> = (0..200).map(|_| rng.vector(DIM)).collect();
    let vb: Vec<_> = (0..200).map(|_| rng.vector(DIM)).collect();
    for (dir, v) in [(&a, &va), (&b, &vb)] {
        let omnex = open(dir.path()).await;
        add(&omnex, v).await;
        omnex.save_index().await.unwrap();
    }
    // b's snapshot copied over a's: a's store is not the one it was made for.
    std::fs::copy(snapshot(b.path()), snapshot(a.path())).unwrap();
    let omnex = open(a.path()).await;
    assert_eq!(omnex.index_len().await.unwrap(), 200);
    assert_finds(&omnex, &va, &vb).await;
}
