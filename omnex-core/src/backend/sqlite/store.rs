//! `Store` for SQLite.

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::{
    access,
    context_cache::Lookup,
    events, map_err, push_filter,
    rows::{
        context_from_row, index_entry_from_row, json_text, memory_from_row, CONTEXT_COLUMNS,
        MEMORY_COLUMNS,
    },
    text, SqliteStore,
};
use crate::{
    model::{
        decode_context_cursor, decode_memory_cursor, encode_context_cursor, from_micros, now,
        to_micros, ApiKey, AuditEvent, Change, ChangeFeed, Context, Event, EventKind, EventPage,
        Hit, IndexEntry, ListAudit, ListContexts, ListEvents, ListMemories, Memory, MemoryId, Page,
        Precondition, Removed, Tenant, TextQuery, Timestamp, DEFAULT_TENANT,
    },
    store::{check_precondition, Purged, Store},
    text::Analyzer,
    validate, vector as vector_bytes, Result,
};

const PRUNED_THROUGH: &str = "changes_pruned_through";

/// A memory id that another tenant holds: a write never moves a memory between
/// tenants.
pub(super) fn other_tenant(id: MemoryId) -> crate::Error {
    crate::Error::Conflict {
        entity: crate::error::Entity::Memory,
        id: id.to_string(),
        detail: "this id belongs to a memory of another tenant".into(),
    }
}

/// The columns of a removed memory that its event needs.
const REMOVED: &str = "id, tenant, namespace, user_id, agent_id, session_id, version";

/// What a `RETURNING {REMOVED}` row says of a removed memory.
fn removed(row: &sqlx::sqlite::SqliteRow) -> Result<Removed> {
    let tenant: &str = row.try_get("tenant").map_err(map_err)?;
    let version: i64 = row.try_get("version").map_err(map_err)?;
    Ok(Removed {
        tenant: Tenant::stored(tenant),
        namespace: row.try_get("namespace").map_err(map_err)?,
        id: row.try_get("id").map_err(map_err)?,
        key: None,
        user_id: row.try_get("user_id").map_err(map_err)?,
        agent_id: row.try_get("agent_id").map_err(map_err)?,
        session_id: row.try_get("session_id").map_err(map_err)?,
        version: u64::try_from(version).unwrap_or_default(),
    })
}

/// Records in the change log, inside the caller's transaction, that a memory changed.
async fn log_change(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    id: impl ToString,
    at: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO memory_changes (memory_id, at) VALUES (?, ?)")
        .bind(id.to_string())
        .bind(at)
        .execute(&mut **tx)
        .await
        .map(|_| ())
        .map_err(map_err)
}

