//! A vector index on a Qdrant server (gRPC): `qdrant://host:6334?api_key=…&collection=…`.
//!
//! One collection per embedding model and dimension (cosine distance), payload
//! indexes on the scope fields and the expiry, and every filter pushed down to Qdrant,
//! which applies it inside its HNSW search. Metadata values are stored as flat payload
//! fields named `m_<hex of the key>`, so any key (dots, brackets, quotes) filters exactly.
//!
//! Keyword search runs in Qdrant too: each point carries a sparse vector `text` of its
//! content's terms (hashed to 32-bit ids) weighted by BM25's term-frequency part, and
//! the collection applies the IDF modifier at query time, so a query of unit weights
//! scores BM25. Collections made before Omnex had keyword search lack the sparse vector;
//! keyword search then runs in the store.

use std::collections::HashMap;

use async_trait::async_trait;
use qdrant_client::{
    qdrant::{
        point_id::PointIdOptions, Condition, CountPointsBuilder, CreateCollectionBuilder,
        CreateFieldIndexCollectionBuilder, DeletePointsBuilder, Distance, FieldType, Filter,
        Modifier, NamedVectors, PointStruct, PointsIdsList, QueryPointsBuilder, Range,
        SearchParamsBuilder, SparseVectorParamsBuilder, SparseVectorsConfigBuilder,
        UpsertPointsBuilder, Vector, VectorInput, VectorParamsBuilder,
    },
    Payload, Qdrant, QdrantError,
};
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use parking_lot::RwLock;
use uuid::Uuid;

use crate::{
    index::{IndexCapabilities, VectorIndex},
    model::{to_micros, Filter as OmnexFilter, Hit, IndexEntry, MemoryId, TextQuery, VectorQuery},
    text::Analyzer,
    validate, Error, Result,
};

/// The name of the sparse vector that holds a point's terms.
const TEXT_VECTOR: &str = "text";
/// BM25's term-frequency saturation and length normalization, against a typical
/// memory length (Qdrant knows no corpus statistics but the IDF).
const K1: f32 = 1.2;
const B: f32 = 0.75;
const TYPICAL_TERMS: f32 = 24.0;

/// A term's id in the sparse vector: 32 bits of FNV-1a (collisions merge two rare
/// terms into one; at 32 bits they are rare enough not to matter for ranking).
fn term_id(term: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in term.as_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The sparse vector of a document: each distinct term's id and BM25 term weight.
fn sparse_document(analyzer: Analyzer, text: &str) -> (Vec<u32>, Vec<f32>) {
    let terms = analyzer.terms(text);
    let len = terms.len() as f32;
    let mut tf: HashMap<u32, f32> = HashMap::new();
    for t in &terms {
        *tf.entry(term_id(t)).or_default() += 1.0;
    }
    let norm = K1 * (1.0 - B + B * len / TYPICAL_TERMS);
    let mut pairs: Vec<(u32, f32)> = tf
        .into_iter()
        .map(|(id, f)| (id, f * (K1 + 1.0) / (f + norm)))
        .collect();
    pairs.sort_unstable_by_key(|p| p.0);
    pairs.into_iter().unzip()
}

const BACKEND: &str = "qdrant";
/// Upserts go to the server in chunks of this many points.
const UPSERT_CHUNK: usize = 256;

/// A collection name for a model and dimension: `omnex_<model>_<dim>`.
pub fn collection_name(model: &str, dimension: usize) -> String {
    let slug: String = model
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("omnex_{}_{dimension}", slug.trim_matches('_'))
}

/// Whether a status message says the server could not be reached or the
/// connection broke, rather than that the server refused the request.
fn is_connection_failure(message: &str) -> bool {
    [
        "Failed to connect",
        "transport error",
        "connection error",
        "ConnectError",
    ]
    .iter()
    .any(|m| message.contains(m))
}

fn map_err(e: QdrantError) -> Error {
    use tonic::Code;
    match &e {
        QdrantError::ResponseError { status } => match status.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Aborted => {
                Error::unavailable(BACKEND, e)
            }
            Code::InvalidArgument => Error::invalid_input("vector", status.message().to_owned()),
            // The client reports a server it cannot reach as `Internal` ("Failed to
            // connect to …"): that is an outage, not a bug.
            Code::Internal | Code::Unknown if is_connection_failure(status.message()) => {
                Error::unavailable(BACKEND, e)
            }
            _ => Error::internal(BACKEND, e),
        },
        QdrantError::ResourceExhaustedError { .. } => Error::unavailable(BACKEND, e),
        _ => Error::unavailable(BACKEND, e),
    }
}

