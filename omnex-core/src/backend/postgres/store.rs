//! `Store` for PostgreSQL.

use async_trait::async_trait;
use sqlx::{postgres::PgRow, types::Json, PgConnection, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use super::{access, events, push_filter, text, PostgresStore};
use crate::{
    model::{
        decode_context_cursor, decode_memory_cursor, encode_context_cursor, now, ApiKey,
        AuditEvent, Change, ChangeFeed, Context, Event, EventKind, EventPage, FilterFields, Hit,
        IndexEntry, ListAudit, ListContexts, ListEvents, ListMemories, Memory, MemoryId, Metadata,
        Page, Precondition, Removed, Scope, Tenant, TextQuery, Timestamp,
    },
    store::{check_precondition, Purged, Store},
    text::Analyzer,
    validate, vector as vector_bytes, Error, Result,
};

const PRUNED_THROUGH: &str = "changes_pruned_through";
/// The advisory lock every change-log append takes, so `seq` order is commit order
/// and a reader never skips a change that commits late.
pub(super) const CHANGE_LOG_LOCK: i64 = 0x6f6d_6e65_785f_6c6f; // "omnex_lo"

const MEMORY_COLUMNS: &str = "id, namespace, user_id, agent_id, session_id, content, metadata, \
     embedding, created_at, updated_at, expires_at, tenant";
const CONTEXT_COLUMNS: &str =
    "tenant, namespace, key, id, value, tags, created_at, updated_at, version, expires_at";

fn map_err(e: sqlx::Error) -> Error {
    super::map_err("postgres", e)
}

/// The columns of a removed memory that its event needs.
const REMOVED: &str = "id, tenant, namespace, user_id, agent_id, session_id, version";

/// The ids and the events of memories removed with `RETURNING {REMOVED}`.
fn removed_memories(
    rows: &[PgRow],
    kind: EventKind,
    actor: Option<&str>,
    at: Timestamp,
) -> Result<(Vec<Uuid>, Vec<Event>)> {
    let mut ids = Vec::with_capacity(rows.len());
    let mut made = Vec::with_capacity(rows.len());
    for row in rows {
        let id: Uuid = row.try_get("id").map_err(map_err)?;
        let version: i64 = row.try_get("version").map_err(map_err)?;
        let scope = scope_from_row(row)?;
        let gone = Removed {
            tenant: tenant_from_row(row)?,
            namespace: scope.namespace,
            id: id.to_string(),
            key: None,
            user_id: scope.user_id,
            agent_id: scope.agent_id,
            session_id: scope.session_id,
            version: u64::try_from(version).unwrap_or_default(),
        };
        ids.push(id);
        made.push(Event::removed(kind, gone, actor, at));
    }
    Ok((ids, made))
}

fn scope_from_row(row: &PgRow) -> Result<Scope> {
    Ok(Scope {
        namespace: row.try_get("namespace").map_err(map_err)?,
        user_id: row.try_get("user_id").map_err(map_err)?,
        agent_id: row.try_get("agent_id").map_err(map_err)?,
        session_id: row.try_get("session_id").map_err(map_err)?,
    })
}

fn memory_from_row(row: &PgRow) -> Result<Memory> {
    let embedding: Vec<u8> = row.try_get("embedding").map_err(map_err)?;
    let Json(metadata): Json<Metadata> = row.try_get("metadata").map_err(map_err)?;
    Ok(Memory {
        id: MemoryId(row.try_get("id").map_err(map_err)?),
        tenant: tenant_from_row(row)?,
        content: row.try_get("content").map_err(map_err)?,
        embedding: vector_bytes::decode(&embedding),
        metadata,
        scope: scope_from_row(row)?,
        created_at: row.try_get("created_at").map_err(map_err)?,
        updated_at: row.try_get("updated_at").map_err(map_err)?,
        expires_at: row.try_get("expires_at").map_err(map_err)?,
    })
}

fn tenant_from_row(row: &PgRow) -> Result<Tenant> {
    let tenant: &str = row.try_get("tenant").map_err(map_err)?;
    Ok(Tenant::stored(tenant))
}

fn context_from_row(row: &PgRow) -> Result<Context> {
    let version: i64 = row.try_get("version").map_err(map_err)?;
    Ok(Context {
        tenant: tenant_from_row(row)?,
        id: row.try_get("id").map_err(map_err)?,
        namespace: row.try_get("namespace").map_err(map_err)?,
        key: row.try_get("key").map_err(map_err)?,
        value: row.try_get("value").map_err(map_err)?,
        tags: row.try_get("tags").map_err(map_err)?,
        created_at: row.try_get("created_at").map_err(map_err)?,
        updated_at: row.try_get("updated_at").map_err(map_err)?,
        version: u64::try_from(version).unwrap_or_default(),
        expires_at: row.try_get("expires_at").map_err(map_err)?,
    })
}

/// Appends changes to the outbox inside the caller's transaction, under the change-log lock.
async fn log_changes(tx: &mut PgConnection, ids: &[Uuid], at: Timestamp) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CHANGE_LOG_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    sqlx::query("INSERT INTO memory_changes (memory_id, at) SELECT unnest($1::uuid[]), $2")
        .bind(ids)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map(|_| ())
        .map_err(map_err)
}

