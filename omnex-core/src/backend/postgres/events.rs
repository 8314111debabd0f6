//! The event log in PostgreSQL: appended in each write's transaction under the
//! change-log lock, so positions become visible in order.

use sqlx::{postgres::PgRow, PgConnection, PgPool, Postgres, QueryBuilder, Row};

use super::{
    jobs,
    store::{set_meta, CHANGE_LOG_LOCK},
};
use crate::{
    model::{Event, EventPage, ListEvents, Subject, Tenant, Timestamp},
    store::Plan,
    validate, Error, Result,
};

fn map_err(e: sqlx::Error) -> Error {
    super::map_err("postgres", e)
}

const PRUNED_THROUGH: &str = "events_pruned_through";
const DISPATCHED: &str = "events_dispatched";
/// The advisory lock dispatchers take, so each event is planned once.
const DISPATCH_LOCK: i64 = 0x6f6d_6e65_785f_6470; // "omnex_dp"

/// Appends `events` inside the caller's transaction, which must write nothing
/// after it (the change-log lock is held until commit).
pub(super) async fn append(tx: &mut PgConnection, events: &[Event]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CHANGE_LOG_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    let col = |f: fn(&Event) -> Option<String>| events.iter().map(f).collect::<Vec<_>>();
    let ats: Vec<Timestamp> = events.iter().map(|e| e.at).collect();
    let versions: Vec<i64> = events
        .iter()
        .map(|e| i64::try_from(e.version).unwrap_or(i64::MAX))
        .collect();
    let data: Vec<Option<serde_json::Value>> = events.iter().map(|e| e.data.clone()).collect();
    sqlx::query(
        "INSERT INTO events (at, tenant, kind, namespace, entity_id, key, user_id, agent_id, \
         session_id, version, actor, data) \
         SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], \
                              $6::text[], $7::text[], $8::text[], $9::text[], $10::int8[], \
                              $11::text[], $12::jsonb[])",
    )
    .bind(&ats)
    .bind(col(|e| Some(e.tenant.to_string())))
    .bind(col(|e| Some(e.kind.as_str().to_owned())))
    .bind(col(|e| Some(e.namespace.clone())))
    .bind(col(|e| Some(e.id.clone())))
    .bind(col(|e| e.key.clone()))
    .bind(col(|e| e.user_id.clone()))
    .bind(col(|e| e.agent_id.clone()))
    .bind(col(|e| e.session_id.clone()))
    .bind(&versions)
    .bind(col(|e| e.actor.clone()))
    .bind(&data)
    .execute(&mut *tx)
    .await
    .map(|_| ())
    .map_err(map_err)
}

fn event_from_row(row: &PgRow) -> Result<Event> {
    let kind: &str = row.try_get("kind").map_err(map_err)?;
    let tenant: &str = row.try_get("tenant").map_err(map_err)?;
    let version: i64 = row.try_get("version").map_err(map_err)?;
    Ok(Event {
        seq: row.try_get("seq").map_err(map_err)?,
        kind: kind.parse()?,
        at: row.try_get("at").map_err(map_err)?,
        tenant: Tenant::stored(tenant),
        namespace: row.try_get("namespace").map_err(map_err)?,
        id: row.try_get("entity_id").map_err(map_err)?,
        key: row.try_get("key").map_err(map_err)?,
        user_id: row.try_get("user_id").map_err(map_err)?,
        agent_id: row.try_get("agent_id").map_err(map_err)?,
        session_id: row.try_get("session_id").map_err(map_err)?,
        version: u64::try_from(version).unwrap_or_default(),
        actor: row.try_get("actor").map_err(map_err)?,
        data: row.try_get("data").map_err(map_err)?,
    })
}

/// The newest position, kept when the log is pruned.
async fn head(conn: &mut PgConnection) -> Result<i64> {
    sqlx::query_scalar::<_, Option<i64>>(
        "SELECT greatest((SELECT max(seq) FROM events), \
                (SELECT CASE WHEN is_called THEN last_value END FROM events_seq_seq))",
    )
    .fetch_one(&mut *conn)
    .await
    .map(Option::unwrap_or_default)
    .map_err(map_err)
}

async fn meta_position(conn: &mut PgConnection, key: &str) -> Result<i64> {
    let v: Option<String> = sqlx::query_scalar("SELECT value FROM omnex_meta WHERE key = $1")
        .bind(key)
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// Reads events after `req.since` up to the newest committed position seen when
/// the read began.
async fn read(
    conn: &mut PgConnection,
    req: &ListEvents,
    limit: usize,
    upto: Option<i64>,
) -> Result<EventPage> {
    // A position is only visible once every smaller one is (the change-log lock),
    // so the largest visible one bounds what a page that is not full has seen.
    let head: i64 = sqlx::query_scalar::<_, Option<i64>>("SELECT max(seq) FROM events")
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?
        .unwrap_or(0)
        .min(upto.unwrap_or(i64::MAX));
    let oldest = meta_position(conn, PRUNED_THROUGH).await? + 1;
    let data = if req.include_data {
        "data"
    } else {
        "NULL::jsonb AS data"
    };
    let mut qb = QueryBuilder::<Postgres>::new(format!(
        "SELECT seq, at, tenant, kind, namespace, entity_id, key, user_id, agent_id, session_id, \
         version, actor, {data} FROM events WHERE seq > "
    ));
    qb.push_bind(req.since).push(" AND seq <= ").push_bind(head);
    if let Some(t) = &req.tenant {
        qb.push(" AND tenant = ").push_bind(t.to_string());
    }
    if !req.namespaces.is_empty() {
        qb.push(" AND namespace = ANY(")
            .push_bind(req.namespaces.clone())
            .push(")");
    }
    if !req.kinds.is_empty() {
        let kinds: Vec<&str> = req.kinds.iter().map(|k| k.as_str()).collect();
        qb.push(" AND kind = ANY(").push_bind(kinds).push(")");
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

pub(super) async fn list(pool: &PgPool, req: &ListEvents) -> Result<EventPage> {
    let limit = validate::event_limit(req.limit)?;
    let mut conn = pool.acquire().await.map_err(map_err)?;
    read(&mut conn, req, limit, None).await
}

pub(super) async fn event_head(pool: &PgPool) -> Result<i64> {
    let mut conn = pool.acquire().await.map_err(map_err)?;
    head(&mut conn).await
}

pub(super) async fn prune(pool: &PgPool, before: Timestamp) -> Result<u64> {
    prune_log(pool, "events", PRUNED_THROUGH, before).await
}

/// Deletes the entries of a log table (`events`, `memory_changes`) older than
/// `before` under the change-log lock, recording under `pruned_key` the last
/// position removed.
pub(super) async fn prune_log(
    pool: &PgPool,
    table: &'static str,
    pruned_key: &str,
    before: Timestamp,
) -> Result<u64> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(CHANGE_LOG_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    let last: Option<i64> =
        sqlx::query_scalar(&format!("SELECT max(seq) FROM {table} WHERE at < $1"))
            .bind(before)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
    let Some(last) = last else {
        return Ok(0);
    };
    let done = sqlx::query(&format!("DELETE FROM {table} WHERE seq <= $1"))
        .bind(last)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    set_meta(&mut tx, pruned_key, &last.to_string()).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(done.rows_affected())
}

pub(super) async fn dispatch(
    pool: &PgPool,
    limit: usize,
    upto: i64,
    plan: &Plan<'_>,
) -> Result<usize> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(DISPATCH_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
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
    set_meta(&mut tx, DISPATCHED, &page.next.to_string()).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(page.events.len())
}