/// The payload field holding metadata `key`.
fn metadata_field(key: &str) -> String {
    let mut s = String::with_capacity(2 + key.len() * 2);
    s.push_str("m_");
    for b in key.bytes() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Expiry as microseconds; "never" is the largest value so one range condition covers both.
fn expiry_micros(entry: &IndexEntry) -> i64 {
    entry.fields.expires_at.map_or(i64::MAX, to_micros)
}

/// A Qdrant-backed index.
#[derive(Clone)]
pub struct QdrantIndex {
    client: Qdrant,
    collection: String,
    dimension: usize,
    display: String,
    /// The collection has the sparse `text` vector.
    sparse: Arc<AtomicBool>,
    /// How entries' text becomes terms (`None`: keyword search is off).
    analyzer: Arc<RwLock<Option<Analyzer>>>,
}

impl std::fmt::Debug for QdrantIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QdrantIndex")
            .field("url", &self.display)
            .field("collection", &self.collection)
            .field("dimension", &self.dimension)
            .finish_non_exhaustive()
    }
}

impl QdrantIndex {
    /// Connects to `qdrant://host:port` (gRPC, default port 6334; `qdrants://` for TLS),
    /// creating `default_collection` (unless the URL names one) with its payload indexes.
    pub async fn connect(url: &str, default_collection: &str, dimension: usize) -> Result<Self> {
        let bad = |reason: String| Error::invalid_input("index", reason);
        let parsed = url::Url::parse(url).map_err(|e| bad(format!("not a Qdrant URL: {e}")))?;
        let scheme = match parsed.scheme() {
            "qdrant" | "http" => "http",
            "qdrants" | "https" => "https",
            other => return Err(bad(format!("{other:?} is not a qdrant:// URL"))),
        };
        let host = parsed
            .host_str()
            .ok_or_else(|| bad("the Qdrant URL has no host".into()))?;
        let port = parsed.port().unwrap_or(6334);
        let mut collection = default_collection.to_owned();
        let mut api_key = None;
        for (k, v) in parsed.query_pairs() {
            match &*k {
                "collection" => collection = v.into_owned(),
                "api_key" => api_key = Some(v.into_owned()),
                other => return Err(bad(format!("unknown Qdrant URL parameter {other:?}"))),
            }
        }
        let display = format!("{scheme}://{host}:{port}");
        let client = Qdrant::from_url(&display)
            .api_key(api_key)
            .timeout(std::time::Duration::from_secs(10))
            .connect_timeout(std::time::Duration::from_secs(3))
            .skip_compatibility_check()
            .build()
            .map_err(|e| bad(format!("cannot use {display}: {e}")))?;
        let index = Self {
            client,
            collection,
            dimension,
            display,
            sparse: Arc::default(),
            analyzer: Arc::default(),
        };
        index.ensure_collection().await?;
        Ok(index)
    }

    async fn ensure_collection(&self) -> Result<()> {
        let exists = self
            .client
            .collection_exists(&self.collection)
            .await
            .map_err(map_err)?;
        if !exists {
            let created = self
                .client
                .create_collection({
                    let mut sparse = SparseVectorsConfigBuilder::default();
                    sparse.add_named_vector_params(
                        TEXT_VECTOR,
                        SparseVectorParamsBuilder::default().modifier(Modifier::Idf),
                    );
                    CreateCollectionBuilder::new(&self.collection)
                        .vectors_config(VectorParamsBuilder::new(
                            self.dimension as u64,
                            Distance::Cosine,
                        ))
                        .sparse_vectors_config(sparse)
                })
                .await;
            // Another process may have created it at the same moment.
            if let Err(e) = created {
                if !self
                    .client
                    .collection_exists(&self.collection)
                    .await
                    .map_err(map_err)?
                {
                    return Err(map_err(e));
                }
            }
        }
        let info = self
            .client
            .collection_info(&self.collection)
            .await
            .map_err(map_err)?;
        let sparse = info
            .result
            .and_then(|r| r.config)
            .and_then(|c| c.params)
            .and_then(|p| p.sparse_vectors_config)
            .is_some_and(|s| s.map.contains_key(TEXT_VECTOR));
        self.sparse.store(sparse, Ordering::Relaxed);
        for (field, kind) in [
            ("tenant", FieldType::Keyword),
            ("namespace", FieldType::Keyword),
            ("user_id", FieldType::Keyword),
            ("agent_id", FieldType::Keyword),
            ("session_id", FieldType::Keyword),
            ("expires_at", FieldType::Integer),
        ] {
            self.client
                .create_field_index(
                    CreateFieldIndexCollectionBuilder::new(&self.collection, field, kind)
                        .wait(true),
                )
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    /// The collection this index uses.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    fn filter(f: &OmnexFilter, now: crate::model::Timestamp) -> Filter {
        let mut must = vec![Condition::range(
            "expires_at",
            Range {
                gt: Some(to_micros(now) as f64),
                ..Range::default()
            },
        )];
        must.push(Condition::matches("tenant", f.tenant.to_string()));
        for (field, v) in [
            ("namespace", &f.namespace),
            ("user_id", &f.user_id),
            ("agent_id", &f.agent_id),
            ("session_id", &f.session_id),
        ] {
            if let Some(v) = v {
                must.push(Condition::matches(field, v.clone()));
            }
        }
        for (k, v) in &f.metadata {
            let field = metadata_field(k);
            must.push(match v {
                serde_json::Value::Null => Condition::is_null(field),
                serde_json::Value::Bool(b) => Condition::matches(field, *b),
                serde_json::Value::String(s) => Condition::matches(field, s.clone()),
                serde_json::Value::Number(n) => {
                    let x = n.as_f64().unwrap_or(f64::NAN);
                    Condition::range(
                        field,
                        Range {
                            gte: Some(x),
                            lte: Some(x),
                            ..Range::default()
                        },
                    )
                }
                // Rejected by validation; never matches if it gets here.
                serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                    Condition::has_id([Uuid::nil()])
                }
            });
        }
        Filter::must(must)
    }
}

