//! The job queue and webhook subscriptions in SQLite. A claim is one `UPDATE …
//! RETURNING` under SQLite's single writer, so two workers never take one job.

use sqlx::{sqlite::SqliteRow, QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use super::{map_err, rows::json_text};
use crate::{
    model::{
        from_micros, now, to_micros, Job, JobCount, JobKind, JobOutcome, JobStatus, ListJobs, Page,
        Tenant, Timestamp, Webhook,
    },
    queue::JobQueue,
    store::Plan,
    validate, Error, Result,
};

const JOB_COLUMNS: &str = "id, tenant, kind, status, done, total, attempts, max_attempts, error, \
     cancel, webhook_id, output, run_at, created_at, updated_at, finished_at";

fn corrupt(e: impl std::fmt::Display) -> Error {
    Error::internal("sqlite", format!("a stored job is unreadable: {e}"))
}

fn job_from_row(row: &SqliteRow) -> Result<Job> {
    let tenant: &str = row.try_get("tenant").map_err(map_err)?;
    let kind: &str = row.try_get("kind").map_err(map_err)?;
    let status: &str = row.try_get("status").map_err(map_err)?;
    let json = |col: &str| -> Result<Option<serde_json::Value>> {
        row.try_get::<Option<String>, _>(col)
            .map_err(map_err)?
            .map(|t| serde_json::from_str(&t).map_err(corrupt))
            .transpose()
    };
    let count = |col: &str| -> Result<i64> { row.try_get(col).map_err(map_err) };
    let time = |col: &str| -> Result<Option<Timestamp>> {
        Ok(row
            .try_get::<Option<i64>, _>(col)
            .map_err(map_err)?
            .map(from_micros))
    };
    Ok(Job {
        id: row.try_get("id").map_err(map_err)?,
        tenant: Tenant::stored(tenant),
        kind: JobKind::parse(kind)?,
        status: JobStatus::parse(status)?,
        done: u64::try_from(count("done")?).unwrap_or_default(),
        total: row
            .try_get::<Option<i64>, _>("total")
            .map_err(map_err)?
            .map(|t| u64::try_from(t).unwrap_or_default()),
        attempts: u32::try_from(count("attempts")?).unwrap_or_default(),
        max_attempts: u32::try_from(count("max_attempts")?).unwrap_or_default(),
        error: row.try_get("error").map_err(map_err)?,
        cancel_requested: count("cancel")? != 0,
        webhook_id: row.try_get("webhook_id").map_err(map_err)?,
        input: json("input")?.unwrap_or_default(),
        output: json("output")?,
        run_at: time("run_at")?.unwrap_or_default(),
        created_at: time("created_at")?.unwrap_or_default(),
        updated_at: time("updated_at")?.unwrap_or_default(),
        finished_at: time("finished_at")?,
    })
}

/// Queues `jobs` inside the caller's transaction.
pub(super) async fn insert(tx: &mut SqliteConnection, jobs: &[Job]) -> Result<()> {
    for j in jobs {
        sqlx::query(
            "INSERT INTO jobs (id, tenant, kind, status, input, done, total, attempts, \
             max_attempts, webhook_id, run_at, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&j.id)
        .bind(j.tenant.as_str())
        .bind(j.kind.as_str())
        .bind(j.status.as_str())
        .bind(j.input.to_string())
        .bind(i64::try_from(j.done).unwrap_or(i64::MAX))
        .bind(j.total.map(|t| i64::try_from(t).unwrap_or(i64::MAX)))
        .bind(i64::from(j.attempts))
        .bind(i64::from(j.max_attempts))
        .bind(&j.webhook_id)
        .bind(to_micros(j.run_at))
        .bind(to_micros(j.created_at))
        .bind(to_micros(j.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    }
    Ok(())
}

pub(super) async fn enqueue(pool: &SqlitePool, jobs: &[Job]) -> Result<()> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)?;
    insert(&mut tx, jobs).await?;
    tx.commit().await.map_err(map_err)
}

pub(super) async fn claim(
    pool: &SqlitePool,
    worker: &str,
    now: Timestamp,
    lease_until: Timestamp,
    kinds: &[JobKind],
    limit: usize,
) -> Result<Vec<Job>> {
    if kinds.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let now_us = to_micros(now);
    let due = |qb: &mut QueryBuilder<'_, Sqlite>| {
        qb.push("(status = 'queued' AND run_at <= ")
            .push_bind(now_us)
            .push(" OR status = 'running' AND lease_until < ")
            .push_bind(now_us)
            .push(") AND cancel = 0 AND kind IN (");
        let mut sep = qb.separated(", ");
        for k in kinds {
            sep.push_bind(k.as_str());
        }
        qb.push(")");
    };
    // Looked for with a read first: an idle worker's poll takes no write lock.
    let mut probe = QueryBuilder::<Sqlite>::new("SELECT 1 FROM jobs WHERE ");
    due(&mut probe);
    probe.push(" LIMIT 1");
    if probe
        .build()
        .fetch_optional(pool)
        .await
        .map_err(map_err)?
        .is_none()
    {
        return Ok(Vec::new());
    }
    let mut qb = QueryBuilder::<Sqlite>::new("UPDATE jobs SET status = 'running', worker = ");
    qb.push_bind(worker)
        .push(", lease_until = ")
        .push_bind(to_micros(lease_until))
        .push(", attempts = attempts + 1, updated_at = ")
        .push_bind(now_us)
        .push(" WHERE id IN (SELECT id FROM jobs WHERE ");
    due(&mut qb);
    qb.push(" ORDER BY run_at, id LIMIT ")
        .push_bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .push(format!(") RETURNING {JOB_COLUMNS}, input"));
    let rows = qb.build().fetch_all(pool).await.map_err(map_err)?;
    let mut jobs = rows.iter().map(job_from_row).collect::<Result<Vec<_>>>()?;
    jobs.sort_by(|a, b| (a.run_at, &a.id).cmp(&(b.run_at, &b.id)));
    Ok(jobs)
}

pub(super) async fn renew(
    pool: &SqlitePool,
    id: &str,
    worker: &str,
    done: u64,
    total: Option<u64>,
    lease_until: Timestamp,
) -> Result<bool> {
    let cancel: Option<i64> = sqlx::query_scalar(
        "UPDATE jobs SET done = ?, total = ?, lease_until = ?, updated_at = ? \
         WHERE id = ? AND worker = ? AND status = 'running' RETURNING cancel",
    )
    .bind(i64::try_from(done).unwrap_or(i64::MAX))
    .bind(total.map(|t| i64::try_from(t).unwrap_or(i64::MAX)))
    .bind(to_micros(lease_until))
    .bind(to_micros(now()))
    .bind(id)
    .bind(worker)
    .fetch_optional(pool)
    .await
    .map_err(map_err)?;
    Ok(cancel == Some(0))
}

/// The condition of every update by a worker: the job is still its, and running.
macro_rules! own {
    () => {
        "WHERE id = ?2 AND worker = ?3 AND status = 'running'"
    };
}

/// Ends attempts, in one transaction. Each outcome's statement takes `?1` now,
/// `?2` id, `?3` worker, then its own parameters.
pub(super) async fn finish(
    pool: &SqlitePool,
    worker: &str,
    outcomes: &[(String, JobOutcome)],
) -> Result<u64> {
    if outcomes.is_empty() {
        return Ok(0);
    }
    let now_us = to_micros(now());
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)?;
    let mut ended = 0;
    for (id, outcome) in outcomes {
        let q = match outcome {
            JobOutcome::Done(output) => sqlx::query(concat!(
                "UPDATE jobs SET status = 'done', output = ?4, error = NULL, lease_until = NULL, \
                 finished_at = ?1, updated_at = ?1 ",
                own!()
            ))
            .bind(now_us)
            .bind(id)
            .bind(worker)
            .bind(output.as_ref().map(serde_json::Value::to_string)),
            JobOutcome::Retry { error, at } => sqlx::query(concat!(
                "UPDATE jobs SET \
                 status = CASE WHEN cancel THEN 'cancelled' \
                               WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END, \
                 finished_at = CASE WHEN cancel OR attempts >= max_attempts THEN ?1 END, \
                 run_at = ?4, error = ?5, lease_until = NULL, worker = NULL, updated_at = ?1 ",
                own!()
            ))
            .bind(now_us)
            .bind(id)
            .bind(worker)
            .bind(to_micros(*at))
            .bind(error),
            JobOutcome::Dead(error) => sqlx::query(concat!(
                "UPDATE jobs SET status = 'dead', error = ?4, lease_until = NULL, finished_at = ?1, \
                 updated_at = ?1 ",
                own!()
            ))
            .bind(now_us)
            .bind(id)
            .bind(worker)
            .bind(error),
            JobOutcome::Cancelled => sqlx::query(concat!(
                "UPDATE jobs SET status = 'cancelled', lease_until = NULL, finished_at = ?1, \
                 updated_at = ?1 ",
                own!()
            ))
            .bind(now_us)
            .bind(id)
            .bind(worker),
        };
        ended += q.execute(&mut *tx).await.map_err(map_err)?.rows_affected();
    }
    tx.commit().await.map_err(map_err)?;
    Ok(ended)
}

