//! API keys and the audit log in SQLite.

use sqlx::{sqlite::SqliteRow, QueryBuilder, Row, Sqlite, SqlitePool};

use super::{map_err, rows::json_text};
use crate::{
    model::{from_micros, to_micros, ApiKey, AuditEvent, ListAudit, Page, Tenant, Timestamp},
    validate, Error, Result,
};

const KEY_COLUMNS: &str = "id, prefix, hash, name, tenant, permission, namespaces, created_at, \
     expires_at, revoked_at, first_used_at";

fn key_from_row(row: &SqliteRow) -> Result<ApiKey> {
    let tenant: &str = row.try_get("tenant").map_err(map_err)?;
    let permission: &str = row.try_get("permission").map_err(map_err)?;
    let namespaces: Option<String> = row.try_get("namespaces").map_err(map_err)?;
    let time = |col: &str| -> Result<Option<Timestamp>> {
        Ok(row
            .try_get::<Option<i64>, _>(col)
            .map_err(map_err)?
            .map(from_micros))
    };
    Ok(ApiKey {
        id: row.try_get("id").map_err(map_err)?,
        prefix: row.try_get("prefix").map_err(map_err)?,
        hash: row.try_get("hash").map_err(map_err)?,
        name: row.try_get("name").map_err(map_err)?,
        tenant: Tenant::stored(tenant),
        permission: permission.parse()?,
        namespaces: namespaces
            .map(|n| serde_json::from_str(&n))
            .transpose()
            .map_err(|e| Error::internal("sqlite", e))?,
        created_at: from_micros(row.try_get("created_at").map_err(map_err)?),
        expires_at: time("expires_at")?,
        revoked_at: time("revoked_at")?,
        first_used_at: time("first_used_at")?,
    })
}

pub(super) async fn put_api_key(pool: &SqlitePool, key: &ApiKey) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(&key.id)
    .bind(&key.prefix)
    .bind(&key.hash)
    .bind(&key.name)
    .bind(key.tenant.as_str())
    .bind(key.permission.as_str())
    .bind(key.namespaces.as_ref().map(json_text).transpose()?)
    .bind(to_micros(key.created_at))
    .bind(key.expires_at.map(to_micros))
    .bind(key.revoked_at.map(to_micros))
    .bind(key.first_used_at.map(to_micros))
    .execute(pool)
    .await
    .map(|_| ())
    .map_err(map_err)
}

pub(super) async fn api_key_by_hash(pool: &SqlitePool, hash: &str) -> Result<Option<ApiKey>> {
    sqlx::query(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = ?"
    ))
    .bind(hash)
    .fetch_optional(pool)
    .await
    .map_err(map_err)?
    .map(|r| key_from_row(&r))
    .transpose()
}

pub(super) async fn api_keys(pool: &SqlitePool, tenant: Option<&Tenant>) -> Result<Vec<ApiKey>> {
    let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {KEY_COLUMNS} FROM api_keys"));
    if let Some(t) = tenant {
        qb.push(" WHERE tenant = ").push_bind(t.to_string());
    }
    qb.push(" ORDER BY created_at DESC, id");
    let rows = qb.build().fetch_all(pool).await.map_err(map_err)?;
    rows.iter().map(key_from_row).collect()
}

pub(super) async fn revoke_api_key(
    pool: &SqlitePool,
    id: &str,
    at: Timestamp,
) -> Result<Option<ApiKey>> {
    sqlx::query("UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?")
        .bind(to_micros(at))
        .bind(id)
        .execute(pool)
        .await
        .map_err(map_err)?;
    sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?"))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(map_err)?
        .map(|r| key_from_row(&r))
        .transpose()
}

pub(super) async fn mark_api_key_used(pool: &SqlitePool, id: &str, at: Timestamp) -> Result<bool> {
    let done =
        sqlx::query("UPDATE api_keys SET first_used_at = ? WHERE id = ? AND first_used_at IS NULL")
            .bind(to_micros(at))
            .bind(id)
            .execute(pool)
            .await
            .map_err(map_err)?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn append_audit(pool: &SqlitePool, e: &AuditEvent) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, tenant, action, subject, target, detail) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(to_micros(e.at))
    .bind(&e.tenant)
    .bind(&e.action)
    .bind(&e.subject)
    .bind(&e.target)
    .bind(&e.detail)
    .execute(pool)
    .await
    .map(|_| ())
    .map_err(map_err)
}

pub(super) async fn list_audit(pool: &SqlitePool, req: &ListAudit) -> Result<Page<AuditEvent>> {
    let limit = validate::page_limit(req.limit)?;
    let mut qb = QueryBuilder::<Sqlite>::new(
        "SELECT seq, at, tenant, action, subject, target, detail FROM audit_log WHERE 1 = 1",
    );
    if let Some(t) = &req.tenant {
        qb.push(" AND tenant = ").push_bind(t.clone());
    }
    if let Some(a) = &req.action {
        qb.push(" AND action = ").push_bind(a.clone());
    }
    if let Some(c) = &req.cursor {
        let before: i64 = c.parse().map_err(|_| {
            Error::invalid_input("cursor", "is not a cursor returned by this listing")
        })?;
        qb.push(" AND seq < ").push_bind(before);
    }
    qb.push(" ORDER BY seq DESC LIMIT ")
        .push_bind((limit + 1) as i64);
    let rows = qb.build().fetch_all(pool).await.map_err(map_err)?;
    let items = rows
        .iter()
        .map(|row| {
            Ok(AuditEvent {
                seq: row.try_get("seq").map_err(map_err)?,
                at: from_micros(row.try_get("at").map_err(map_err)?),
                tenant: row.try_get("tenant").map_err(map_err)?,
                action: row.try_get("action").map_err(map_err)?,
                subject: row.try_get("subject").map_err(map_err)?,
                target: row.try_get("target").map_err(map_err)?,
                detail: row.try_get("detail").map_err(map_err)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_overfetch(items, limit, |e| e.seq.to_string()))
}

pub(super) async fn tenant_usage(
    pool: &SqlitePool,
    tenant: &Tenant,
) -> Result<crate::store::Usage> {
    let now = to_micros(crate::model::now());
    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM memories WHERE tenant = ?1 \
                 AND (expires_at IS NULL OR expires_at > ?2)) AS memories, \
                (SELECT coalesce(sum(length(CAST(content AS BLOB)) + length(CAST(metadata AS BLOB))), 0) \
                 FROM memories WHERE tenant = ?1 AND (expires_at IS NULL OR expires_at > ?2)) AS memory_bytes, \
                (SELECT count(*) FROM contexts WHERE tenant = ?1 \
                 AND (expires_at IS NULL OR expires_at > ?2)) AS contexts, \
                (SELECT coalesce(sum(length(CAST(value AS BLOB))), 0) FROM contexts WHERE tenant = ?1 \
                 AND (expires_at IS NULL OR expires_at > ?2)) AS context_bytes",
    )
    .bind(tenant.as_str())
    .bind(now)
    .fetch_one(pool)
    .await
    .map_err(map_err)?;
    let n = |c: &str| -> Result<u64> {
        Ok(u64::try_from(row.try_get::<i64, _>(c).map_err(map_err)?).unwrap_or_default())
    };
    Ok(crate::store::Usage {
        memories: n("memories")?,
        contexts: n("contexts")?,
        bytes: n("memory_bytes")? + n("context_bytes")?,
    })
}

pub(super) async fn tenants(pool: &SqlitePool) -> Result<Vec<Tenant>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT tenant FROM memories UNION SELECT tenant FROM contexts ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    Ok(names.iter().map(|n| Tenant::stored(n)).collect())
}