fn payload(entry: &IndexEntry) -> Payload {
    let scope = &entry.fields.scope;
    let mut map: HashMap<String, serde_json::Value> = HashMap::new();
    map.insert("tenant".into(), entry.fields.tenant.as_str().into());
    map.insert("namespace".into(), scope.namespace.clone().into());
    for (k, v) in [
        ("user_id", &scope.user_id),
        ("agent_id", &scope.agent_id),
        ("session_id", &scope.session_id),
    ] {
        if let Some(v) = v {
            map.insert(k.into(), v.clone().into());
        }
    }
    map.insert("expires_at".into(), expiry_micros(entry).into());
    for (k, v) in &entry.fields.metadata {
        if !v.is_array() && !v.is_object() {
            map.insert(metadata_field(k), v.clone());
        }
    }
    Payload::from(map)
}

#[async_trait]
impl VectorIndex for QdrantIndex {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn location(&self) -> String {
        format!("{}/{}", self.display, self.collection)
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    fn capabilities(&self) -> IndexCapabilities {
        IndexCapabilities {
            shared: true,
            exact: false,
            keyword: self.sparse.load(Ordering::Relaxed) && self.analyzer.read().is_some(),
        }
    }

    async fn upsert(&self, entries: &[IndexEntry]) -> Result<()> {
        for e in entries {
            validate::vector("vector", &e.vector, self.dimension)?;
        }
        for chunk in entries.chunks(UPSERT_CHUNK) {
            let analyzer = self
                .sparse
                .load(Ordering::Relaxed)
                .then(|| *self.analyzer.read())
                .flatten();
            let points: Vec<PointStruct> = chunk
                .iter()
                .map(|e| {
                    let dense = Vector::new_dense(e.vector.clone());
                    match analyzer.map(|a| sparse_document(a, &e.text)) {
                        Some((ids, weights)) if !ids.is_empty() => {
                            let vectors = NamedVectors::default()
                                .add_vector("", dense)
                                .add_vector(TEXT_VECTOR, Vector::new_sparse(ids, weights));
                            PointStruct::new(e.id.0, vectors, payload(e))
                        }
                        _ => PointStruct::new(e.id.0, dense, payload(e)),
                    }
                })
                .collect();
            self.client
                .upsert_points(UpsertPointsBuilder::new(&self.collection, points).wait(true))
                .await
                .map_err(map_err)?;
        }
        Ok(())
    }

    async fn delete(&self, ids: &[MemoryId]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids = PointsIdsList {
            ids: ids.iter().map(|id| id.0.into()).collect(),
        };
        self.client
            .delete_points(
                DeletePointsBuilder::new(&self.collection)
                    .points(ids)
                    .wait(true),
            )
            .await
            .map(|_| ())
            .map_err(map_err)
    }

    async fn search(&self, q: &VectorQuery) -> Result<Vec<Hit>> {
        validate::vector("vector", &q.vector, self.dimension)?;
        if q.k == 0 {
            return Ok(Vec::new());
        }
        let mut request = QueryPointsBuilder::new(&self.collection)
            .query(q.vector.clone())
            .filter(Self::filter(&q.filter, q.now))
            .limit(q.k as u64)
            .with_payload(false)
            .params(SearchParamsBuilder::default().hnsw_ef(128));
        if let Some(min) = q.min_score {
            request = request.score_threshold(min);
        }
        let found = self.client.query(request).await.map_err(map_err)?;
        self.hits(found.result)
    }