pub(super) async fn get(pool: &SqlitePool, id: &str) -> Result<Option<Job>> {
    let row = sqlx::query(&format!(
        "SELECT {JOB_COLUMNS}, NULL AS input FROM jobs WHERE id = ?"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(map_err)?;
    row.as_ref().map(job_from_row).transpose()
}

pub(super) async fn list(pool: &SqlitePool, req: &ListJobs) -> Result<Page<Job>> {
    let limit = validate::page_limit(req.limit)?;
    // An export's records stay out of listings (read them with `get`).
    let columns = JOB_COLUMNS.replace(
        "output",
        "CASE WHEN kind = 'export' THEN NULL ELSE output END AS output",
    );
    let mut qb = QueryBuilder::<Sqlite>::new(format!(
        "SELECT {columns}, NULL AS input FROM jobs WHERE 1 = 1"
    ));
    if let Some(t) = &req.tenant {
        qb.push(" AND tenant = ").push_bind(t.to_string());
    }
    if let Some(k) = req.kind {
        qb.push(" AND kind = ").push_bind(k.as_str());
    }
    if let Some(s) = req.status {
        qb.push(" AND status = ").push_bind(s.as_str());
    }
    if let Some(w) = &req.webhook_id {
        qb.push(" AND webhook_id = ").push_bind(w.clone());
    }
    if let Some(c) = &req.cursor {
        qb.push(" AND id < ").push_bind(c.clone());
    }
    qb.push(" ORDER BY id DESC LIMIT ")
        .push_bind((limit + 1) as i64);
    let rows = qb.build().fetch_all(pool).await.map_err(map_err)?;
    let items = rows.iter().map(job_from_row).collect::<Result<Vec<_>>>()?;
    Ok(Page::from_overfetch(items, limit, |j| j.id.clone()))
}

pub(super) async fn cancel(pool: &SqlitePool, id: &str) -> Result<Option<Job>> {
    let now_us = to_micros(now());
    sqlx::query(
        "UPDATE jobs SET status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END, \
         finished_at = CASE WHEN status = 'queued' THEN ?1 ELSE finished_at END, \
         cancel = CASE WHEN status = 'running' THEN 1 ELSE cancel END, updated_at = ?1 \
         WHERE id = ?2 AND status IN ('queued', 'running')",
    )
    .bind(now_us)
    .bind(id)
    .execute(pool)
    .await
    .map_err(map_err)?;
    get(pool, id).await
}

pub(super) async fn counts(pool: &SqlitePool) -> Result<Vec<JobCount>> {
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT kind, status, count(*) FROM jobs GROUP BY kind, status")
            .fetch_all(pool)
            .await
            .map_err(map_err)?;
    rows.into_iter()
        .map(|(k, s, n)| {
            Ok(JobCount {
                kind: JobKind::parse(&k)?,
                status: JobStatus::parse(&s)?,
                count: u64::try_from(n).unwrap_or_default(),
            })
        })
        .collect()
}

pub(super) async fn put_webhook(pool: &SqlitePool, hook: &Webhook) -> Result<()> {
    sqlx::query(
        "INSERT INTO webhooks (id, tenant, url, kinds, namespaces, secret, include_data, since, \
         created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&hook.id)
    .bind(hook.tenant.as_str())
    .bind(&hook.url)
    .bind(json_text(&hook.kinds)?)
    .bind(hook.namespaces.as_ref().map(json_text).transpose()?)
    .bind(&hook.secret)
    .bind(hook.include_data)
    .bind(hook.since)
    .bind(to_micros(hook.created_at))
    .execute(pool)
    .await
    .map(|_| ())
    .map_err(map_err)
}

pub(super) async fn webhooks(pool: &SqlitePool, tenant: Option<&Tenant>) -> Result<Vec<Webhook>> {
    let rows = sqlx::query(
        "SELECT id, tenant, url, kinds, namespaces, secret, include_data, since, created_at \
         FROM webhooks WHERE ?1 IS NULL OR tenant = ?1 ORDER BY id",
    )
    .bind(tenant.map(Tenant::as_str))
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    rows.iter()
        .map(|row| {
            let tenant: &str = row.try_get("tenant").map_err(map_err)?;
            let kinds: String = row.try_get("kinds").map_err(map_err)?;
            let namespaces: Option<String> = row.try_get("namespaces").map_err(map_err)?;
            Ok(Webhook {
                id: row.try_get("id").map_err(map_err)?,
                tenant: Tenant::stored(tenant),
                url: row.try_get("url").map_err(map_err)?,
                kinds: serde_json::from_str(&kinds).map_err(corrupt)?,
                namespaces: namespaces
                    .map(|n| serde_json::from_str(&n))
                    .transpose()
                    .map_err(corrupt)?,
                include_data: row.try_get("include_data").map_err(map_err)?,
                since: row.try_get("since").map_err(map_err)?,
                created_at: from_micros(row.try_get("created_at").map_err(map_err)?),
                secret: row.try_get("secret").map_err(map_err)?,
            })
        })
        .collect()
}

pub(super) async fn delete_webhook(pool: &SqlitePool, id: &str) -> Result<bool> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)?;
    let gone = sqlx::query("DELETE FROM webhooks WHERE id = ?")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?
        .rows_affected();
    let now_us = to_micros(now());
    sqlx::query(
        "UPDATE jobs SET status = 'cancelled', finished_at = ?1, updated_at = ?1 \
         WHERE webhook_id = ?2 AND status = 'queued'",
    )
    .bind(now_us)
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(map_err)?;
    tx.commit().await.map_err(map_err)?;
    Ok(gone > 0)
}

pub(super) async fn prune(pool: &SqlitePool, before: Timestamp) -> Result<u64> {
    // A job whose cancelling was asked and whose worker then died ends here.
    let now_us = to_micros(now());
    sqlx::query(
        "UPDATE jobs SET status = 'cancelled', finished_at = ?1, updated_at = ?1 \
         WHERE status = 'running' AND cancel = 1 AND lease_until < ?1",
    )
    .bind(now_us)
    .execute(pool)
    .await
    .map_err(map_err)?;
    sqlx::query(
        "DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ? \
         AND status IN ('done', 'cancelled', 'dead')",
    )
    .bind(to_micros(before))
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    .map_err(map_err)
}

#[async_trait::async_trait]
impl JobQueue for super::SqliteStore {
    async fn enqueue_jobs(&self, batch: &[Job]) -> Result<()> {
        enqueue(&self.pool, batch).await
    }

    async fn claim_jobs(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
        kinds: &[JobKind],
        limit: usize,
    ) -> Result<Vec<Job>> {
        claim(&self.pool, worker, now, lease_until, kinds, limit).await
    }

    async fn renew_job(
        &self,
        id: &str,
        worker: &str,
        done: u64,
        total: Option<u64>,
        lease_until: Timestamp,
    ) -> Result<bool> {
        renew(&self.pool, id, worker, done, total, lease_until).await
    }

    async fn finish_jobs(&self, worker: &str, outcomes: &[(String, JobOutcome)]) -> Result<u64> {
        finish(&self.pool, worker, outcomes).await
    }

    async fn get_job(&self, id: &str) -> Result<Option<Job>> {
        get(&self.pool, id).await
    }

    async fn list_jobs(&self, req: &ListJobs) -> Result<Page<Job>> {
        list(&self.pool, req).await
    }

    async fn cancel_job(&self, id: &str) -> Result<Option<Job>> {
        cancel(&self.pool, id).await
    }

    async fn job_counts(&self) -> Result<Vec<JobCount>> {
        counts(&self.pool).await
    }

    async fn put_webhook(&self, hook: &Webhook) -> Result<()> {
        put_webhook(&self.pool, hook).await
    }

    async fn webhooks(&self, tenant: Option<&Tenant>) -> Result<Vec<Webhook>> {
        webhooks(&self.pool, tenant).await
    }

    async fn delete_webhook(&self, id: &str) -> Result<bool> {
        delete_webhook(&self.pool, id).await
    }

    async fn dispatch_events(&self, limit: usize, upto: i64, plan: &Plan<'_>) -> Result<usize> {
        super::events::dispatch(&self.pool, limit, upto, plan).await
    }

    async fn prune_jobs(&self, before: Timestamp) -> Result<u64> {
        prune(&self.pool, before).await
    }
}