#[async_trait]
impl Store for PostgresStore {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn put_context_by(
        &self,
        ctx: &Context,
        expect: Precondition,
        actor: Option<&str>,
    ) -> Result<Context> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        if expect != Precondition::None {
            // Lock the live row (if any) so concurrent conditional writers serialize on it.
            let current = locked_version(&mut tx, &ctx.tenant, &ctx.namespace, &ctx.key).await?;
            check_precondition(&ctx.namespace, &ctx.key, expect, current)?;
        }
        // Two creators of a new key both find no row to lock: the unique key decides.
        // The later one replaces (version 2), or, when it asked to create only, conflicts.
        let kept = write_context(&mut tx, ctx, expect == Precondition::Absent).await?;
        let Some((id, created_at, version)) = kept else {
            return Err(
                check_precondition(&ctx.namespace, &ctx.key, expect, Some(1))
                    .err()
                    .unwrap_or_else(|| Error::internal("postgres", "context write lost a race")),
            );
        };
        let stored = Context {
            id,
            created_at,
            version: u64::try_from(version).unwrap_or_default(),
            ..ctx.clone()
        };
        events::append(&mut tx, &[Event::of_context(&stored, actor, now())]).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(stored)
    }

    async fn restore_contexts(&self, batch: &[Context]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        for ctx in batch {
            restore_context(&mut tx, ctx).await?;
        }
        let at = now();
        let made: Vec<Event> = batch
            .iter()
            .map(|c| Event::of_context(c, None, at))
            .collect();
        events::append(&mut tx, &made).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn get_context(
        &self,
        tenant: &Tenant,
        namespace: &str,
        key: &str,
    ) -> Result<Option<Context>> {
        sqlx::query(&format!(
            "SELECT {CONTEXT_COLUMNS} FROM contexts WHERE namespace = $1 AND key = $2 \
             AND (expires_at IS NULL OR expires_at > $3) AND tenant = $4"
        ))
        .bind(namespace)
        .bind(key)
        .bind(now())
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?
        .map(|r| context_from_row(&r))
        .transpose()
    }

    async fn delete_context_by(
        &self,
        tenant: &Tenant,
        namespace: &str,
        key: &str,
        expect: Precondition,
        actor: Option<&str>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let current = locked_version(&mut tx, tenant, namespace, key).await?;
        check_precondition(namespace, key, expect, current)?;
        let done: Option<(Uuid, i64)> = sqlx::query_as(
            "DELETE FROM contexts WHERE namespace = $1 AND key = $2 AND tenant = $3 \
             RETURNING id, version",
        )
        .bind(namespace)
        .bind(key)
        .bind(tenant.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let deleted = current.is_some() && done.is_some();
        if let (true, Some((id, version))) = (deleted, done) {
            let gone = Removed {
                tenant: tenant.clone(),
                namespace: namespace.to_owned(),
                id: id.to_string(),
                key: Some(key.to_owned()),
                version: u64::try_from(version).unwrap_or_default(),
                ..Removed::default()
            };
            let event = Event::removed(EventKind::ContextDelete, gone, actor, now());
            events::append(&mut tx, &[event]).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(deleted)
    }

    async fn list_contexts(&self, req: &ListContexts) -> Result<Page<Context>> {
        let limit = validate::page_limit(req.limit)?;
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {CONTEXT_COLUMNS} FROM contexts WHERE (expires_at IS NULL OR expires_at > "
        ));
        qb.push_bind(now()).push(")");
        qb.push(" AND tenant = ").push_bind(req.tenant.to_string());
        if let Some(ns) = &req.namespace {
            qb.push(" AND namespace = ").push_bind(ns.clone());
        }
        if let Some(prefix) = &req.prefix {
            qb.push(" AND starts_with(key, ")
                .push_bind(prefix.clone())
                .push(")");
        }
        if let Some(tag) = &req.tag {
            qb.push(" AND tags @> ARRAY[")
                .push_bind(tag.clone())
                .push("]::text[]");
        }
        if let Some(cursor) = &req.cursor {
            let (ns, key) = decode_context_cursor(cursor)?;
            qb.push(" AND (namespace, key) > (")
                .push_bind(ns)
                .push(", ")
                .push_bind(key)
                .push(")");
        }
        qb.push(" ORDER BY namespace, key LIMIT ")
            .push_bind((limit + 1) as i64);
        let rows = qb.build().fetch_all(&self.pool).await.map_err(map_err)?;
        let items = rows
            .iter()
            .map(context_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, limit, |c| {
            encode_context_cursor(&c.namespace, &c.key)
        }))
    }

    async fn put_memories_by(&self, batch: &[Memory], actor: Option<&str>) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        // One statement for the whole batch: each column travels as one array.
        let mut ids = Vec::with_capacity(batch.len());
        let mut tenants = Vec::with_capacity(batch.len());
        let mut namespaces = Vec::with_capacity(batch.len());
        let mut users = Vec::with_capacity(batch.len());
        let mut agents = Vec::with_capacity(batch.len());
        let mut sessions = Vec::with_capacity(batch.len());
        let mut contents = Vec::with_capacity(batch.len());
        let mut metadata = Vec::with_capacity(batch.len());
        let mut embeddings = Vec::with_capacity(batch.len());
        let mut created = Vec::with_capacity(batch.len());
        let mut updated = Vec::with_capacity(batch.len());
        let mut expires = Vec::with_capacity(batch.len());
        let mut terms = Vec::with_capacity(batch.len());
        let mut terms_lens = Vec::with_capacity(batch.len());
        let analyzer = self.analyzer();
        for m in batch {
            let (t, n) = match analyzer {
                Some(a) => {
                    let (t, n) = text::tsvector(a, &m.content);
                    (Some(t), Some(n))
                }
                None => (None, None),
            };
            terms.push(t);
            terms_lens.push(n);
            ids.push(m.id.0);
            tenants.push(m.tenant.as_str());
            namespaces.push(m.scope.namespace.as_str());
            users.push(m.scope.user_id.as_deref());
            agents.push(m.scope.agent_id.as_deref());
            sessions.push(m.scope.session_id.as_deref());
            contents.push(m.content.as_str());
            metadata.push(serde_json::Value::Object(m.metadata.clone()));
            embeddings.push(vector_bytes::encode(&m.embedding));
            created.push(m.created_at);
            updated.push(m.updated_at);
            expires.push(m.expires_at);
        }
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let rows = sqlx::query(&format!(
            "INSERT INTO memories ({MEMORY_COLUMNS}, terms, terms_len) \
             SELECT u.id, u.namespace, u.user_id, u.agent_id, u.session_id, u.content, \
                    u.metadata, u.embedding, u.created_at, u.updated_at, u.expires_at, u.tenant, \
                    u.terms::tsvector, u.terms_len \
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
                         $6::text[], $7::jsonb[], $8::bytea[], $9::timestamptz[], \
                         $10::timestamptz[], $11::timestamptz[], $12::text[], $13::int4[], \
                         $14::text[]) \
                  AS u(id, namespace, user_id, agent_id, session_id, content, metadata, \
                       embedding, created_at, updated_at, expires_at, terms, terms_len, tenant) \
             ON CONFLICT (id) DO UPDATE SET namespace = excluded.namespace, \
             tenant = excluded.tenant, \
             user_id = excluded.user_id, agent_id = excluded.agent_id, \
             session_id = excluded.session_id, content = excluded.content, \
             metadata = excluded.metadata, embedding = excluded.embedding, \
             created_at = excluded.created_at, updated_at = excluded.updated_at, \
             expires_at = excluded.expires_at, terms = excluded.terms, \
             terms_len = excluded.terms_len, version = memories.version + 1 \
             WHERE memories.tenant = excluded.tenant \
             RETURNING id, version"
        ))
        .bind(&ids)
        .bind(&namespaces)
        .bind(&users)
        .bind(&agents)
        .bind(&sessions)
        .bind(&contents)
        .bind(&metadata)
        .bind(&embeddings)
        .bind(&created)
        .bind(&updated)
        .bind(&expires)
        .bind(&terms)
        .bind(&terms_lens)
        .bind(&tenants)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        let versions = rows
            .iter()
            .map(|r| {
                let id: Uuid = r.try_get("id").map_err(map_err)?;
                let v: i64 = r.try_get("version").map_err(map_err)?;
                Ok((id, u64::try_from(v).unwrap_or_default()))
            })
            .collect::<Result<std::collections::HashMap<_, _>>>()?;
        if let Some(m) = batch.iter().find(|m| !versions.contains_key(&m.id.0)) {
            // A memory of another tenant holds this id: nothing of the batch is kept.
            return Err(Error::Conflict {
                entity: crate::error::Entity::Memory,
                id: m.id.to_string(),
                detail: "this id belongs to a memory of another tenant".into(),
            });
        }
        let at = now();
        log_changes(&mut tx, &ids, at).await?;
        let made: Vec<Event> = batch
            .iter()
            .map(|m| {
                let version = versions.get(&m.id.0).copied().unwrap_or(1);
                Event::of_memory(m, version, actor, at)
            })
            .collect();
        events::append(&mut tx, &made).await?;
        tx.commit().await.map_err(map_err)
    }

    async fn get_memories(&self, ids: &[MemoryId]) -> Result<Vec<Memory>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let uuids: Vec<Uuid> = ids.iter().map(|i| i.0).collect();
        let rows = sqlx::query(&format!(
            "SELECT {MEMORY_COLUMNS} FROM memories WHERE id = ANY($1) \
             AND (expires_at IS NULL OR expires_at > $2)"
        ))
        .bind(&uuids)
        .bind(now())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let m = memory_from_row(row)?;
            found.insert(m.id, m);
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    async fn delete_memories_by(&self, ids: &[MemoryId], actor: Option<&str>) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let uuids: Vec<Uuid> = ids.iter().map(|i| i.0).collect();
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let rows = sqlx::query(&format!(
            "DELETE FROM memories WHERE id = ANY($1) RETURNING {REMOVED}"
        ))
        .bind(&uuids)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        let at = now();
        let (deleted, made) = removed_memories(&rows, EventKind::MemoryDelete, actor, at)?;
        log_changes(&mut tx, &deleted, at).await?;
        events::append(&mut tx, &made).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(deleted.len() as u64)
    }

    async fn list_memories(&self, req: &ListMemories) -> Result<Page<Memory>> {
        let limit = validate::page_limit(req.limit)?;
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT {MEMORY_COLUMNS} FROM memories WHERE TRUE"
        ));
        push_filter(&mut qb, &req.filter, now());
        if let Some(cursor) = &req.cursor {
            let after = decode_memory_cursor(cursor)?;
            qb.push(" AND id > ").push_bind(after.0);
        }
        qb.push(" ORDER BY id LIMIT ").push_bind((limit + 1) as i64);
        let rows = qb.build().fetch_all(&self.pool).await.map_err(map_err)?;
        let items = rows
            .iter()
            .map(memory_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::from_overfetch(items, limit, |m| m.id.to_string()))
    }

    async fn scan_index_entries(
        &self,
        after: Option<MemoryId>,
        limit: usize,
    ) -> Result<Vec<IndexEntry>> {
        let rows = sqlx::query(
            "SELECT id, tenant, namespace, user_id, agent_id, session_id, content, metadata, embedding, expires_at \
             FROM memories WHERE id > $1 AND (expires_at IS NULL OR expires_at > $2) \
             ORDER BY id LIMIT $3",
        )
        .bind(after.map_or(Uuid::nil(), |a| a.0))
        .bind(now())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                let embedding: Vec<u8> = row.try_get("embedding").map_err(map_err)?;
                let Json(metadata): Json<Metadata> = row.try_get("metadata").map_err(map_err)?;
                Ok(IndexEntry {
                    id: MemoryId(row.try_get("id").map_err(map_err)?),
                    vector: vector_bytes::decode(&embedding),
                    fields: FilterFields {
                        tenant: tenant_from_row(row)?,
                        scope: scope_from_row(row)?,
                        metadata,
                        expires_at: row.try_get("expires_at").map_err(map_err)?,
                    },
                    text: row.try_get("content").map_err(map_err)?,
                })
            })
            .collect()
    }

    async fn head_seq(&self) -> Result<i64> {
        // The identity's last value survives pruning; `is_called` is false before the first change.
        sqlx::query_scalar::<_, Option<i64>>(
            "SELECT greatest((SELECT max(seq) FROM memory_changes), \
                    (SELECT CASE WHEN is_called THEN last_value END \
                     FROM memory_changes_seq_seq))",
        )
        .fetch_one(&self.pool)
        .await
        .map(Option::unwrap_or_default)
        .map_err(map_err)
    }

    async fn changes_since(&self, after: i64, limit: usize) -> Result<ChangeFeed> {
        let pruned: Option<String> =
            sqlx::query_scalar("SELECT value FROM omnex_meta WHERE key = $1")
                .bind(PRUNED_THROUGH)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
        let pruned: i64 = pruned.and_then(|p| p.parse().ok()).unwrap_or(0);
        if after < pruned {
            return Ok(ChangeFeed {
                changes: Vec::new(),
                reset: true,
            });
        }
        let rows = sqlx::query(
            "SELECT seq, memory_id FROM memory_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let changes = rows
            .iter()
            .map(|r| {
                Ok(Change {
                    seq: r.try_get("seq").map_err(map_err)?,
                    id: MemoryId(r.try_get("memory_id").map_err(map_err)?),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ChangeFeed {
            changes,
            reset: false,
        })
    }

    async fn prune_changes(&self, before: Timestamp) -> Result<u64> {
        events::prune_log(&self.pool, "memory_changes", PRUNED_THROUGH, before).await
    }

    async fn purge_expired(&self, now: Timestamp) -> Result<Purged> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let expired_contexts = sqlx::query(
            "DELETE FROM contexts WHERE expires_at IS NOT NULL AND expires_at <= $1 \
             RETURNING tenant, namespace, key, id, version",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        let contexts = expired_contexts.len() as u64;
        let mut made = Vec::new();
        for row in &expired_contexts {
            let id: Uuid = row.try_get("id").map_err(map_err)?;
            let version: i64 = row.try_get("version").map_err(map_err)?;
            let gone = Removed {
                tenant: tenant_from_row(row)?,
                namespace: row.try_get("namespace").map_err(map_err)?,
                id: id.to_string(),
                key: row.try_get("key").map_err(map_err)?,
                version: u64::try_from(version).unwrap_or_default(),
                ..Removed::default()
            };
            made.push(Event::removed(
                EventKind::ContextExpire,
                gone,
                Some("system"),
                now,
            ));
        }
        let rows = sqlx::query(&format!(
            "DELETE FROM memories WHERE expires_at IS NOT NULL AND expires_at <= $1 \
             RETURNING {REMOVED}"
        ))
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        let (ids, expired) = removed_memories(&rows, EventKind::MemoryExpire, Some("system"), now)?;
        made.extend(expired);
        log_changes(&mut tx, &ids, now).await?;
        events::append(&mut tx, &made).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(Purged {
            contexts,
            memories: ids.into_iter().map(MemoryId).collect(),
        })
    }

    async fn search_text(&self, q: &TextQuery) -> Result<Vec<Hit>> {
        self.text_search(q).await
    }

    fn text_analyzer(&self) -> Option<Analyzer> {
        self.analyzer()
    }

    async fn set_text_analyzer(&self, analyzer: Option<Analyzer>) -> Result<()> {
        self.use_analyzer(analyzer).await
    }

    async fn tenant_usage(&self, tenant: &Tenant) -> Result<crate::store::Usage> {
        access::tenant_usage(&self.pool, tenant).await
    }

    async fn tenants(&self) -> Result<Vec<Tenant>> {
        access::tenants(&self.pool).await
    }

    async fn put_api_key(&self, key: &ApiKey) -> Result<()> {
        access::put_api_key(&self.pool, key).await
    }

    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        access::api_key_by_hash(&self.pool, hash).await
    }

    async fn api_keys(&self, tenant: Option<&Tenant>) -> Result<Vec<ApiKey>> {
        access::api_keys(&self.pool, tenant).await
    }

    async fn revoke_api_key(&self, id: &str, at: Timestamp) -> Result<Option<ApiKey>> {
        access::revoke_api_key(&self.pool, id, at).await
    }

    async fn mark_api_key_used(&self, id: &str, at: Timestamp) -> Result<bool> {
        access::mark_api_key_used(&self.pool, id, at).await
    }

    async fn append_audit(&self, event: &AuditEvent) -> Result<()> {
        access::append_audit(&self.pool, event).await
    }

    async fn list_audit(&self, req: &ListAudit) -> Result<Page<AuditEvent>> {
        access::list_audit(&self.pool, req).await
    }

    async fn list_events(&self, req: &ListEvents) -> Result<EventPage> {
        events::list(&self.pool, req).await
    }

    async fn event_head(&self) -> Result<i64> {
        events::event_head(&self.pool).await
    }

    async fn prune_events(&self, before: Timestamp) -> Result<u64> {
        events::prune(&self.pool, before).await
    }

    async fn get_meta(&self, key: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM omnex_meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        set_meta(&mut conn, key, value).await
    }
}

/// The version of the live context at `namespace/key`, locking its row until the
/// transaction ends.
async fn locked_version(
    conn: &mut PgConnection,
    tenant: &Tenant,
    namespace: &str,
    key: &str,
) -> Result<Option<u64>> {
    let version: Option<i64> = sqlx::query_scalar(
        "SELECT version FROM contexts WHERE namespace = $1 AND key = $2 \
         AND (expires_at IS NULL OR expires_at > $3) AND tenant = $4 FOR UPDATE",
    )
    .bind(namespace)
    .bind(key)
    .bind(now())
    .bind(tenant.as_str())
    .fetch_optional(conn)
    .await
    .map_err(map_err)?;
    Ok(version.map(|v| u64::try_from(v).unwrap_or_default()))
}

pub(super) async fn set_meta(conn: &mut PgConnection, key: &str, value: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO omnex_meta (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(conn)
    .await
    .map(|_| ())
    .map_err(map_err)
}

/// Writes a context for `put_context`: a new row at version 1, or the next version of a
/// live row (keeping its id and creation time). With `create_only`, a live row is left
/// alone and `None` is returned.
async fn write_context(
    conn: &mut PgConnection,
    ctx: &Context,
    create_only: bool,
) -> Result<Option<(Uuid, Timestamp, i64)>> {
    // `expired` is NULL (false) for a row without expiry.
    const EXPIRED: &str = "contexts.expires_at <= excluded.updated_at";
    let only_if = if create_only {
        format!("WHERE {EXPIRED}")
    } else {
        String::new()
    };
    let row = sqlx::query(&format!(
        "INSERT INTO contexts (namespace, key, id, value, tags, created_at, updated_at, version, expires_at, tenant) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9) \
         ON CONFLICT (tenant, namespace, key) DO UPDATE SET value = excluded.value, tags = excluded.tags, \
         updated_at = excluded.updated_at, expires_at = excluded.expires_at, \
         id = CASE WHEN {EXPIRED} THEN excluded.id ELSE contexts.id END, \
         created_at = CASE WHEN {EXPIRED} THEN excluded.created_at ELSE contexts.created_at END, \
         version = CASE WHEN {EXPIRED} THEN 1 ELSE contexts.version + 1 END {only_if} \
         RETURNING id, created_at, version"
    ))
    .bind(&ctx.namespace)
    .bind(&ctx.key)
    .bind(ctx.id)
    .bind(&ctx.value)
    .bind(&ctx.tags)
    .bind(ctx.created_at)
    .bind(ctx.updated_at)
    .bind(ctx.expires_at)
    .bind(ctx.tenant.as_str())
    .fetch_optional(conn)
    .await
    .map_err(map_err)?;
    row.map(|r| {
        Ok((
            r.try_get("id").map_err(map_err)?,
            r.try_get("created_at").map_err(map_err)?,
            r.try_get("version").map_err(map_err)?,
        ))
    })
    .transpose()
}

/// Inserts or replaces one context row exactly as given (import).
async fn restore_context(conn: &mut PgConnection, ctx: &Context) -> Result<()> {
    sqlx::query(
        "INSERT INTO contexts (namespace, key, id, value, tags, created_at, updated_at, version, expires_at, tenant) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (tenant, namespace, key) DO UPDATE SET id = excluded.id, value = excluded.value, \
         tags = excluded.tags, created_at = excluded.created_at, updated_at = excluded.updated_at, \
         version = excluded.version, expires_at = excluded.expires_at",
    )
    .bind(&ctx.namespace)
    .bind(&ctx.key)
    .bind(ctx.id)
    .bind(&ctx.value)
    .bind(&ctx.tags)
    .bind(ctx.created_at)
    .bind(ctx.updated_at)
    .bind(i64::try_from(ctx.version).unwrap_or(i64::MAX))
    .bind(ctx.expires_at)
    .bind(ctx.tenant.as_str())
    .execute(conn)
    .await
    .map(|_| ())
    .map_err(map_err)
}
