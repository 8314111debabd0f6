//! Several processes on one data directory, and a writer killed with SIGKILL.
//! Every process saves its index snapshot to the directory and loads it at start.
//!
//! The children are this test binary run again with `OMNEX_CHILD_ROLE` set.

mod common;

use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Child, Command, Stdio},
    sync::Arc,
};

use common::nearest;
use omnex_core::{
    backend::{hnsw::HnswIndex, sqlite::SqliteStore},
    conformance::Rng,
    model::{NewMemory, PutContext, Scope},
    ErrorKind, Omnex,
};

const DIM: usize = 8;

async fn open(dir: &Path) -> Omnex {
    let store = SqliteStore::open_path(&dir.join("omnex.db")).await.unwrap();
    Omnex::builder()
        .store(Arc::new(store))
        .index(Arc::new(HnswIndex::saved_at(DIM, dir.join("index.hnsw"))))
        .build()
        .await
        .unwrap()
}

fn spawn_child(role: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env("OMNEX_CHILD_ROLE", role)
        .env("OMNEX_CHILD_DIR", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn vectors(seed: u64, n: usize) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.vector(DIM)).collect()
}

/// Not a test on its own: the body of the child processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_entry() {
    let (Ok(role), Ok(dir)) = (
        std::env::var("OMNEX_CHILD_ROLE"),
        std::env::var("OMNEX_CHILD_DIR"),
    ) else {
        return;
    };
    let omnex = open(Path::new(&dir)).await;
    let mut out = std::io::stdout();
    match role.as_str() {
        "crash" => {
            for (i, v) in vectors(7, 100_000).into_iter().enumerate() {
                let m = omnex
                    .add_memory(
                        NewMemory::new(format!("memory {i}"))
                            .with_scope(Scope::namespace("crash"))
                            .with_embedding(v),
                    )
                    .await
                    .unwrap();
                writeln!(out, "ACK {}", m.id).unwrap();
                out.flush().unwrap();
            }
        }
        "a" | "b" => {
            let (mine, theirs, seed_mine, seed_theirs) = if role == "a" {
                ("ns_a", "ns_b", 1, 2)
            } else {
                ("ns_b", "ns_a", 2, 1)
            };
            for (i, v) in vectors(seed_mine, 100).into_iter().enumerate() {
                omnex
                    .add_memory(
                        NewMemory::new(format!("{mine} {i}"))
                            .with_scope(Scope::namespace(mine))
                            .with_embedding(v.clone()),
                    )
                    .await
                    .unwrap();
                // Search right after writing: this process's own write is visible at once.
                assert_eq!(nearest(&omnex, &v, mine).await.unwrap().embedding, v);
            }
            writeln!(out, "WROTE").unwrap();
            out.flush().unwrap();
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).unwrap();
            let mut found = 0;
            for v in vectors(seed_theirs, 100) {
                if nearest(&omnex, &v, theirs)
                    .await
                    .is_some_and(|m| m.embedding == v)
                {
                    found += 1;
                }
            }
            writeln!(out, "FOUND {found}").unwrap();
            out.flush().unwrap();
        }
        "writer" => {
            // Adds memories and deletes every fifth one right after, acknowledging each.
            for (i, v) in vectors(11, 100_000).into_iter().enumerate() {
                let m = omnex
                    .add_memory(
                        NewMemory::new(format!("w {i}"))
                            .with_scope(Scope::namespace("w"))
                            .with_embedding(v),
                    )
                    .await
                    .unwrap();
                if i % 5 == 4 {
                    omnex.delete_memory(m.id).await.unwrap();
                }
                writeln!(out, "ACK {i}").unwrap();
                out.flush().unwrap();
                if i % 50 == 0 {
                    omnex.save_index().await.unwrap();
                }
            }
        }
        "reader" => {
            // Started afresh while the writer runs: loads the snapshot, catches up, and
            // must see every acknowledged write (and none of the deleted memories).
            let acked: usize = std::env::var("OMNEX_CHILD_ACKED").unwrap().parse().unwrap();
            let all = vectors(11, acked);
            let mut wrong = 0;
            for (i, v) in all.iter().enumerate() {
                let found = nearest(&omnex, v, "w")
                    .await
                    .is_some_and(|m| m.embedding == *v);
                if found == (i % 5 == 4) {
                    wrong += 1;
                }
            }
            omnex.save_index().await.unwrap();
            writeln!(out, "WRONG {wrong}").unwrap();
            out.flush().unwrap();
        }
        "context_writer" => {
            // Writes the context each line asks for, acknowledging each write.
            for line in std::io::stdin().lines() {
                let line = line.unwrap();
                match line.split_once(' ') {
                    Some(("PUT", v)) => {
                        let v: u64 = v.parse().unwrap();
                        omnex
                            .put_context(PutContext::new("shared", "k", serde_json::json!(v)))
                            .await
                            .unwrap();
                        writeln!(out, "ACK {v}").unwrap();
                    }
                    _ => {
                        omnex.delete_context("shared", "k", None).await.unwrap();
                        writeln!(out, "ACK DELETE").unwrap();
                    }
                }
                out.flush().unwrap();
            }
        }
        other => panic!("unknown role {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child("crash", dir.path());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    while acked.len() < 300 {
        let line = lines.next().expect("child alive").unwrap();
        if let Some((_, id)) = line.split_once("ACK ") {
            acked.push(omnex_core::model::MemoryId::parse(id).unwrap());
        }
    }
    child.kill().unwrap(); // SIGKILL, in the middle of the next writes
    child.wait().unwrap();
    // Lines written before the kill are acknowledged too; a torn last line is not.
    for line in lines.map_while(Result::ok) {
        if let Some(Ok(id)) = line
            .split_once("ACK ")
            .map(|(_, id)| omnex_core::model::MemoryId::parse(id))
        {
            acked.push(id);
        }
    }
    let omnex = open(dir.path()).await;
    let all = vectors(7, acked.len());
    for (i, id) in acked.iter().enumerate() {
        let m = omnex
            .get_memory(*id)
            .await
            .expect("acknowledged write is in the store");
        assert_eq!(m.embedding, all[i]);
        let found = nearest(&omnex, &all[i], "crash").await.expect("a hit");
        assert_eq!(found.id, *id, "acknowledged write is in the index");
    }
    assert!(omnex.index_len().await.unwrap() >= acked.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut children: Vec<Child> = ["a", "b"]
        .iter()
        .map(|r| spawn_child(r, dir.path()))
        .collect();
    let mut readers: Vec<_> = children
        .iter_mut()
        .map(|c| BufReader::new(c.stdout.take().unwrap()).lines())
        .collect();
    for r in &mut readers {
        // libtest may print its own "test child_entry ... " before our line.
        r.find(|l| l.as_ref().is_ok_and(|l| l.ends_with("WROTE")))
            .expect("child wrote")
            .unwrap();
    }
    for c in &mut children {
        writeln!(c.stdin.as_mut().unwrap(), "GO").unwrap();
    }
    for r in &mut readers {
        let line = r
            .find(|l| l.as_ref().is_ok_and(|l| l.contains("FOUND ")))
            .expect("child searched")
            .unwrap();
        assert!(
            line.ends_with("FOUND 100"),
            "each process finds every memory of the other: {line}"
        );
    }
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let omnex = open(dir.path()).await;
    assert_eq!(omnex.index_len().await.unwrap(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_restarts_while_another_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = spawn_child("writer", dir.path());
    let mut lines = BufReader::new(writer.stdout.take().unwrap()).lines();
    let mut acked = 0;
    for round in 1..=4 {
        while acked < round * 60 {
            let line = lines.next().expect("writer alive").unwrap();
            if let Some((_, i)) = line.split_once("ACK ") {
                acked = i.parse::<usize>().unwrap() + 1;
            }
        }
        // A reader process starts, checks and stops while the writer keeps writing.
        let reader = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
            .env("OMNEX_CHILD_ROLE", "reader")
            .env("OMNEX_CHILD_DIR", dir.path())
            .env("OMNEX_CHILD_ACKED", acked.to_string())
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&reader.stdout);
        assert!(reader.status.success(), "reader failed: {out}");
        assert!(
            out.lines().any(|l| l.ends_with("WRONG 0")),
            "round {round}: a restarted process sees exactly the acknowledged state: {out}"
        );
    }
    writer.kill().unwrap(); // SIGKILL, mid-write
    writer.wait().unwrap();
    for line in lines.map_while(Result::ok) {
        if let Some(Ok(i)) = line.split_once("ACK ").map(|(_, i)| i.parse::<usize>()) {
            acked = i + 1;
        }
    }
    // A last start: the snapshot the processes left, caught up from the change log.
    assert!(
        dir.path().join("index.hnsw").exists(),
        "a snapshot was saved"
    );
    let omnex = open(dir.path()).await;
    let all = vectors(11, acked);
    for (i, v) in all.iter().enumerate() {
        let found = nearest(&omnex, v, "w")
            .await
            .is_some_and(|m| m.embedding == *v);
        assert_eq!(found, i % 5 != 4, "memory {i} of {acked}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_written_by_another_process_is_read_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let omnex = open(dir.path()).await;
    omnex
        .put_context(PutContext::new("shared", "k", serde_json::json!(0)))
        .await
        .unwrap();
    let mut writer = spawn_child("context_writer", dir.path());
    let mut acks = BufReader::new(writer.stdout.take().unwrap()).lines();
    // Reads that run all along, as a busy server's would: never older than a read before.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let background = tokio::spawn({
        let (omnex, stop) = (omnex.clone(), Arc::clone(&stop));
        async move {
            let (mut last, mut deleted) = (0, false);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match omnex.get_context("shared", "k").await {
                    Ok(c) => {
                        assert!(
                            !deleted && c.version >= last,
                            "version {} read after {last} (deleted: {deleted})",
                            c.version
                        );
                        last = c.version;
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::NotFound);
                        deleted = true;
                    }
                }
                tokio::task::yield_now().await;
            }
        }
    });
    let read = || async { omnex.get_context("shared", "k").await.unwrap().value };
    for round in 1..=100u64 {
        // Repeated reads: served from this process's cache.
        for _ in 0..5 {
            assert_eq!(read().await, serde_json::json!(round - 1));
        }
        let stdin = writer.stdin.as_mut().unwrap();
        writeln!(stdin, "PUT {round}").unwrap();
        stdin.flush().unwrap();
        let ack = acks
            .find(|l| l.as_ref().is_ok_and(|l| l.contains("ACK ")))
            .expect("writer alive")
            .unwrap();
        assert!(ack.ends_with(&format!("ACK {round}")), "{ack}");
        assert_eq!(
            read().await,
            serde_json::json!(round),
            "round {round}: the acknowledged write is read at once"
        );
    }
    writeln!(writer.stdin.as_mut().unwrap(), "DELETE").unwrap();
    let ack = acks
        .find(|l| l.as_ref().is_ok_and(|l| l.contains("ACK ")))
        .expect("writer alive")
        .unwrap();
    assert!(ack.ends_with("ACK DELETE"), "{ack}");
    let gone = omnex.get_context("shared", "k").await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    background.await.unwrap();
    drop(writer.stdin.take());
    assert!(writer.wait().unwrap().success());
}