#[async_trait]
impl Store for SqliteStore {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn put_context_by(
        &self,
        ctx: &Context,
        expect: Precondition,
        actor: Option<&str>,
    ) -> Result<Context> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        let now_us = to_micros(now());
        let existing = sqlx::query(&format!(
            "SELECT {CONTEXT_COLUMNS} FROM contexts WHERE tenant = ? AND namespace = ? AND key = ? \
             AND (expires_at IS NULL OR expires_at > ?)"
        ))
        .bind(ctx.tenant.as_str())
        .bind(&ctx.namespace)
        .bind(&ctx.key)
        .bind(now_us)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?
        .map(|r| context_from_row(&r))
        .transpose()?;
        check_precondition(
            &ctx.namespace,
            &ctx.key,
            expect,
            existing.as_ref().map(|c| c.version),
        )?;
        let mut stored = ctx.clone();
        if let Some(old) = &existing {
            stored.id = old.id;
            stored.created_at = old.created_at;
            stored.version = old.version + 1;
        } else {
            stored.version = 1;
        }
        upsert_context(&mut tx, &stored).await?;
        events::append(
            &mut tx,
            &[Event::of_context(&stored, actor, from_micros(now_us))],
        )
        .await?;
        tx.commit().await.map_err(map_err)?;
        Ok(stored)
    }

    async fn restore_contexts(&self, batch: &[Context]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        let at = now();
        for ctx in batch {
            upsert_context(&mut tx, ctx).await?;
            events::append(&mut tx, &[Event::of_context(ctx, None, at)]).await?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn get_context(
        &self,
        tenant: &Tenant,
        namespace: &str,
        key: &str,
    ) -> Result<Option<Context>> {
        let now_us = to_micros(now());
        // The cache is keyed by namespace: another tenant's are "tenant/namespace",
        // which no namespace can be (namespaces hold no `/`).
        let cache_ns: std::borrow::Cow<'_, str> = if tenant.as_str() == DEFAULT_TENANT {
            namespace.into()
        } else {
            format!("{tenant}/{namespace}").into()
        };
        // The token is taken before the query (see `context_cache`).
        let token = match self.contexts.as_deref() {
            Some(cache) => match cache.lookup(&cache_ns, key, now_us) {
                Lookup::Hit(found) => return Ok(found),
                Lookup::Miss(token) => token,
            },
            None => None,
        };
        let found = sqlx::query(&format!(
            "SELECT {CONTEXT_COLUMNS} FROM contexts WHERE tenant = ? AND namespace = ? AND key = ? \
             AND (expires_at IS NULL OR expires_at > ?)"
        ))
        .bind(tenant.as_str())
        .bind(namespace)
        .bind(key)
        .bind(now_us)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?
        .map(|r| context_from_row(&r))
        .transpose()?;
        if let (Some(cache), Some(token)) = (self.contexts.as_deref(), token) {
            cache.fill(token, &cache_ns, key, found.as_ref());
        }
        Ok(found)
    }

    async fn delete_context_by(
        &self,
        tenant: &Tenant,
        namespace: &str,
        key: &str,
        expect: Precondition,
        actor: Option<&str>,
    ) -> Result<bool> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        let found: Option<(i64, String)> = sqlx::query_as(
            "SELECT version, id FROM contexts WHERE tenant = ? AND namespace = ? AND key = ? \
             AND (expires_at IS NULL OR expires_at > ?)",
        )
        .bind(tenant.as_str())
        .bind(namespace)
        .bind(key)
        .bind(to_micros(now()))
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
        let current = found
            .as_ref()
            .map(|(v, _)| u64::try_from(*v).unwrap_or_default());
        check_precondition(namespace, key, expect, current)?;
        let done =
            sqlx::query("DELETE FROM contexts WHERE tenant = ? AND namespace = ? AND key = ?")
                .bind(tenant.as_str())
                .bind(namespace)
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        let deleted = current.is_some() && done.rows_affected() > 0;
        if let (true, Some((version, id))) = (deleted, found) {
            let gone = Removed {
                tenant: tenant.clone(),
                namespace: namespace.to_owned(),
                id,
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
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {CONTEXT_COLUMNS} FROM contexts WHERE (expires_at IS NULL OR expires_at > "
        ));
        qb.push_bind(to_micros(now())).push(")");
        qb.push(" AND tenant = ").push_bind(req.tenant.to_string());
        if let Some(ns) = &req.namespace {
            qb.push(" AND namespace = ").push_bind(ns.clone());
        }
        if let Some(prefix) = &req.prefix {
            qb.push(" AND substr(key, 1, length(")
                .push_bind(prefix.clone())
                .push(")) = ")
                .push_bind(prefix.clone());
        }
        if let Some(tag) = &req.tag {
            qb.push(" AND EXISTS (SELECT 1 FROM json_each(contexts.tags) WHERE json_each.value = ")
                .push_bind(tag.clone())
                .push(")");
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
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        let at = to_micros(now());
        let analyzer = self.analyzer();
        let mut next_doc = text::next_doc(&mut tx).await?;
        for m in batch {
            // A replaced memory keeps its place in the full-text index, with new terms.
            let old: Option<Option<i64>> =
                sqlx::query_scalar("SELECT doc FROM memories WHERE id = ?")
                    .bind(m.id.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err)?;
            if let Some(doc) = old.flatten() {
                text::unindex(&mut tx, doc).await?;
            }
            let doc = match (analyzer, old.flatten()) {
                (None, _) => None,
                (Some(_), Some(doc)) => Some(doc),
                (Some(_), None) => {
                    next_doc += 1;
                    Some(next_doc - 1)
                }
            };
            let version: i64 = sqlx::query_scalar(&format!(
                "INSERT INTO memories ({MEMORY_COLUMNS}, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (id) DO UPDATE SET namespace = excluded.namespace, \
                 user_id = excluded.user_id, agent_id = excluded.agent_id, \
                 session_id = excluded.session_id, content = excluded.content, \
                 metadata = excluded.metadata, embedding = excluded.embedding, \
                 created_at = excluded.created_at, updated_at = excluded.updated_at, \
                 expires_at = excluded.expires_at, tenant = excluded.tenant, doc = excluded.doc, \
                 version = memories.version + 1 \
                 WHERE memories.tenant = excluded.tenant \
                 RETURNING version"
            ))
            .bind(m.id.to_string())
            .bind(&m.scope.namespace)
            .bind(&m.scope.user_id)
            .bind(&m.scope.agent_id)
            .bind(&m.scope.session_id)
            .bind(&m.content)
            .bind(json_text(&m.metadata)?)
            .bind(vector_bytes::encode(&m.embedding))
            .bind(to_micros(m.created_at))
            .bind(to_micros(m.updated_at))
            .bind(m.expires_at.map(to_micros))
            .bind(m.tenant.as_str())
            .bind(doc)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?
            .ok_or_else(|| other_tenant(m.id))?;
            if let (Some(analyzer), Some(doc)) = (analyzer, doc) {
                text::index(&mut tx, analyzer, doc, &m.content).await?;
            }
            log_change(&mut tx, m.id, at).await?;
            let version = u64::try_from(version).unwrap_or_default();
            events::append(
                &mut tx,
                &[Event::of_memory(m, version, actor, from_micros(at))],
            )
            .await?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn get_memories(&self, ids: &[MemoryId]) -> Result<Vec<Memory>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut found = std::collections::HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let mut qb = QueryBuilder::<Sqlite>::new(format!(
                "SELECT {MEMORY_COLUMNS} FROM memories WHERE (expires_at IS NULL OR expires_at > "
            ));
            qb.push_bind(to_micros(now())).push(") AND id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(id.to_string());
            }
            qb.push(")");
            for row in qb.build().fetch_all(&self.pool).await.map_err(map_err)? {
                let m = memory_from_row(&row)?;
                found.insert(m.id, m);
            }
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    async fn delete_memories_by(&self, ids: &[MemoryId], actor: Option<&str>) -> Result<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        let at = to_micros(now());
        let mut deleted = 0;
        for id in ids {
            let gone = sqlx::query(&format!(
                "DELETE FROM memories WHERE id = ? RETURNING doc, {REMOVED}"
            ))
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
            if let Some(row) = gone {
                if let Some(doc) = row.try_get::<Option<i64>, _>("doc").map_err(map_err)? {
                    text::unindex(&mut tx, doc).await?;
                }
                deleted += 1;
                log_change(&mut tx, id, at).await?;
                let event = Event::removed(
                    EventKind::MemoryDelete,
                    removed(&row)?,
                    actor,
                    from_micros(at),
                );
                events::append(&mut tx, &[event]).await?;
            }
        }
        tx.commit().await.map_err(map_err)?;
        Ok(deleted)
    }

    async fn list_memories(&self, req: &ListMemories) -> Result<Page<Memory>> {
        let limit = validate::page_limit(req.limit)?;
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {MEMORY_COLUMNS} FROM memories WHERE 1 = 1"
        ));
        push_filter(&mut qb, &req.filter, to_micros(now()));
        if let Some(cursor) = &req.cursor {
            let after = decode_memory_cursor(cursor)?;
            qb.push(" AND id > ").push_bind(after.to_string());
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
        let rows = sqlx::query(&format!(
            "SELECT {MEMORY_COLUMNS} FROM memories WHERE id > ? \
             AND (expires_at IS NULL OR expires_at > ?) ORDER BY id LIMIT ?"
        ))
        .bind(after.map(|a| a.to_string()).unwrap_or_default())
        .bind(to_micros(now()))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(index_entry_from_row).collect()
    }

    async fn head_seq(&self) -> Result<i64> {
        sqlx::query_scalar::<_, Option<i64>>(
            "SELECT max(seq) FROM (SELECT max(seq) AS seq FROM memory_changes \
             UNION ALL SELECT seq FROM sqlite_sequence WHERE name = 'memory_changes')",
        )
        .fetch_one(&self.pool)
        .await
        .map(Option::unwrap_or_default)
        .map_err(map_err)
    }

    async fn changes_since(&self, after: i64, limit: usize) -> Result<ChangeFeed> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        let pruned: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(PRUNED_THROUGH)
            .fetch_optional(&mut *conn)
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
            "SELECT seq, memory_id FROM memory_changes WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
        let changes = rows
            .iter()
            .map(|r| {
                let id: String = r.try_get("memory_id").map_err(map_err)?;
                Ok(Change {
                    seq: r.try_get("seq").map_err(map_err)?,
                    id: MemoryId::parse(&id)?,
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
        let now_us = to_micros(now);
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)?;
        let expired_contexts = sqlx::query(
            "DELETE FROM contexts WHERE expires_at IS NOT NULL AND expires_at <= ? \
             RETURNING tenant, namespace, key, id, version",
        )
        .bind(now_us)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        let contexts = expired_contexts.len() as u64;
        let mut expired = Vec::new();
        for row in &expired_contexts {
            let tenant: &str = row.try_get("tenant").map_err(map_err)?;
            let version: i64 = row.try_get("version").map_err(map_err)?;
            let gone = Removed {
                tenant: Tenant::stored(tenant),
                namespace: row.try_get("namespace").map_err(map_err)?,
                id: row.try_get("id").map_err(map_err)?,
                key: row.try_get("key").map_err(map_err)?,
                version: u64::try_from(version).unwrap_or_default(),
                ..Removed::default()
            };
            expired.push(Event::removed(
                EventKind::ContextExpire,
                gone,
                Some("system"),
                now,
            ));
        }
        let gone = sqlx::query(&format!(
            "DELETE FROM memories WHERE expires_at IS NOT NULL AND expires_at <= ? \
             RETURNING doc, {REMOVED}"
        ))
        .bind(now_us)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        let mut ids = Vec::with_capacity(gone.len());
        for row in &gone {
            if let Some(doc) = row.try_get::<Option<i64>, _>("doc").map_err(map_err)? {
                text::unindex(&mut tx, doc).await?;
            }
            let removed = removed(row)?;
            log_change(&mut tx, &removed.id, now_us).await?;
            ids.push(removed.id.clone());
            expired.push(Event::removed(
                EventKind::MemoryExpire,
                removed,
                Some("system"),
                now,
            ));
        }
        events::append(&mut tx, &expired).await?;
        tx.commit().await.map_err(map_err)?;
        let memories = ids
            .iter()
            .map(|s| MemoryId::parse(s))
            .collect::<Result<Vec<_>>>()?;
        Ok(Purged { contexts, memories })
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
        sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(map_err)
    }
}

/// Inserts or replaces one context row as given.
async fn upsert_context(tx: &mut sqlx::SqliteConnection, ctx: &Context) -> Result<()> {
    sqlx::query(
        "INSERT INTO contexts (tenant, namespace, key, id, value, tags, created_at, updated_at, version, expires_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         ON CONFLICT (tenant, namespace, key) DO UPDATE SET id = excluded.id, value = excluded.value, \
         tags = excluded.tags, created_at = excluded.created_at, updated_at = excluded.updated_at, \
         version = excluded.version, expires_at = excluded.expires_at",
    )
    .bind(ctx.tenant.as_str())
    .bind(&ctx.namespace)
    .bind(&ctx.key)
    .bind(ctx.id.to_string())
    .bind(json_text(&ctx.value)?)
    .bind(json_text(&ctx.tags)?)
    .bind(to_micros(ctx.created_at))
    .bind(to_micros(ctx.updated_at))
    .bind(i64::try_from(ctx.version).unwrap_or(i64::MAX))
    .bind(ctx.expires_at.map(to_micros))
    .execute(&mut *tx)
    .await
    .map_err(map_err)?;
    Ok(())
}
