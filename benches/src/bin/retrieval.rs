//! Retrieval quality of each search mode, through the full Omnex write and search path,
//! on SciFact (nDCG@10) and LoCoMo (Recall@10 of the evidence turns), for every
//! deployment given: SQLite + HNSW (the embedded default), PostgreSQL + pgvector and
//! PostgreSQL + Qdrant.
//!
//! The texts are embedded once with the local all-MiniLM-L6-v2 embedder and the vectors
//! kept under `target/eval-cache/`; every deployment then gets the same memories with
//! those embeddings, and every search gives the query text and its vector, so the
//! semantic, keyword and hybrid legs all run inside Omnex exactly as for a user.
//!
//! Usage:
//! `retrieval [--data ../shared/data] [--postgres postgres://postgres@127.0.0.1/db] [--qdrant qdrant://127.0.0.1:6334]`

// Tests, examples and benchmarks run outside any server: they may block and print.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    io::BufRead,
    path::{Path, PathBuf},
    time::Instant,
};

use omnex_benches::embed_cached;
use omnex_core::{
    config::CacheSpec,
    model::{Filter, NewMemory, Scope, SearchMode, SearchRequest},
    Config, Omnex,
};
use serde_json::Value;

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Fusion settings from `OMNEX_EVAL_RRF_K`, `OMNEX_EVAL_SEMANTIC_WEIGHT` and
/// `OMNEX_EVAL_KEYWORD_WEIGHT` (unset: Omnex's defaults), to try other settings.
fn tuned(mut req: SearchRequest) -> SearchRequest {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<f32>().ok());
    req.rrf_k = var("OMNEX_EVAL_RRF_K");
    req.semantic_weight = var("OMNEX_EVAL_SEMANTIC_WEIGHT");
    req.keyword_weight = var("OMNEX_EVAL_KEYWORD_WEIGHT");
    req
}

const MODES: [SearchMode; 3] = [
    SearchMode::Semantic,
    SearchMode::Keyword,
    SearchMode::Hybrid,
];
const K: usize = 10;

struct SciFact {
    docs: Vec<(String, String)>,
    queries: Vec<(String, String, HashSet<String>)>,
}

struct Turn {
    conversation: String,
    dia_id: String,
    text: String,
}

struct Question {
    conversation: String,
    text: String,
    category: u64,
    evidence: HashSet<String>,
}

fn read_jsonl(path: &Path) -> BoxResult<Vec<Value>> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    std::io::BufReader::new(f)
        .lines()
        .map(|l| Ok(serde_json::from_str(&l?)?))
        .collect()
}

