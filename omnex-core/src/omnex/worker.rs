//! Workers: they take jobs from the store's queue under a lease and run them, and
//! turn new events into webhook deliveries.
//!
//! A worker renews its lease at each checkpoint. One that dies (even by SIGKILL)
//! stops renewing it, and once it runs out the job goes to the next worker, which
//! resumes from the last checkpoint. What a job writes is keyed so that running a
//! part again changes nothing: an asynchronous batch writes the ids chosen when it
//! was queued, an import restores records by id and key.

use std::{
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use tracing::{debug, warn};

use super::{
    jobs::{EmbedInput, ImportInput, PlainInput},
    Inner, Omnex,
};
use crate::{
    model::{now, Event, Job, JobKind, JobOutcome, Principal, Timestamp, Webhook},
    Error, Result,
};

/// Memories embedded and written between two checkpoints of an `embed` job.
const EMBED_CHUNK: usize = 64;
/// Events read by one step of the webhook dispatcher.
const DISPATCH_BATCH: usize = 500;
/// Webhook deliveries claimed, sent at once and finished together by one step.
const DELIVERY_BATCH: usize = 64;
/// The kinds the job loops run: everything but webhook deliveries, which have a
/// loop of their own so that they never wait behind a long job.
const BULK_KINDS: [JobKind; 5] = [
    JobKind::Embed,
    JobKind::Import,
    JobKind::Export,
    JobKind::Reindex,
    JobKind::Cleanup,
];
/// How long a webhook receiver has to answer.
#[cfg(feature = "webhooks")]
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// How a pool of workers runs: a dispatcher, a loop of webhook deliveries (in
/// batches of 64, sent at once) and `concurrency` loops of other jobs.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Jobs other than webhook deliveries run at once.
    pub concurrency: usize,
    /// How long a claimed job stays this worker's without a checkpoint; a dead
    /// worker's job is taken over after it.
    pub lease: Duration,
    /// How often an idle worker looks for jobs written by other processes (jobs
    /// and events of this process wake it at once).
    pub poll: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            concurrency: 2,
            lease: Duration::from_secs(30),
            poll: Duration::from_millis(250),
        }
    }
}

/// What stops a job early.
enum Stop {
    /// Cancelling was asked, or the job is no longer this worker's.
    Cancelled,
    /// It failed.
    Failed(Error),
    /// It failed, and the other side asked to wait at least this long.
    #[cfg_attr(not(feature = "webhooks"), allow(dead_code))]
    Later(Error, Duration),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Self::Failed(e)
    }
}

/// One claimed job and the means to checkpoint it.
struct Lease<'a> {
    omnex: &'a Omnex,
    job: &'a Job,
    worker: &'a str,
    lease: Duration,
    /// The last progress recorded, which the heartbeat records again.
    progress: parking_lot::Mutex<(u64, Option<u64>)>,
}

impl Lease<'_> {
    /// Records progress and renews the lease; `Stop::Cancelled` when the job was
    /// cancelled or taken over.
    async fn checkpoint(&self, done: u64, total: Option<u64>) -> std::result::Result<(), Stop> {
        *self.progress.lock() = (done, total);
        let until = now() + chrono::TimeDelta::from_std(self.lease).unwrap_or_default();
        if self
            .omnex
            .inner
            .store
            .renew_job(&self.job.id, self.worker, done, total, until)
            .await?
        {
            Ok(())
        } else {
            Err(Stop::Cancelled)
        }
    }

    /// Runs `work` while renewing the lease every third of it, so a job without
    /// checkpoints of its own (an import, an export, a delivery) keeps its lease; a
    /// cancel or a takeover seen by the heartbeat stops `work`, except a reindex,
    /// which always finishes (stopped half-way it would leave the index half-built).
    async fn heartbeat<T>(
        &self,
        work: impl std::future::Future<Output = std::result::Result<T, Stop>>,
    ) -> std::result::Result<T, Stop> {
        // Two futures polled side by side: the renewal waits for the store without
        // holding up the job (which may hold the store's write lock meanwhile).
        let beat = async {
            let mut tick = tokio::time::interval((self.lease / 3).max(Duration::from_millis(100)));
            tick.tick().await;
            loop {
                tick.tick().await;
                let (done, total) = *self.progress.lock();
                match self.checkpoint(done, total).await {
                    Err(Stop::Cancelled) if self.job.kind != JobKind::Reindex => {
                        return Stop::Cancelled;
                    }
                    Err(e @ Stop::Failed(_)) => {
                        warn!(job = %self.job.id, error = %stop_text(&e), "cannot renew a job's lease");
                    }
                    _ => {}
                }
            }
        };
        tokio::pin!(work);
        tokio::pin!(beat);
        tokio::select! {
            out = &mut work => out,
            stop = &mut beat => Err(stop),
        }
    }
}