    async fn search_text(&self, q: &TextQuery) -> Result<Vec<Hit>> {
        if !self.capabilities().keyword {
            return Err(Error::Unsupported {
                operation: "keyword search (the collection has no sparse text vector)",
                backend: BACKEND,
            });
        }
        if q.terms.is_empty() || q.k == 0 {
            return Ok(Vec::new());
        }
        let mut ids: Vec<u32> = q.terms.iter().map(|t| term_id(t)).collect();
        ids.sort_unstable();
        ids.dedup();
        let weights = vec![1.0f32; ids.len()];
        let request = QueryPointsBuilder::new(&self.collection)
            .query(VectorInput::new_sparse(ids, weights))
            .using(TEXT_VECTOR)
            .filter(Self::filter(&q.filter, q.now))
            .limit(q.k as u64)
            .with_payload(false);
        let found = self.client.query(request).await.map_err(map_err)?;
        self.hits(found.result)
    }

    fn set_text_analyzer(&self, analyzer: Option<Analyzer>) {
        *self.analyzer.write() = analyzer;
    }

    async fn len(&self) -> Result<usize> {
        self.count().await
    }

    async fn clear(&self) -> Result<()> {
        self.client
            .delete_collection(&self.collection)
            .await
            .map_err(map_err)?;
        self.ensure_collection().await
    }
}

impl QdrantIndex {
    /// Memory ids and scores of found points.
    fn hits(&self, points: Vec<qdrant_client::qdrant::ScoredPoint>) -> Result<Vec<Hit>> {
        points
            .into_iter()
            .map(|p| {
                let id = match p.id.and_then(|id| id.point_id_options) {
                    Some(PointIdOptions::Uuid(s)) => MemoryId::parse(&s)?,
                    other => {
                        return Err(Error::internal(
                            BACKEND,
                            format!("a point in {} has a foreign id {other:?}", self.collection),
                        ))
                    }
                };
                Ok(Hit { id, score: p.score })
            })
            .collect()
    }

    async fn count(&self) -> Result<usize> {
        let counted = self
            .client
            .count(CountPointsBuilder::new(&self.collection).exact(true))
            .await
            .map_err(map_err)?;
        Ok(counted
            .result
            .map_or(0, |r| usize::try_from(r.count).unwrap_or(usize::MAX)))
    }
}

#[cfg(test)]
mod conformance {
    use super::*;

    async fn make(dimension: usize) -> Option<QdrantIndex> {
        match std::env::var("OMNEX_TEST_QDRANT_URL") {
            Ok(url) if !url.is_empty() => {
                let name = format!("{}_{dimension}", crate::conformance::unique_namespace());
                Some(QdrantIndex::connect(&url, &name, dimension).await.unwrap())
            }
            _ => {
                assert!(
                    !crate::conformance::required(BACKEND),
                    "OMNEX_TEST_REQUIRE names qdrant but OMNEX_TEST_QDRANT_URL is not set"
                );
                None
            }
        }
    }

    crate::index_conformance!(make);

    mod keyword {
        use super::make;
        crate::index_text_conformance!(make);
    }

    #[test]
    fn sparse_documents_weigh_repeats_and_length() {
        let (ids, weights) = sparse_document(Analyzer::Simple, "kea kea kea lark");
        assert_eq!(ids.len(), 2);
        let kea = weights[ids.iter().position(|&i| i == term_id("kea")).unwrap()];
        let lark = weights[ids.iter().position(|&i| i == term_id("lark")).unwrap()];
        assert!(kea > lark && kea < K1 + 1.0);
        let (ids, long) = sparse_document(Analyzer::Simple, &format!("lark {}", "x ".repeat(200)));
        let lark_in_long = long[ids.iter().position(|&i| i == term_id("lark")).unwrap()];
        assert!(lark_in_long < lark, "a longer memory weighs each word less");
        assert_eq!(
            sparse_document(Analyzer::English, "the of"),
            (vec![], vec![])
        );
    }

    #[test]
    fn names_and_fields() {
        assert_eq!(
            collection_name("all-MiniLM-L6-v2", 384),
            "omnex_all-minilm-l6-v2_384"
        );
        assert_eq!(metadata_field("a.b"), "m_612e62");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn an_unreachable_server_is_unavailable_not_internal() {
        let refused = QdrantError::ResponseError {
            status: tonic::Status::internal(
                "Failed to connect to http://127.0.0.1:6334/: tonic::transport::Error(Transport, \
                 ConnectError(\"tcp connect error\"))",
            ),
        };
        assert_eq!(map_err(refused).kind(), ErrorKind::Unavailable);
        let bug = QdrantError::ResponseError {
            status: tonic::Status::internal("Service internal error: index corrupted"),
        };
        assert_eq!(map_err(bug).kind(), ErrorKind::Internal);
    }
}