fn load_scifact(dir: &Path) -> BoxResult<SciFact> {
    let docs = read_jsonl(&dir.join("corpus.jsonl"))?
        .into_iter()
        .map(|d| {
            let text = format!(
                "{} {}",
                d["title"].as_str().unwrap_or(""),
                d["text"].as_str().unwrap_or("")
            );
            (
                d["_id"].as_str().unwrap_or_default().to_owned(),
                text.trim().to_owned(),
            )
        })
        .collect();
    let texts: HashMap<String, String> = read_jsonl(&dir.join("queries.jsonl"))?
        .into_iter()
        .map(|q| {
            (
                q["_id"].as_str().unwrap_or_default().to_owned(),
                q["text"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let mut qrels: BTreeMap<String, HashSet<String>> = BTreeMap::new();
    for line in std::fs::read_to_string(dir.join("qrels/test.tsv"))?
        .lines()
        .skip(1)
    {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() >= 3 && cols[2].trim() != "0" {
            qrels
                .entry(cols[0].to_owned())
                .or_default()
                .insert(cols[1].to_owned());
        }
    }
    let queries = qrels
        .into_iter()
        .filter_map(|(id, rel)| Some((id.clone(), texts.get(&id)?.clone(), rel)))
        .collect();
    Ok(SciFact { docs, queries })
}

fn load_locomo(path: &Path) -> BoxResult<(Vec<Turn>, Vec<Question>)> {
    let samples: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let mut turns = Vec::new();
    let mut questions = Vec::new();
    for s in &samples {
        let conv_id = s["sample_id"].as_str().unwrap_or_default().to_owned();
        let conv = s["conversation"].as_object().ok_or("no conversation")?;
        let mut ids = HashSet::new();
        let mut sessions: Vec<(u64, &Vec<Value>)> = conv
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix("session_")?.parse().ok()?;
                Some((n, v.as_array()?))
            })
            .collect();
        sessions.sort_by_key(|s| s.0);
        for (_, session) in sessions {
            for t in session {
                let dia_id = t["dia_id"].as_str().unwrap_or_default().to_owned();
                ids.insert(dia_id.clone());
                turns.push(Turn {
                    conversation: conv_id.clone(),
                    dia_id,
                    text: format!(
                        "{}: {}",
                        t["speaker"].as_str().unwrap_or_default(),
                        t["text"].as_str().unwrap_or_default()
                    ),
                });
            }
        }
        for q in s["qa"].as_array().into_iter().flatten() {
            let category = q["category"].as_u64().unwrap_or(0);
            if !(1..=4).contains(&category) {
                continue;
            }
            // A few evidence strings are malformed ("D8:6; D9:17"): split them and
            // keep the ids that name a turn.
            let evidence: HashSet<String> = q["evidence"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .flat_map(|e| e.split([';', ' ', ',']))
                .map(str::trim)
                .filter(|e| ids.contains(*e))
                .map(str::to_owned)
                .collect();
            if evidence.is_empty() {
                continue;
            }
            questions.push(Question {
                conversation: conv_id.clone(),
                text: q["question"].as_str().unwrap_or_default().to_owned(),
                category,
                evidence,
            });
        }
    }
    Ok((turns, questions))
}

/// nDCG@10 and Recall@10 per mode.
type SciFactScores = Vec<(f64, f64)>;
/// Recall@10 per mode: overall, then categories 1 to 4.
type LocomoScores = Vec<[f64; 5]>;

async fn add_all(omnex: &Omnex, memories: Vec<NewMemory>) -> BoxResult<f64> {
    let started = Instant::now();
    let n = memories.len();
    let mut rest = memories;
    while !rest.is_empty() {
        let tail = rest.split_off(rest.len().min(500));
        omnex.add_memories(rest).await?;
        rest = tail;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

async fn run_scifact(
    omnex: &Omnex,
    data: &SciFact,
    doc_vectors: &[Vec<f32>],
    query_vectors: &[Vec<f32>],
) -> BoxResult<SciFactScores> {
    let scope = Scope::namespace("scifact");
    let memories = data
        .docs
        .iter()
        .zip(doc_vectors)
        .map(|((id, text), v)| {
            NewMemory::new(text.clone())
                .with_scope(scope.clone())
                .with_embedding(v.clone())
                .with_metadata("doc", Value::String(id.clone()))
        })
        .collect();
    let rate = add_all(omnex, memories).await?;
    eprintln!(
        "  scifact: {} abstracts added ({rate:.0}/s)",
        data.docs.len()
    );
    let mut scores = Vec::new();
    for mode in MODES {
        let (mut ndcg, mut recall) = (0.0, 0.0);
        for ((_, text, relevant), v) in data.queries.iter().zip(query_vectors) {
            let hits = omnex
                .search(
                    tuned(SearchRequest::query(text.clone()))
                        .with_vector(v.clone())
                        .with_mode(mode)
                        .with_limit(K)
                        .with_filter(Filter::default().with_namespace("scifact")),
                )
                .await?;
            let mut dcg = 0.0;
            let mut found = 0;
            for (rank, h) in hits.iter().enumerate() {
                if relevant.contains(h.memory.metadata["doc"].as_str().unwrap_or_default()) {
                    dcg += 1.0 / ((rank + 2) as f64).log2();
                    found += 1;
                }
            }
            let ideal: f64 = (0..relevant.len().min(K))
                .map(|r| 1.0 / ((r + 2) as f64).log2())
                .sum();
            ndcg += dcg / ideal;
            recall += f64::from(found) / relevant.len() as f64;
        }
        let n = data.queries.len() as f64;
        scores.push((ndcg / n, recall / n));
    }
    Ok(scores)
}

async fn run_locomo(
    omnex: &Omnex,
    turns: &[Turn],
    questions: &[Question],
    turn_vectors: &[Vec<f32>],
    question_vectors: &[Vec<f32>],
) -> BoxResult<LocomoScores> {
    let memories = turns
        .iter()
        .zip(turn_vectors)
        .map(|(t, v)| {
            NewMemory::new(t.text.clone())
                .with_scope(Scope::namespace("locomo").with_session(&t.conversation))
                .with_embedding(v.clone())
                .with_metadata("dia_id", Value::String(t.dia_id.clone()))
        })
        .collect();
    let rate = add_all(omnex, memories).await?;
    eprintln!("  locomo: {} turns added ({rate:.0}/s)", turns.len());
    let mut scores = Vec::new();
    for mode in MODES {
        let mut sums = [0.0f64; 5];
        let mut counts = [0usize; 5];
        for (q, v) in questions.iter().zip(question_vectors) {
            let hits = omnex
                .search(
                    tuned(SearchRequest::query(q.text.clone()))
                        .with_vector(v.clone())
                        .with_mode(mode)
                        .with_limit(K)
                        .with_filter(
                            Filter::default()
                                .with_namespace("locomo")
                                .with_session(&q.conversation),
                        ),
                )
                .await?;
            let got: HashSet<&str> = hits
                .iter()
                .filter_map(|h| h.memory.metadata["dia_id"].as_str())
                .collect();
            let recall = q
                .evidence
                .iter()
                .filter(|e| got.contains(e.as_str()))
                .count() as f64
                / q.evidence.len() as f64;
            let c = usize::try_from(q.category).unwrap_or(0);
            for slot in [0, c] {
                sums[slot] += recall;
                counts[slot] += 1;
            }
        }
        let mut out = [0.0; 5];
        for i in 0..5 {
            out[i] = sums[i] / counts[i].max(1) as f64;
        }
        scores.push(out);
    }
    Ok(scores)
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    let mut data = PathBuf::from("../shared/data");
    let mut postgres = None;
    let mut qdrant = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => data = args.next().ok_or("--data DIR")?.into(),
            "--postgres" => postgres = args.next(),
            "--qdrant" => qdrant = args.next(),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let scifact = load_scifact(&data.join("scifact"))?;
    let (turns, questions) = load_locomo(&data.join("locomo-dev/locomo-dev.json"))?;
    eprintln!(
        "SciFact: {} abstracts, {} test queries; LoCoMo: {} turns, {} questions (categories 1-4)",
        scifact.docs.len(),
        scifact.queries.len(),
        turns.len(),
        questions.len()
    );
    let mut embedder = None;
    let texts = |v: Vec<&String>| v.into_iter().cloned().collect::<Vec<String>>();
    let doc_vectors = embed_cached(
        &mut embedder,
        "scifact-corpus",
        &texts(scifact.docs.iter().map(|d| &d.1).collect()),
    )
    .await?;
    let query_vectors = embed_cached(
        &mut embedder,
        "scifact-queries",
        &texts(scifact.queries.iter().map(|q| &q.1).collect()),
    )
    .await?;
    let turn_vectors = embed_cached(
        &mut embedder,
        "locomo-turns",
        &texts(turns.iter().map(|t| &t.text).collect()),
    )
    .await?;
    let question_vectors = embed_cached(
        &mut embedder,
        "locomo-questions",
        &texts(questions.iter().map(|q| &q.text).collect()),
    )
    .await?;
    drop(embedder);

    let base = |store: String, index: String| Config {
        store: Some(store.parse().expect("a store URL")),
        index: index.parse().expect("an index spec"),
        cache: CacheSpec::None,
        sweep_interval_secs: 0,
        ..Config::default()
    };
    let dir = tempfile::tempdir()?;
    let run = std::process::id();
    let mut deployments = vec![(
        "SQLite + HNSW (embedded default)",
        base(
            format!("sqlite://{}", dir.path().join("eval.db").display()),
            "hnsw".into(),
        ),
    )];
    if let Some(pg) = postgres
        .as_ref()
        .filter(|_| std::env::var("OMNEX_EVAL_SQLITE_ONLY").is_err())
    {
        let sep = if pg.contains('?') { '&' } else { '?' };
        deployments.push((
            "PostgreSQL + pgvector",
            base(
                format!("{pg}{sep}schema=eval_pgvector_{run}"),
                "pgvector".into(),
            ),
        ));
        if let Some(q) = &qdrant {
            let qsep = if q.contains('?') { '&' } else { '?' };
            deployments.push((
                "PostgreSQL + Qdrant",
                base(
                    format!("{pg}{sep}schema=eval_qdrant_{run}"),
                    format!("{q}{qsep}collection=omnex_eval_{run}"),
                ),
            ));
        }
    }
    let mut results = Vec::new();
    for (name, config) in deployments {
        eprintln!("{name}:");
        let omnex = Omnex::builder()
            .config(config)
            .dimension(384)
            .build()
            .await?;
        let sf = run_scifact(&omnex, &scifact, &doc_vectors, &query_vectors).await?;
        let lc = run_locomo(&omnex, &turns, &questions, &turn_vectors, &question_vectors).await?;
        for (mode, (s, l)) in MODES.iter().zip(sf.iter().zip(&lc)) {
            eprintln!(
                "  {mode}: SciFact nDCG@10 {:.4}, LoCoMo Recall@10 {:.4}",
                s.0, l[0]
            );
        }
        results.push((name, sf, lc));
    }

    println!(
        "\n### SciFact (test, {} queries): nDCG@10 / Recall@10\n",
        scifact.queries.len()
    );
    println!("| deployment | semantic | keyword | hybrid |");
    println!("|---|---|---|---|");
    for (name, sf, _) in &results {
        let cell = |(n, r): (f64, f64)| format!("{n:.4} / {r:.4}");
        println!(
            "| {name} | {} | {} | {} |",
            cell(sf[0]),
            cell(sf[1]),
            cell(sf[2])
        );
    }
    println!(
        "\n### LoCoMo dev ({} questions, categories 1-4): Recall@10 of the evidence turns\n",
        questions.len()
    );
    println!(
        "| deployment | mode | all | 1 multi-hop | 2 temporal | 3 open-domain | 4 single-hop |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, _, lc) in &results {
        for (mode, s) in MODES.iter().zip(lc) {
            println!(
                "| {name} | {mode} | **{:.4}** | {:.4} | {:.4} | {:.4} | {:.4} |",
                s[0], s[1], s[2], s[3], s[4]
            );
        }
    }
    Ok(())
}
