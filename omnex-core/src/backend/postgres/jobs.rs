//! The job queue and webhook subscriptions in PostgreSQL. Workers claim with
//! `FOR UPDATE SKIP LOCKED`: any number of them, in any number of processes, share
//! the queue without taking one job twice or waiting on each other.

use sqlx::{postgres::PgRow, PgConnection, PgPool, Postgres, QueryBuilder, Row};

use crate::{
    model::{
        now, Job, JobCount, JobKind, JobOutcome, JobStatus, ListJobs, Page, Tenant, Timestamp,
        Webhook,
    },
    queue::JobQueue,
    store::Plan,
    validate, Error, Result,
};

fn map_err(e: sqlx::Error) -> Error {
    super::map_err("postgres", e)
}

const JOB_COLUMNS: &str = "id, tenant, kind, status, done, total, attempts, max_attempts, error, \
     cancel, webhook_id, output, run_at, created_at, updated_at, finished_at";

fn job_from_row(row: &PgRow) -> Result<Job> {
    let tenant: &str = row.try_get("tenant").map_err(map_err)?;
    let kind: &str = row.try_get("kind").map_err(map_err)?;
    let status: &str = row.try_get("status").map_err(map_err)?;
    let count = |col: &str| -> Result<i64> { row.try_get(col).map_err(map_err) };
    let small = |col: &str| -> Result<i32> { row.try_get(col).map_err(map_err) };
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
        attempts: u32::try_from(small("attempts")?).unwrap_or_default(),
        max_attempts: u32::try_from(small("max_attempts")?).unwrap_or_default(),
        error: row.try_get("error").map_err(map_err)?,
        cancel_requested: row.try_get("cancel").map_err(map_err)?,
        webhook_id: row.try_get("webhook_id").map_err(map_err)?,
        input: row
            .try_get::<Option<serde_json::Value>, _>("input")
            .map_err(map_err)?
            .unwrap_or_default(),
        output: row.try_get("output").map_err(map_err)?,
        run_at: row.try_get("run_at").map_err(map_err)?,
        created_at: row.try_get("created_at").map_err(map_err)?,
        updated_at: row.try_get("updated_at").map_err(map_err)?,
        finished_at: row.try_get("finished_at").map_err(map_err)?,
    })
}