fn stop_text(stop: &Stop) -> String {
    match stop {
        Stop::Cancelled => "cancelled".into(),
        Stop::Failed(e) | Stop::Later(e, _) => e.to_string(),
    }
}

impl Omnex {
    /// Runs `opts.concurrency` workers and the webhook dispatcher until `shutdown`
    /// completes. Jobs in flight are then abandoned: another worker takes each over
    /// when its lease runs out (the attempt counts).
    /// `omnex worker` runs this; servers run it in the background (`workers`).
    pub async fn run_workers(
        &self,
        opts: WorkerOptions,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> Result<()> {
        let handles = self.spawn_workers(&opts);
        shutdown.await;
        for h in &handles {
            h.abort();
        }
        Ok(())
    }

    /// Starts the background workers of `config.workers`.
    pub(super) fn start_workers(&self) {
        let n = self.inner.config.workers;
        if n == 0 {
            return;
        }
        let opts = WorkerOptions {
            concurrency: n,
            ..WorkerOptions::default()
        };
        let handles = self.spawn_workers(&opts);
        self.inner.tasks.lock().extend(handles);
    }

    fn spawn_workers(&self, opts: &WorkerOptions) -> Vec<tokio::task::JoinHandle<()>> {
        let weak = Arc::downgrade(&self.inner);
        let base = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::now_v7().simple().to_string()[24..]
        );
        let mut handles = vec![
            tokio::spawn(dispatch_loop(weak.clone(), opts.poll)),
            tokio::spawn(work_loop(
                weak.clone(),
                format!("{base}-hooks"),
                opts.clone(),
                Loop::Deliveries,
            )),
        ];
        for slot in 0..opts.concurrency.max(1) {
            let name = format!("{base}-{slot}");
            handles.push(tokio::spawn(work_loop(
                weak.clone(),
                name,
                opts.clone(),
                Loop::Jobs,
            )));
        }
        handles
    }

    /// Turns new events into webhook deliveries; returns the events read.
    pub async fn dispatch_webhooks(&self) -> Result<usize> {
        // The head is read before the webhooks: one made after this read has a
        // `since` at or past it, so no event this step plans is one it wants.
        let upto = self.inner.store.event_head().await?;
        let hooks = self.inner.store.webhooks(None).await?;
        if hooks.is_empty() {
            return Ok(0);
        }
        let attempts = self.inner.config.webhook_attempts.max(1);
        let plan = move |events: &[Event]| -> Vec<Job> {
            let mut jobs = Vec::new();
            for event in events {
                for hook in hooks.iter().filter(|h| h.wants(event)) {
                    let mut body = event.clone();
                    if !hook.include_data {
                        body.data = None;
                    }
                    let input = serde_json::json!({ "event": body });
                    let mut job = Job::new(event.tenant.clone(), JobKind::Webhook, input, attempts);
                    job.webhook_id = Some(hook.id.clone());
                    jobs.push(job);
                }
            }
            jobs
        };
        let n = self
            .inner
            .store
            .dispatch_events(DISPATCH_BATCH, upto, &plan)
            .await?;
        if n > 0 {
            self.inner.work.notify_waiters();
        }
        Ok(n)
    }

    /// Claims one due job (any kind but webhook deliveries) and runs it; `false`
    /// when there was none.
    pub async fn run_one_job(&self, worker: &str, lease: Duration) -> Result<bool> {
        let claimed = self.claim(worker, lease, &BULK_KINDS, 1).await?;
        let Some((job, at)) = claimed.into_iter().next() else {
            return Ok(false);
        };
        let outcome = self.attempt(&job, at, worker, lease).await;
        self.inner
            .store
            .finish_jobs(worker, &[(job.id.clone(), outcome)])
            .await?;
        Ok(true)
    }

