//! A vector index on a Qdrant server (gRPC): `qdrant://host:6334?api_key=…&collection=…`.
//!
//! One collection per embedding model and dimension (cosine distance), payload
//! indexes on the scope fields and the expiry, and every filter pushed down to Qdrant,
//! which applies it inside its HNSW search. Metadata values are stored as flat payload
//! fields named `m_<hex of the key>`, so any key (dots, brackets, quotes) filters exactly.

use std::collections::HashMap;

use async_trait::async_trait;
use qdrant_client::{
    qdrant::{
        point_id::PointIdOptions, Condition, CountPointsBuilder, CreateCollectionBuilder,
        CreateFieldIndexCollectionBuilder, DeletePointsBuilder, Distance, FieldType, Filter,
        PointStruct, PointsIdsList, QueryPointsBuilder, Range, SearchParamsBuilder,
        UpsertPointsBuilder, VectorParamsBuilder,
    },
    Payload, Qdrant, QdrantError,
};
use uuid::Uuid;

use crate::{
    index::{IndexCapabilities, VectorIndex},
    model::{to_micros, Hit, IndexEntry, MemoryId, VectorQuery},
    validate, Error, Result,
};

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

fn map_err(e: QdrantError) -> Error {
    use tonic::Code;
    match &e {
        QdrantError::ResponseError { status } => match status.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Aborted => {
                Error::unavailable(BACKEND, e)
            }
            Code::InvalidArgument => Error::invalid_input("vector", status.message().to_owned()),
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
                .create_collection(
                    CreateCollectionBuilder::new(&self.collection).vectors_config(
                        VectorParamsBuilder::new(self.dimension as u64, Distance::Cosine),
                    ),
                )
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
        for (field, kind) in [
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

    fn filter(q: &VectorQuery) -> Filter {
        let f = &q.filter;
        let mut must = vec![Condition::range(
            "expires_at",
            Range {
                gt: Some(to_micros(q.now) as f64),
                ..Range::default()
            },
        )];
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
        }
    }

    async fn upsert(&self, entries: &[IndexEntry]) -> Result<()> {
        for e in entries {
            validate::vector("vector", &e.vector, self.dimension)?;
        }
        for chunk in entries.chunks(UPSERT_CHUNK) {
            let points: Vec<PointStruct> = chunk
                .iter()
                .map(|e| PointStruct::new(e.id.0, e.vector.clone(), payload(e)))
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
            .filter(Self::filter(q))
            .limit(q.k as u64)
            .with_payload(false)
            .params(SearchParamsBuilder::default().hnsw_ef(128));
        if let Some(min) = q.min_score {
            request = request.score_threshold(min);
        }
        let found = self.client.query(request).await.map_err(map_err)?;
        found
            .result
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

    async fn len(&self) -> Result<usize> {
        let counted = self
            .client
            .count(CountPointsBuilder::new(&self.collection).exact(true))
            .await
            .map_err(map_err)?;
        Ok(counted
            .result
            .map_or(0, |r| usize::try_from(r.count).unwrap_or(usize::MAX)))
    }

    async fn clear(&self) -> Result<()> {
        self.client
            .delete_collection(&self.collection)
            .await
            .map_err(map_err)?;
        self.ensure_collection().await
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

    #[test]
    fn names_and_fields() {
        assert_eq!(
            collection_name("all-MiniLM-L6-v2", 384),
            "omnex_all-minilm-l6-v2_384"
        );
        assert_eq!(metadata_field("a.b"), "m_612e62");
    }
}
