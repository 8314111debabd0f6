//! Crash under load: eight HTTP writers (adds, updates, deletes, context puts with
//! `if_version`) against `omnex serve`, the server killed with SIGKILL at a random
//! moment, restarted, and everything checked, round after round:
//!
//! - every acknowledged write is there with its acknowledged content;
//! - a write that was never acknowledged is either wholly there or wholly absent;
//! - the vector index and the full-text index hold exactly what the store holds.
//!
//! `OMNEX_CRASH_ROUNDS` sets the number of kills per deployment (CI: 4).

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use rand::{rngs::StdRng, Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{env_or, get_json, layouts, until_search_finds, Server};

const WRITERS: usize = 8;
/// Each writer keeps at most this many memories, so one search can return them all.
const LIVE: usize = 40;
const KEYS: usize = 4;

/// What a writer knows of one memory: its acknowledged content (`None`: deleted),
/// and the write in flight when the server died, if any.
#[derive(Clone, Debug)]
struct Known {
    acked: Option<String>,
    pending: Option<Option<String>>,
}

/// What a writer knows of one context: acknowledged (version, value) and the put in
/// flight when the server died.
#[derive(Clone, Debug, Default)]
struct KnownContext {
    acked: Option<(u64, Value)>,
    pending: Option<Value>,
}

/// One writer's model of its namespace, checked against the server after each kill.
#[derive(Debug, Default)]
struct Writer {
    ns: String,
    memories: HashMap<String, Known>,
    /// Adds in flight when the server died: their ids were never seen.
    unacked_adds: Vec<String>,
    contexts: HashMap<String, KnownContext>,
    acked_writes: u64,
    /// Writes in flight at a kill, and how many of them the server kept (wholly).
    in_flight: u64,
    kept: u64,
    counter: u64,
}

impl Writer {
    fn live(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .memories
            .iter()
            .filter(|(_, k)| k.acked.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    fn content(&mut self, w: usize) -> String {
        self.counter += 1;
        // `crashtoken{w}` is this writer's word for the full-text check.
        format!(
            "crashtoken{w} note {} of writer {w}: {}",
            self.counter,
            ["tea", "maps", "rivers", "violins", "orbits"][(self.counter % 5) as usize]
        )
    }
}

/// How a request ended: acknowledged with a body, refused by the server with a
/// status, or unknown (the connection died).
enum Outcome {
    Acked(Value),
    Refused(StatusCode),
    Unknown,
}

async fn send(req: reqwest::RequestBuilder) -> Outcome {
    match req.timeout(Duration::from_secs(10)).send().await {
        Ok(res) if res.status().is_success() => {
            let status = res.status();
            match res.bytes().await {
                Ok(b) if b.is_empty() => Outcome::Acked(Value::Null),
                Ok(b) => Outcome::Acked(serde_json::from_slice(&b).unwrap_or_else(|e| {
                    panic!("{status} with a body that is not JSON ({e}): {b:?}")
                })),
                // The answer was cut: the write may or may not have committed.
                Err(_) => Outcome::Unknown,
            }
        }
        Ok(res) if res.status().is_server_error() => Outcome::Unknown,
        Ok(res) => Outcome::Refused(res.status()),
        Err(_) => Outcome::Unknown,
    }
}

/// Writes until the server dies (the first answer that never comes).
async fn write_until_killed(
    http: reqwest::Client,
    server: String,
    w: usize,
    mut me: Writer,
    seed: u64,
    killed: Arc<AtomicBool>,
) -> Writer {
    // A request may fail only because the server was killed.
    let died = |what: &str| {
        assert!(
            killed.load(Ordering::SeqCst),
            "writer {w}: {what} failed while the server was up"
        );
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let url = |p: &str| format!("{server}/api/v1{p}");
    loop {
        let live = me.live();
        let roll: f64 = rng.gen();
        if roll < 0.25 {
            // A context put with the version this writer last saw.
            let key = format!("k{}", rng.gen_range(0..KEYS));
            let known = me.contexts.entry(key.clone()).or_default().clone();
            let value = json!({"writer": w, "n": me.counter, "text": me.content(w)});
            let version = known.acked.as_ref().map(|(v, _)| *v);
            let mut body = json!({"value": value});
            if let Some(v) = version {
                body["if_version"] = json!(v);
            }
            match send(
                http.put(url(&format!("/contexts/{}/{key}", me.ns)))
                    .json(&body),
            )
            .await
            {
                Outcome::Acked(ctx) => {
                    let v = ctx["version"].as_u64().expect("a context has a version");
                    assert_eq!(ctx["value"], value);
                    me.contexts.insert(
                        key,
                        KnownContext {
                            acked: Some((v, value)),
                            pending: None,
                        },
                    );
                    me.acked_writes += 1;
                }
                Outcome::Refused(s) => panic!("writer {w}: context put refused with {s}"),
                Outcome::Unknown => {
                    died("a context put");
                    me.contexts.get_mut(&key).unwrap().pending = Some(value);
                    return me;
                }
            }
        } else if live.len() < LIVE && (live.is_empty() || roll < 0.6) {
            let content = me.content(w);
            let body = json!({"content": content, "namespace": me.ns, "metadata": {"writer": w}});
            match send(http.post(url("/memories")).json(&body)).await {
                Outcome::Acked(m) => {
                    assert_eq!(m["content"], content.as_str());
                    let id = m["id"].as_str().unwrap().to_owned();
                    me.memories.insert(
                        id,
                        Known {
                            acked: Some(content),
                            pending: None,
                        },
                    );
                    me.acked_writes += 1;
                }
                Outcome::Refused(s) => panic!("writer {w}: add refused with {s}"),
                Outcome::Unknown => {
                    died("an add");
                    me.unacked_adds.push(content);
                    return me;
                }
            }
        } else {
            let id = live[rng.gen_range(0..live.len())].clone();
            let delete = roll > 0.85 || live.len() >= LIVE;
            let (req, next) = if delete {
                (http.delete(url(&format!("/memories/{id}"))), None)
            } else {
                let content = me.content(w);
                let body = json!({"content": content});
                (
                    http.patch(url(&format!("/memories/{id}"))).json(&body),
                    Some(content),
                )
            };
            match send(req).await {
                Outcome::Acked(m) => {
                    if let Some(c) = &next {
                        assert_eq!(m["content"], c.as_str());
                    }
                    me.memories.get_mut(&id).unwrap().acked = next;
                    me.acked_writes += 1;
                }
                Outcome::Refused(s) => panic!("writer {w}: write of {id} refused with {s}"),
                Outcome::Unknown => {
                    died("an update or delete");
                    me.memories.get_mut(&id).unwrap().pending = Some(next);
                    return me;
                }
            }
        }
    }
}

/// Checks one writer's namespace against what it was told, resolves the writes in
/// flight at the kill to what the server kept, and returns the settled model.
async fn verify(http: &reqwest::Client, server: &Server, w: usize, mut me: Writer) -> Writer {
    let mut in_flight = 0;
    let mut kept = 0;
    for (id, known) in &mut me.memories {
        let (status, body) = get_json(http, server.url(&format!("/memories/{id}"))).await;
        let now = match status {
            StatusCode::OK => Some(body["content"].as_str().unwrap().to_owned()),
            StatusCode::NOT_FOUND => None,
            s => panic!("GET memory {id}: {s} {body}"),
        };
        if let Some(next) = &known.pending {
            in_flight += 1;
            kept += u64::from(now == *next && now != known.acked);
        }
        match known.pending.take() {
            None => assert_eq!(
                now, known.acked,
                "writer {w}: memory {id} lost its acknowledged state"
            ),
            Some(next) => assert!(
                now == known.acked || now == next,
                "writer {w}: memory {id} is {now:?}, neither its acknowledged {:?} nor the \
                 unacknowledged {next:?}",
                known.acked
            ),
        }
        known.acked = now;
    }
    in_flight += me.unacked_adds.len() as u64;
    // Every memory in the namespace is one this writer knows, or an unacknowledged
    // add kept whole (its exact content and metadata).
    let (status, page) = get_json(
        http,
        server.url(&format!("/memories?namespace={}&limit=1000", me.ns)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    for m in page["items"].as_array().unwrap() {
        let id = m["id"].as_str().unwrap();
        let content = m["content"].as_str().unwrap();
        if let Some(k) = me.memories.get(id) {
            assert_eq!(k.acked.as_deref(), Some(content));
            continue;
        }
        let Some(pos) = me.unacked_adds.iter().position(|c| c == content) else {
            panic!("writer {w}: memory {id} ({content:?}) was never written");
        };
        assert_eq!(m["metadata"], json!({"writer": w}), "a partial record: {m}");
        me.unacked_adds.remove(pos);
        kept += 1;
        me.memories.insert(
            id.to_owned(),
            Known {
                acked: Some(content.to_owned()),
                pending: None,
            },
        );
    }
    me.unacked_adds.clear(); // the rest were not kept, wholly
    let live = me.live();
    let listed = page["items"].as_array().unwrap().len();
    assert_eq!(
        listed,
        live.len(),
        "writer {w}: the listing and the reads disagree"
    );

    for (key, known) in &mut me.contexts {
        let (status, body) =
            get_json(http, server.url(&format!("/contexts/{}/{key}", me.ns))).await;
        let now = match status {
            StatusCode::OK => Some((body["version"].as_u64().unwrap(), body["value"].clone())),
            StatusCode::NOT_FOUND => None,
            s => panic!("GET context {key}: {s} {body}"),
        };
        let acked_value = known.acked.as_ref().map(|(_, v)| v.clone());
        let now_value = now.as_ref().map(|(_, v)| v.clone());
        match known.pending.take() {
            None => assert_eq!(now, known.acked, "writer {w}: context {key} lost its write"),
            Some(next) => {
                assert!(
                    now_value == acked_value || now_value.as_ref() == Some(&next),
                    "writer {w}: context {key} is {now_value:?}, neither acknowledged \
                     {acked_value:?} nor unacknowledged {next:?}"
                );
                in_flight += 1;
                if now_value == acked_value {
                    assert_eq!(now, known.acked, "the version moved without the value");
                } else {
                    kept += 1;
                    let before = known.acked.as_ref().map_or(0, |(v, _)| *v);
                    assert_eq!(now.as_ref().unwrap().0, before + 1);
                }
            }
        }
        known.acked = now;
    }

    // Both indexes hold what the store holds (the vector index may replay its change
    // log after the restart: given ten seconds).
    me.in_flight += in_flight;
    me.kept += kept;
    for mode in ["keyword", "semantic"] {
        let query = format!("crashtoken{w} note");
        until_search_finds(
            http,
            server,
            &me.ns,
            mode,
            &query,
            &live,
            Duration::from_secs(10),
        )
        .await;
    }
    me
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_sigkill_under_load() {
    let rounds = env_or("OMNEX_CRASH_ROUNDS", 4);
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let mut rng = StdRng::seed_from_u64(env_or("OMNEX_CRASH_SEED", 7));
    for layout in layouts(dir.path()) {
        let mut writers: Vec<Writer> = (0..WRITERS)
            .map(|w| Writer {
                ns: format!("crash-{w}"),
                ..Writer::default()
            })
            .collect();
        let mut kills = 0;
        for round in 0..rounds {
            let server = Server::start(&layout.args);
            let killed = Arc::new(AtomicBool::new(false));
            let tasks: Vec<_> = writers
                .drain(..)
                .enumerate()
                .map(|(w, me)| {
                    let seed = rng.gen();
                    tokio::spawn(write_until_killed(
                        http.clone(),
                        server.base.clone(),
                        w,
                        me,
                        seed,
                        killed.clone(),
                    ))
                })
                .collect();
            tokio::time::sleep(Duration::from_millis(rng.gen_range(500..2500))).await;
            killed.store(true, Ordering::SeqCst);
            server.kill();
            kills += 1;
            let mut done = Vec::new();
            for t in tasks {
                done.push(t.await.unwrap());
            }
            let server = Server::start(&layout.args);
            for (w, me) in done.into_iter().enumerate() {
                writers.push(verify(&http, &server, w, me).await);
            }
            eprintln!(
                "{}: round {round}: {} acknowledged writes so far, all present",
                layout.name,
                writers.iter().map(|w| w.acked_writes).sum::<u64>()
            );
            drop(server);
        }
        let acked: u64 = writers.iter().map(|w| w.acked_writes).sum();
        let in_flight: u64 = writers.iter().map(|w| w.in_flight).sum();
        let kept: u64 = writers.iter().map(|w| w.kept).sum();
        assert!(acked > 0, "{}: no write was acknowledged", layout.name);
        eprintln!(
            "RESULT crash {}: {kills} SIGKILLs under {WRITERS} writers, {acked} acknowledged \
             writes, 0 lost; {in_flight} writes in flight at a kill: {kept} kept whole, \
             the others wholly absent",
            layout.name
        );
    }
}