    /// Claims up to `DELIVERY_BATCH` due webhook deliveries, sends them at once and
    /// records their outcomes in one transaction; returns how many there were.
    pub async fn run_deliveries(&self, worker: &str, lease: Duration) -> Result<usize> {
        let claimed = self
            .claim(worker, lease, &[JobKind::Webhook], DELIVERY_BATCH)
            .await?;
        let n = claimed.len();
        if n == 0 {
            return Ok(0);
        }
        let attempts = claimed.iter().map(|(job, at)| async move {
            let outcome = self.attempt(job, *at, worker, lease).await;
            (job.id.clone(), outcome)
        });
        let outcomes = futures::future::join_all(attempts).await;
        self.inner.store.finish_jobs(worker, &outcomes).await?;
        Ok(n)
    }

    /// Claims jobs of `kinds`, each with the time it was claimed.
    async fn claim(
        &self,
        worker: &str,
        lease: Duration,
        kinds: &[JobKind],
        limit: usize,
    ) -> Result<Vec<(Job, Timestamp)>> {
        let at = now();
        let until = at + chrono::TimeDelta::from_std(lease).unwrap_or_default();
        let jobs = self
            .inner
            .store
            .claim_jobs(worker, at, until, kinds, limit)
            .await?;
        Ok(jobs.into_iter().map(|j| (j, at)).collect())
    }

    /// Runs one attempt of a claimed job and says how it ended (with metrics).
    async fn attempt(
        &self,
        job: &Job,
        claimed: Timestamp,
        worker: &str,
        lease: Duration,
    ) -> JobOutcome {
        let kind = job.kind.as_str();
        let waited = (claimed - job.run_at).to_std().unwrap_or_default();
        metrics::histogram!("omnex_job_wait_seconds", "kind" => kind).record(waited.as_secs_f64());
        let started = Instant::now();
        let outcome = if job.attempts > job.max_attempts {
            JobOutcome::Dead(format!(
                "its workers stopped {} times before finishing it",
                job.attempts - 1
            ))
        } else {
            let lease = Lease {
                omnex: self,
                job,
                worker,
                lease,
                progress: parking_lot::Mutex::new((job.done, job.total)),
            };
            match lease.heartbeat(self.run_job(&lease)).await {
                Ok(output) => JobOutcome::Done(output),
                Err(Stop::Cancelled) => JobOutcome::Cancelled,
                Err(Stop::Failed(e)) if is_permanent(&e) => JobOutcome::Dead(e.to_string()),
                Err(Stop::Failed(e)) => JobOutcome::Retry {
                    error: e.to_string(),
                    at: now() + backoff(job.attempts, None),
                },
                Err(Stop::Later(e, asked)) => JobOutcome::Retry {
                    error: e.to_string(),
                    at: now() + backoff(job.attempts, Some(asked)),
                },
            }
        };
        let label = match &outcome {
            JobOutcome::Done(_) => "done",
            JobOutcome::Retry { .. } if job.attempts >= job.max_attempts => "dead",
            JobOutcome::Retry { .. } => "retry",
            JobOutcome::Dead(_) => "dead",
            JobOutcome::Cancelled => "cancelled",
        };
        metrics::histogram!("omnex_job_seconds", "kind" => kind)
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("omnex_jobs_finished_total", "kind" => kind, "outcome" => label)
            .increment(1);
        if label != "done" {
            debug!(job = %job.id, kind, outcome = label, "job attempt ended");
        }
        outcome
    }

