//! The event log in SQLite: appended in each write's transaction, read by the
//! change feed, the history and the webhook dispatcher.

use sqlx::{sqlite::SqliteRow, QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use super::{jobs, map_err};
use crate::{
    model::{from_micros, to_micros, Event, EventPage, ListEvents, Subject, Tenant, Timestamp},
    store::Plan,
    validate, Error, Result,
};

const PRUNED_THROUGH: &str = "events_pruned_through";
const DISPATCHED: &str = "events_dispatched";

/// Appends `events` inside the caller's transaction.
pub(super) async fn append(tx: &mut SqliteConnection, events: &[Event]) -> Result<()> {
    for e in events {
        sqlx::query(
            "INSERT INTO events (at, tenant, kind, namespace, entity_id, key, user_id, agent_id, \
             session_id, version, actor, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(to_micros(e.at))
        .bind(e.tenant.as_str())
        .bind(e.kind.as_str())
        .bind(&e.namespace)
        .bind(&e.id)
        .bind(&e.key)
        .bind(&e.user_id)
        .bind(&e.agent_id)
        .bind(&e.session_id)
        .bind(i64::try_from(e.version).unwrap_or(i64::MAX))
        .bind(&e.actor)
        .bind(e.data.as_ref().map(serde_json::Value::to_string))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    }
    Ok(())
}

fn event_from_row(row: &SqliteRow) -> Result<Event> {
    let kind: &str = row.try_get("kind").map_err(map_err)?;
    let tenant: &str = row.try_get("tenant").map_err(map_err)?;
    let version: i64 = row.try_get("version").map_err(map_err)?;
    let data: Option<String> = row.try_get("data").map_err(map_err)?;
    Ok(Event {
        seq: row.try_get("seq").map_err(map_err)?,
        kind: kind.parse()?,
        at: from_micros(row.try_get("at").map_err(map_err)?),
        tenant: Tenant::stored(tenant),
        namespace: row.try_get("namespace").map_err(map_err)?,
        id: row.try_get("entity_id").map_err(map_err)?,
        key: row.try_get("key").map_err(map_err)?,
        user_id: row.try_get("user_id").map_err(map_err)?,
        agent_id: row.try_get("agent_id").map_err(map_err)?,
        session_id: row.try_get("session_id").map_err(map_err)?,
        version: u64::try_from(version).unwrap_or_default(),
        actor: row.try_get("actor").map_err(map_err)?,
        data: data
            .map(|d| serde_json::from_str(&d))
            .transpose()
            .map_err(|e| {
                Error::internal("sqlite", format!("stored event data is unreadable: {e}"))
            })?,
    })
}

/// The newest position, kept when the log is pruned.
async fn head(conn: &mut SqliteConnection) -> Result<i64> {
    sqlx::query_scalar::<_, Option<i64>>(
        "SELECT max(seq) FROM (SELECT max(seq) AS seq FROM events \
         UNION ALL SELECT seq FROM sqlite_sequence WHERE name = 'events')",
    )
    .fetch_one(&mut *conn)
    .await
    .map(Option::unwrap_or_default)
    .map_err(map_err)
}

async fn meta_position(conn: &mut SqliteConnection, key: &str) -> Result<i64> {
    let v: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
        .bind(key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
}

async fn set_meta_position(conn: &mut SqliteConnection, key: &str, value: i64) -> Result<()> {
    sqlx::query("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)")
        .bind(key)
        .bind(value.to_string())
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .map_err(map_err)
}

/// Reads events after `req.since` up to the head seen when the read began.
async fn read(
    conn: &mut SqliteConnection,
    req: &ListEvents,
    limit: usize,
    upto: Option<i64>,
) -> Result<EventPage> {
    // The head is read first: every position up to it is committed, so a page that
    // is not full can move the reader to it without skipping anything.
    let head = head(conn).await?.min(upto.unwrap_or(i64::MAX));
    let oldest = meta_position(conn, PRUNED_THROUGH).await? + 1;
    let data = if req.include_data {
        "data"
    } else {
        "NULL AS data"
    };
    let mut qb = QueryBuilder::<Sqlite>::new(format!(
        "SELECT seq, at, tenant, kind, namespace, entity_id, key, user_id, agent_id, session_id, \
         version, actor, {data} FROM events WHERE seq > "
    ));
    qb.push_bind(req.since).push(" AND seq <= ").push_bind(head);
    if let Some(t) = &req.tenant {
        qb.push(" AND tenant = ").push_bind(t.to_string());
    }
    if !req.namespaces.is_empty() {
        qb.push(" AND namespace IN (");
        let mut sep = qb.separated(", ");
        for ns in &req.namespaces {
            sep.push_bind(ns.clone());
        }
        qb.push(")");
    }
    if !req.kinds.is_empty() {
        qb.push(" AND kind IN (");
        let mut sep = qb.separated(", ");
        for k in &req.kinds {
            sep.push_bind(k.as_str());
        }
        qb.push(")");
    }
    match &req.subject {
        Some(Subject::Memory(id)) => {
            qb.push(" AND entity_id = ").push_bind(id.to_string());
            qb.push(" AND kind LIKE 'memory.%'");
        }
        Some(Subject::Context { namespace, key }) => {
            qb.push(" AND namespace = ").push_bind(namespace.clone());
            qb.push(" AND key = ").push_bind(key.clone());
        }
        None => {}
    }
    qb.push(" ORDER BY seq LIMIT ")
        .push_bind((limit + 1) as i64);
    let rows = qb.build().fetch_all(&mut *conn).await.map_err(map_err)?;
    let events = rows
        .iter()
        .map(event_from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(EventPage::from_overfetch(
        events, limit, req.since, head, oldest,
    ))
}

pub(super) async fn list(pool: &SqlitePool, req: &ListEvents) -> Result<EventPage> {
    let limit = validate::event_limit(req.limit)?;
    let mut conn = pool.acquire().await.map_err(map_err)?;
    read(&mut conn, req, limit, None).await
}

pub(super) async fn event_head(pool: &SqlitePool) -> Result<i64> {
    let mut conn = pool.acquire().await.map_err(map_err)?;
    head(&mut conn).await
}

pub(super) async fn prune(pool: &SqlitePool, before: Timestamp) -> Result<u64> {
    prune_log(pool, "events", PRUNED_THROUGH, before).await
}

/// Deletes the entries of a log table (`events`, `memory_changes`) older than
/// `before`, recording under `pruned_key` the last position removed.
pub(super) async fn prune_log(
    pool: &SqlitePool,
    table: &'static str,
    pruned_key: &str,
    before: Timestamp,
) -> Result<u64> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)?;
    let last: Option<i64> =
        sqlx::query_scalar(&format!("SELECT max(seq) FROM {table} WHERE at < ?"))
            .bind(to_micros(before))
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
    let Some(last) = last else {
        return Ok(0);
    };
    let done = sqlx::query(&format!("DELETE FROM {table} WHERE seq <= ?"))
        .bind(last)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    set_meta_position(&mut tx, pruned_key, last).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(done.rows_affected())
}

pub(super) async fn dispatch(
    pool: &SqlitePool,
    limit: usize,
    upto: i64,
    plan: &Plan<'_>,
) -> Result<usize> {
    // BEGIN IMMEDIATE takes the write lock first: dispatchers in other processes wait.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)?;
    let since = meta_position(&mut tx, DISPATCHED).await?;
    let req = ListEvents {
        since,
        include_data: true,
        ..ListEvents::default()
    };
    let page = read(&mut tx, &req, limit, Some(upto)).await?;
    if page.next == since {
        return Ok(0);
    }
    jobs::insert(&mut tx, &plan(&page.events)).await?;
    set_meta_position(&mut tx, DISPATCHED, page.next).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(page.events.len())
}
