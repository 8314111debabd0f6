//! Row <-> model conversions and cursor encoding for SQLite.

use sqlx::{sqlite::SqliteRow, Row};

use super::map_err;
use crate::{
    model::{
        from_micros, Context, FilterFields, IndexEntry, Memory, MemoryId, Metadata, Scope, Tenant,
    },
    vector as vector_bytes, Error, Result,
};

pub(super) const MEMORY_COLUMNS: &str =
    "id, namespace, user_id, agent_id, session_id, content, metadata, embedding, created_at, updated_at, expires_at, tenant";

pub(super) const CONTEXT_COLUMNS: &str =
    "tenant, namespace, key, id, value, tags, created_at, updated_at, version, expires_at";

fn corrupt(what: &str, e: impl std::fmt::Display) -> Error {
    Error::internal("sqlite", format!("stored {what} is unreadable: {e}"))
}

pub(super) fn memory_from_row(row: &SqliteRow) -> Result<Memory> {
    let id: String = row.try_get("id").map_err(map_err)?;
    let metadata: String = row.try_get("metadata").map_err(map_err)?;
    let embedding: Vec<u8> = row.try_get("embedding").map_err(map_err)?;
    let expires_at: Option<i64> = row.try_get("expires_at").map_err(map_err)?;
    let tenant: &str = row.try_get("tenant").map_err(map_err)?;
    Ok(Memory {
        id: MemoryId::parse(&id).map_err(|e| corrupt("memory id", e))?,
        tenant: Tenant::stored(tenant),
        content: row.try_get("content").map_err(map_err)?,
        embedding: vector_bytes::decode(&embedding),
        metadata: serde_json::from_str::<Metadata>(&metadata)
            .map_err(|e| corrupt("metadata", e))?,
        scope: Scope {
            namespace: row.try_get("namespace").map_err(map_err)?,
            user_id: row.try_get("user_id").map_err(map_err)?,
            agent_id: row.try_get("agent_id").map_err(map_err)?,
            session_id: row.try_get("session_id").map_err(map_err)?,
        },
        created_at: from_micros(row.try_get("created_at").map_err(map_err)?),
        updated_at: from_micros(row.try_get("updated_at").map_err(map_err)?),
        expires_at: expires_at.map(from_micros),
    })
}

pub(super) fn index_entry_from_row(row: &SqliteRow) -> Result<IndexEntry> {
    let m = memory_from_row(row)?;
    Ok(IndexEntry {
        id: m.id,
        vector: m.embedding,
        fields: FilterFields {
            tenant: m.tenant,
            scope: m.scope,
            metadata: m.metadata,
            expires_at: m.expires_at,
        },
        text: m.content,
    })
}

pub(super) fn context_from_row(row: &SqliteRow) -> Result<Context> {
    let id: String = row.try_get("id").map_err(map_err)?;
    let value: String = row.try_get("value").map_err(map_err)?;
    let tags: String = row.try_get("tags").map_err(map_err)?;
    let version: i64 = row.try_get("version").map_err(map_err)?;
    let expires_at: Option<i64> = row.try_get("expires_at").map_err(map_err)?;
    let tenant: &str = row.try_get("tenant").map_err(map_err)?;
    Ok(Context {
        tenant: Tenant::stored(tenant),
        id: uuid::Uuid::parse_str(&id).map_err(|e| corrupt("context id", e))?,
        namespace: row.try_get("namespace").map_err(map_err)?,
        key: row.try_get("key").map_err(map_err)?,
        value: serde_json::from_str(&value).map_err(|e| corrupt("context value", e))?,
        tags: serde_json::from_str(&tags).map_err(|e| corrupt("tags", e))?,
        created_at: from_micros(row.try_get("created_at").map_err(map_err)?),
        updated_at: from_micros(row.try_get("updated_at").map_err(map_err)?),
        version: u64::try_from(version).unwrap_or_default(),
        expires_at: expires_at.map(from_micros),
    })
}

pub(super) fn json_text<T: serde::Serialize + ?Sized>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::internal("sqlite", e))
}