    async fn run_job(
        &self,
        lease: &Lease<'_>,
    ) -> std::result::Result<Option<serde_json::Value>, Stop> {
        let job = lease.job;
        let bad_input = |e: serde_json::Error| {
            Stop::Failed(Error::invalid_input(
                "input",
                format!("this job's input is unreadable: {e}"),
            ))
        };
        match job.kind {
            JobKind::Embed => {
                let input: EmbedInput =
                    serde_json::from_value(job.input.clone()).map_err(bad_input)?;
                let omnex = self.job_handle(job, input.run_as);
                let total = input.items.len() as u64;
                let mut done = usize::try_from(job.done).unwrap_or(usize::MAX);
                for chunk in input.items.chunks(EMBED_CHUNK).skip(done / EMBED_CHUNK) {
                    let (ids, batch): (Vec<_>, Vec<_>) = chunk.iter().cloned().unzip();
                    // Checked again as it is written: the key may have been limited
                    // since, and the tenant's quota counts what earlier chunks added.
                    omnex.check_new_memories(&batch).await?;
                    omnex.write_new_memories(batch, ids).await?;
                    done += chunk.len();
                    lease.checkpoint(done as u64, Some(total)).await?;
                }
                Ok(Some(serde_json::json!({ "added": total })))
            }
            JobKind::Import => {
                let input: ImportInput =
                    serde_json::from_value(job.input.clone()).map_err(bad_input)?;
                let omnex = self.job_handle(job, input.run_as);
                let counts =
                    crate::transfer::import(&omnex, input.jsonl.as_bytes(), |_| {}).await?;
                Ok(Some(serde_json::json!({
                    "contexts": counts.contexts,
                    "memories": counts.memories,
                })))
            }
            JobKind::Export => {
                let input: PlainInput =
                    serde_json::from_value(job.input.clone()).map_err(bad_input)?;
                let omnex = self.job_handle(job, input.run_as);
                let mut out = Vec::new();
                let counts = crate::transfer::export(&omnex, &mut out, |_| {}).await?;
                let jsonl = String::from_utf8(out).map_err(|e| Error::internal("export", e))?;
                Ok(Some(serde_json::json!({
                    "contexts": counts.contexts,
                    "memories": counts.memories,
                    "jsonl": jsonl,
                })))
            }
            JobKind::Reindex => {
                // Progress is recorded between batches without holding up the rebuild.
                let (tx, mut rx) = tokio::sync::watch::channel(0u64);
                let rebuild = self.rebuild_index_with(move |n| {
                    let _ = tx.send(n);
                });
                tokio::pin!(rebuild);
                loop {
                    tokio::select! {
                        done = &mut rebuild => {
                            done?;
                            break;
                        }
                        Ok(()) = rx.changed() => {
                            // A rebuild is never stopped half-way (the index would
                            // be left half-built): the result is not looked at.
                            let n = *rx.borrow_and_update();
                            let _ = lease.checkpoint(n, None).await;
                        }
                    }
                }
                let n = self.index_len().await?;
                Ok(Some(serde_json::json!({ "indexed": n })))
            }
            JobKind::Cleanup => {
                let purged = self.sweep().await?;
                Ok(Some(serde_json::json!({
                    "contexts": purged.contexts,
                    "memories": purged.memories.len(),
                })))
            }
            JobKind::Webhook => self.deliver(job).await.map(|()| None),
        }
    }

    /// Posts a delivery job's event to its webhook, signed.
    async fn deliver(&self, job: &Job) -> std::result::Result<(), Stop> {
        let hook_id = job.webhook_id.as_deref().unwrap_or_default();
        let Some(hook) = self
            .inner
            .store
            .webhooks(Some(&job.tenant))
            .await?
            .into_iter()
            .find(|h| h.id == hook_id)
        else {
            return Err(Stop::Failed(Error::invalid_input(
                "webhook",
                format!("webhook {hook_id} no longer exists"),
            )));
        };
        let event = job.input.get("event").cloned().unwrap_or_default();
        let body = serde_json::to_vec(&event).map_err(|e| Error::internal("webhook", e))?;
        let at: Option<Timestamp> = event
            .get("at")
            .and_then(|a| serde_json::from_value(a.clone()).ok());
        let kind = event
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default();
        let result = post(&self.inner, &hook, &job.id, kind, body).await;
        let outcome = if result.is_ok() {
            "delivered"
        } else {
            "failed"
        };
        metrics::counter!("omnex_webhook_deliveries_total", "outcome" => outcome).increment(1);
        if let (Ok(()), Some(at)) = (&result, at) {
            let latency = (now() - at).to_std().unwrap_or_default();
            metrics::histogram!("omnex_webhook_delivery_seconds").record(latency.as_secs_f64());
        }
        result
    }
}

