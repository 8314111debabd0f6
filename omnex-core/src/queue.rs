//! The job queue trait: background jobs and webhook subscriptions, kept in the
//! store beside the data (a supertrait of [`Store`](crate::store::Store)).

use std::fmt;

use async_trait::async_trait;

use crate::{
    model::{Job, JobCount, JobKind, JobOutcome, ListJobs, Page, Tenant, Timestamp, Webhook},
    store::Plan,
    Result,
};

/// A durable queue of jobs claimed under leases, and the webhook subscriptions
/// whose deliveries it carries. Every [`Store`](crate::store::Store) is one.
#[async_trait]
pub trait JobQueue: Send + Sync + fmt::Debug + 'static {
    /// Queues jobs.
    async fn enqueue_jobs(&self, jobs: &[Job]) -> Result<()>;
    /// Gives `worker` up to `limit` of the oldest due jobs of `kinds` (queued with
    /// `run_at` at or before `now`, or running under a lease that ran out before
    /// `now`), oldest first, marked running under a lease until `lease_until`, with
    /// their inputs. Two workers never get the same job under live leases.
    async fn claim_jobs(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
        kinds: &[JobKind],
        limit: usize,
    ) -> Result<Vec<Job>>;
    /// The oldest due job of any kind: [`claim_jobs`](Self::claim_jobs) of one.
    async fn claim_job(
        &self,
        worker: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<Job>> {
        let mut jobs = self
            .claim_jobs(worker, now, lease_until, &JobKind::ALL, 1)
            .await?;
        Ok(jobs.pop())
    }
    /// Records progress of `worker`'s job and extends its lease; `false` when the
    /// job is no longer this worker's or cancelling was asked (the worker stops).
    async fn renew_job(
        &self,
        id: &str,
        worker: &str,
        done: u64,
        total: Option<u64>,
        lease_until: Timestamp,
    ) -> Result<bool>;
    /// Ends `worker`'s attempts at jobs, in one transaction; returns how many were
    /// still its. A `Retry` past the last attempt makes a job `dead`.
    async fn finish_jobs(&self, worker: &str, outcomes: &[(String, JobOutcome)]) -> Result<u64>;
    /// Ends `worker`'s attempt at job `id`; `false` when the job is no longer its.
    async fn finish_job(&self, id: &str, worker: &str, outcome: &JobOutcome) -> Result<bool> {
        let done = self
            .finish_jobs(worker, &[(id.to_owned(), outcome.clone())])
            .await?;
        Ok(done == 1)
    }
    /// A job by id, without its input.
    async fn get_job(&self, id: &str) -> Result<Option<Job>>;
    /// A page of jobs, newest first, without their inputs.
    async fn list_jobs(&self, req: &ListJobs) -> Result<Page<Job>>;
    /// Cancels a job: a queued one at once, a running one when its worker next
    /// reports progress. Returns the job as it now is.
    async fn cancel_job(&self, id: &str) -> Result<Option<Job>>;
    /// Jobs by kind and status.
    async fn job_counts(&self) -> Result<Vec<JobCount>>;

    /// Stores a webhook subscription.
    async fn put_webhook(&self, hook: &Webhook) -> Result<()>;
    /// The webhooks of `tenant` (of every tenant for `None`), with their secrets.
    async fn webhooks(&self, tenant: Option<&Tenant>) -> Result<Vec<Webhook>>;
    /// Deletes a webhook and cancels its queued deliveries; whether it existed.
    async fn delete_webhook(&self, id: &str) -> Result<bool>;
    /// Moves the webhook dispatcher forward, all or nothing: reads up to `limit`
    /// events after the dispatched position and at or before `upto` (with their
    /// data), queues the jobs `plan` makes of them and records the new position.
    /// Concurrent dispatchers serialize, so every event is planned exactly once.
    /// Returns the events read.
    async fn dispatch_events(&self, limit: usize, upto: i64, plan: &Plan<'_>) -> Result<usize>;
    /// Removes jobs that finished (done, cancelled or dead) before `before`, after
    /// cancelling running jobs whose cancelling was asked and whose lease ran out.
    async fn prune_jobs(&self, before: Timestamp) -> Result<u64>;
}