/// Queues `jobs` inside the caller's transaction.
pub(super) async fn insert(tx: &mut PgConnection, jobs: &[Job]) -> Result<()> {
    for j in jobs {
        sqlx::query(
            "INSERT INTO jobs (id, tenant, kind, status, input, done, total, attempts, \
             max_attempts, webhook_id, run_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&j.id)
        .bind(j.tenant.as_str())
        .bind(j.kind.as_str())
        .bind(j.status.as_str())
        .bind(&j.input)
        .bind(i64::try_from(j.done).unwrap_or(i64::MAX))
        .bind(j.total.map(|t| i64::try_from(t).unwrap_or(i64::MAX)))
        .bind(i32::try_from(j.attempts).unwrap_or(i32::MAX))
        .bind(i32::try_from(j.max_attempts).unwrap_or(i32::MAX))
        .bind(&j.webhook_id)
        .bind(j.run_at)
        .bind(j.created_at)
        .bind(j.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    }
    Ok(())
}

pub(super) async fn enqueue(pool: &PgPool, jobs: &[Job]) -> Result<()> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    insert(&mut tx, jobs).await?;
    tx.commit().await.map_err(map_err)
}

pub(super) async fn claim(
    pool: &PgPool,
    worker: &str,
    now: Timestamp,
    lease_until: Timestamp,
    kinds: &[JobKind],
    limit: usize,
) -> Result<Vec<Job>> {
    if kinds.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    let rows = sqlx::query(&format!(
        "UPDATE jobs SET status = 'running', worker = $1, lease_until = $2, \
         attempts = attempts + 1, updated_at = $3 \
         WHERE id IN (SELECT id FROM jobs WHERE ((status = 'queued' AND run_at <= $3) \
                      OR (status = 'running' AND lease_until < $3)) AND NOT cancel \
                      AND kind = ANY($4) \
                      ORDER BY run_at, id LIMIT $5 FOR UPDATE SKIP LOCKED) \
         RETURNING {JOB_COLUMNS}, input"
    ))
    .bind(worker)
    .bind(lease_until)
    .bind(now)
    .bind(&kinds)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    let mut jobs = rows.iter().map(job_from_row).collect::<Result<Vec<_>>>()?;
    jobs.sort_by(|a, b| (a.run_at, &a.id).cmp(&(b.run_at, &b.id)));
    Ok(jobs)
}

pub(super) async fn renew(
    pool: &PgPool,
    id: &str,
    worker: &str,
    done: u64,
    total: Option<u64>,
    lease_until: Timestamp,
) -> Result<bool> {
    let cancel: Option<bool> = sqlx::query_scalar(
        "UPDATE jobs SET done = $1, total = $2, lease_until = $3, updated_at = $4 \
         WHERE id = $5 AND worker = $6 AND status = 'running' RETURNING cancel",
    )
    .bind(i64::try_from(done).unwrap_or(i64::MAX))
    .bind(total.map(|t| i64::try_from(t).unwrap_or(i64::MAX)))
    .bind(lease_until)
    .bind(now())
    .bind(id)
    .bind(worker)
    .fetch_optional(pool)
    .await
    .map_err(map_err)?;
    Ok(cancel == Some(false))
}

/// The condition of every update by a worker: the job is still its, and running.
macro_rules! own {
    () => {
        "WHERE id = $2 AND worker = $3 AND status = 'running'"
    };
}

/// Ends attempts, in one transaction. Each outcome's statement takes `$1` now,
/// `$2` id, `$3` worker, then its own parameters.
pub(super) async fn finish(
    pool: &PgPool,
    worker: &str,
    outcomes: &[(String, JobOutcome)],
) -> Result<u64> {
    if outcomes.is_empty() {
        return Ok(0);
    }
    let now = now();
    let mut tx = pool.begin().await.map_err(map_err)?;
    let mut ended = 0;
    for (id, outcome) in outcomes {
        let q = match outcome {
            JobOutcome::Done(output) => sqlx::query(concat!(
                "UPDATE jobs SET status = 'done', output = $4, error = NULL, lease_until = NULL, \
                 finished_at = $1, updated_at = $1 ",
                own!()
            ))
            .bind(now)
            .bind(id)
            .bind(worker)
            .bind(output),
            JobOutcome::Retry { error, at } => sqlx::query(concat!(
                "UPDATE jobs SET \
                 status = CASE WHEN cancel THEN 'cancelled' \
                               WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END, \
                 finished_at = CASE WHEN cancel OR attempts >= max_attempts THEN $1 END, \
                 run_at = $4, error = $5, lease_until = NULL, worker = NULL, updated_at = $1 ",
                own!()
            ))
            .bind(now)
            .bind(id)
            .bind(worker)
            .bind(*at)
            .bind(error),
            JobOutcome::Dead(error) => sqlx::query(concat!(
                "UPDATE jobs SET status = 'dead', error = $4, lease_until = NULL, finished_at = $1, \
                 updated_at = $1 ",
                own!()
            ))
            .bind(now)
            .bind(id)
            .bind(worker)
            .bind(error),
            JobOutcome::Cancelled => sqlx::query(concat!(
                "UPDATE jobs SET status = 'cancelled', lease_until = NULL, finished_at = $1, \
                 updated_at = $1 ",
                own!()
            ))
            .bind(now)
            .bind(id)
            .bind(worker),
        };
        ended += q.execute(&mut *tx).await.map_err(map_err)?.rows_affected();
    }
    tx.commit().await.map_err(map_err)?;
    Ok(ended)
}

pub(super) async fn get(pool: &PgPool, id: &str) -> Result<Option<Job>> {
    let row = sqlx::query(&format!(
        "SELECT {JOB_COLUMNS}, NULL::jsonb AS input FROM jobs WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(map_err)?;
    row.as_ref().map(job_from_row).transpose()
}

pub(super) async fn list(pool: &PgPool, req: &ListJobs) -> Result<Page<Job>> {
    let limit = validate::page_limit(req.limit)?;
    // An export's records stay out of listings (read them with `get`).
    let columns = JOB_COLUMNS.replace(
        "output",
        "CASE WHEN kind = 'export' THEN NULL ELSE output END AS output",
    );
    let mut qb = QueryBuilder::<Postgres>::new(format!(
        "SELECT {columns}, NULL::jsonb AS input FROM jobs WHERE TRUE"
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

pub(super) async fn cancel(pool: &PgPool, id: &str) -> Result<Option<Job>> {
    sqlx::query(
        "UPDATE jobs SET status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END, \
         finished_at = CASE WHEN status = 'queued' THEN $1 ELSE finished_at END, \
         cancel = cancel OR status = 'running', updated_at = $1 \
         WHERE id = $2 AND status IN ('queued', 'running')",
    )
    .bind(now())
    .bind(id)
    .execute(pool)
    .await
    .map_err(map_err)?;
    get(pool, id).await
}

pub(super) async fn counts(pool: &PgPool) -> Result<Vec<JobCount>> {
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

pub(super) async fn put_webhook(pool: &PgPool, hook: &Webhook) -> Result<()> {
    let kinds: Vec<&str> = hook.kinds.iter().map(|k| k.as_str()).collect();
    sqlx::query(
        "INSERT INTO webhooks (id, tenant, url, kinds, namespaces, secret, include_data, since, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&hook.id)
    .bind(hook.tenant.as_str())
    .bind(&hook.url)
    .bind(kinds)
    .bind(&hook.namespaces)
    .bind(&hook.secret)
    .bind(hook.include_data)
    .bind(hook.since)
    .bind(hook.created_at)
    .execute(pool)
    .await
    .map(|_| ())
    .map_err(map_err)
}

pub(super) async fn webhooks(pool: &PgPool, tenant: Option<&Tenant>) -> Result<Vec<Webhook>> {
    let rows = sqlx::query(
        "SELECT id, tenant, url, kinds, namespaces, secret, include_data, since, created_at \
         FROM webhooks WHERE $1::text IS NULL OR tenant = $1 ORDER BY id",
    )
    .bind(tenant.map(Tenant::as_str))
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    rows.iter()
        .map(|row| {
            let tenant: &str = row.try_get("tenant").map_err(map_err)?;
            let kinds: Vec<String> = row.try_get("kinds").map_err(map_err)?;
            Ok(Webhook {
                id: row.try_get("id").map_err(map_err)?,
                tenant: Tenant::stored(tenant),
                url: row.try_get("url").map_err(map_err)?,
                kinds: kinds
                    .iter()
                    .map(|k| k.parse())
                    .collect::<Result<Vec<_>>>()?,
                namespaces: row.try_get("namespaces").map_err(map_err)?,
                include_data: row.try_get("include_data").map_err(map_err)?,
                since: row.try_get("since").map_err(map_err)?,
                created_at: row.try_get("created_at").map_err(map_err)?,
                secret: row.try_get("secret").map_err(map_err)?,
            })
        })
        .collect()
}

pub(super) async fn delete_webhook(pool: &PgPool, id: &str) -> Result<bool> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    let gone = sqlx::query("DELETE FROM webhooks WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?
        .rows_affected();
    sqlx::query(
        "UPDATE jobs SET status = 'cancelled', finished_at = $1, updated_at = $1 \
         WHERE webhook_id = $2 AND status = 'queued'",
    )
    .bind(now())
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(map_err)?;
    tx.commit().await.map_err(map_err)?;
    Ok(gone > 0)
}

pub(super) async fn prune(pool: &PgPool, before: Timestamp) -> Result<u64> {
    // A job whose cancelling was asked and whose worker then died ends here.
    let now = now();
    sqlx::query(
        "UPDATE jobs SET status = 'cancelled', finished_at = $1, updated_at = $1 \
         WHERE status = 'running' AND cancel AND lease_until < $1",
    )
    .bind(now)
    .execute(pool)
    .await
    .map_err(map_err)?;
    sqlx::query(
        "DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < $1 \
         AND status IN ('done', 'cancelled', 'dead')",
    )
    .bind(before)
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
    .map_err(map_err)
}

#[async_trait::async_trait]
impl JobQueue for super::PostgresStore {
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