/// Sends one signed delivery; a receiver's `Retry-After` (in seconds) is kept.
#[cfg(feature = "webhooks")]
async fn post(
    inner: &Inner,
    hook: &Webhook,
    delivery: &str,
    kind: &str,
    body: Vec<u8>,
) -> std::result::Result<(), Stop> {
    let client = inner
        .http
        .get_or_init(|| {
            reqwest::Client::builder()
                .timeout(DELIVERY_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("omnex-webhooks/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default()
        })
        .clone();
    let ts = chrono::Utc::now().timestamp();
    let signature = crate::signature::sign(&hook.secret, ts, &body);
    let answer = client
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("omnex-event", kind)
        .header("omnex-delivery", delivery)
        .header("idempotency-key", delivery)
        .header("omnex-timestamp", ts.to_string())
        .header("omnex-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| Error::unavailable("webhook receiver", e))?;
    let status = answer.status();
    if status.is_success() {
        return Ok(());
    }
    let wait = answer
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if status == reqwest::StatusCode::GONE {
        return Err(Stop::Failed(Error::invalid_input(
            "webhook",
            "the receiver answered 410 Gone: it wants no more deliveries",
        )));
    }
    let e = Error::unavailable("webhook receiver", format!("answered {status}"));
    Err(match wait {
        Some(secs) => Stop::Later(e, Duration::from_secs(secs)),
        None => Stop::Failed(e),
    })
}

#[cfg(not(feature = "webhooks"))]
async fn post(
    _: &Inner,
    _: &Webhook,
    _: &str,
    _: &str,
    _: Vec<u8>,
) -> std::result::Result<(), Stop> {
    Err(Stop::Failed(Error::invalid_input(
        "webhook",
        "this build of omnex-core has no webhook support (feature `webhooks`)",
    )))
}

/// Whether no retry can mend `e` (the job goes to the dead-letter list at once).
fn is_permanent(e: &Error) -> bool {
    matches!(
        e.kind(),
        crate::ErrorKind::InvalidInput | crate::ErrorKind::Forbidden | crate::ErrorKind::NotFound
    )
}

/// The wait before attempt `attempt + 1`: 1 s doubled each time up to 10 min,
/// within ±25 % so failed deliveries do not retry in step; at least what the
/// receiver asked with `Retry-After` (up to an hour).
fn backoff(attempt: u32, asked: Option<Duration>) -> chrono::TimeDelta {
    let base = 2f64
        .powi(
            i32::try_from(attempt.saturating_sub(1))
                .unwrap_or(30)
                .min(30),
        )
        .min(600.0);
    let mut byte = [0u8; 1];
    let jitter = match getrandom::fill(&mut byte) {
        Ok(()) => 0.75 + f64::from(byte[0]) / 255.0 * 0.5,
        Err(_) => 1.0,
    };
    let mut wait = Duration::from_secs_f64(base * jitter);
    if let Some(asked) = asked {
        wait = wait.max(asked.min(Duration::from_secs(3600)));
    }
    chrono::TimeDelta::from_std(wait).unwrap_or_default()
}

/// The engine while it is alive (workers hold it weakly, so dropping the last
/// handle stops them).
fn engine(weak: &Weak<Inner>) -> Option<Omnex> {
    weak.upgrade().map(|inner| Omnex {
        inner,
        principal: Arc::new(Principal::local()),
    })
}

/// What a work loop takes from the queue.
#[derive(Clone, Copy)]
enum Loop {
    /// Webhook deliveries, in batches.
    Deliveries,
    /// Every other job, one at a time.
    Jobs,
}

async fn work_loop(weak: Weak<Inner>, name: String, opts: WorkerOptions, kind: Loop) {
    let mut failing = false;
    loop {
        let Some(omnex) = engine(&weak) else { return };
        let wake = omnex.inner.work.clone();
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let ran = match kind {
            Loop::Deliveries => omnex.run_deliveries(&name, opts.lease).await.map(|n| n > 0),
            Loop::Jobs => omnex.run_one_job(&name, opts.lease).await,
        };
        match ran {
            Ok(true) => {
                failing = false;
                continue;
            }
            Ok(false) => failing = false,
            Err(e) => {
                if !failing {
                    warn!(error = %e, worker = %name, "the job queue is unreachable; retrying");
                }
                failing = true;
            }
        }
        drop(omnex);
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep(opts.poll) => {}
        }
    }
}

async fn dispatch_loop(weak: Weak<Inner>, poll: Duration) {
    let mut failing = false;
    loop {
        let Some(omnex) = engine(&weak) else { return };
        let mut changes = omnex.inner.changes.subscribe();
        match omnex.dispatch_webhooks().await {
            Ok(n) => {
                failing = false;
                if n > 0 {
                    continue;
                }
            }
            Err(e) => {
                if !failing {
                    warn!(error = %e, "webhook dispatch failed; retrying");
                }
                failing = true;
            }
        }
        drop(omnex);
        tokio::select! {
            _ = changes.changed() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
}
