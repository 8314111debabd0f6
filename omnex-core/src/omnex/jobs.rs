//! Background jobs: queueing them, reading them, cancelling them. The workers that
//! run them are in [`super::worker`].

use serde::{Deserialize, Serialize};

use super::Omnex;
use crate::{
    error::Entity,
    model::{Job, JobCount, JobKind, ListJobs, MemoryId, NewMemory, Page, Permission, Principal},
    validate, Error, Result,
};

/// Most memories in one asynchronous batch.
/// Attempts of a job other than a webhook delivery.
const JOB_ATTEMPTS: u32 = 3;

/// Who a job works for: the principal that queued it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct RunAs {
    pub(super) subject: String,
    pub(super) permission: Permission,
    #[serde(default)]
    pub(super) namespaces: Option<Vec<String>>,
    #[serde(default)]
    pub(super) operator: bool,
}

/// The input of an `embed` job: new memories with the ids they will have.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct EmbedInput {
    pub(super) run_as: RunAs,
    pub(super) items: Vec<(MemoryId, NewMemory)>,
}

/// The input of an `import` job: export records, one JSON object a line.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ImportInput {
    pub(super) run_as: RunAs,
    pub(super) jsonl: String,
}

/// The input of `export`, `reindex` and `cleanup` jobs.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct PlainInput {
    pub(super) run_as: RunAs,
}

impl Omnex {
    fn run_as(&self) -> RunAs {
        RunAs {
            subject: self.principal.subject.clone(),
            permission: self.principal.permission,
            namespaces: self.principal.namespaces.clone(),
            operator: self.principal.operator,
        }
    }

    /// The handle a job runs with: its tenant, and the rights of who queued it.
    pub(super) fn job_handle(&self, job: &Job, run_as: RunAs) -> Omnex {
        self.with_principal(Principal {
            tenant: job.tenant.clone(),
            permission: run_as.permission,
            namespaces: run_as.namespaces,
            subject: run_as.subject,
            operator: run_as.operator,
        })
    }

    async fn queue(
        &self,
        kind: JobKind,
        input: serde_json::Value,
        total: Option<u64>,
    ) -> Result<Job> {
        let mut job = Job::new(self.principal.tenant.clone(), kind, input, JOB_ATTEMPTS);
        job.total = total;
        self.inner
            .store
            .enqueue_jobs(std::slice::from_ref(&job))
            .await?;
        self.inner.work.notify_waiters();
        job.input = serde_json::Value::Null;
        Ok(job)
    }

    /// Queues a batch of new memories (up to 100,000) to be embedded and added by a
    /// worker. The batch is checked now, as [`add_memories`](Self::add_memories)
    /// checks it, so a bad item fails here rather than in the job.
    pub async fn add_memories_async(&self, batch: Vec<NewMemory>) -> Result<Job> {
        if batch.is_empty() || batch.len() > validate::MAX_ASYNC_BATCH {
            return Err(Error::invalid_input(
                "memories",
                format!(
                    "holds {} items; an asynchronous batch holds 1 to {}",
                    batch.len(),
                    validate::MAX_ASYNC_BATCH
                ),
            ));
        }
        self.check_new_memories(&batch).await?;
        let total = batch.len() as u64;
        let input = EmbedInput {
            run_as: self.run_as(),
            items: batch.into_iter().map(|m| (MemoryId::new(), m)).collect(),
        };
        let input = serde_json::to_value(input).map_err(|e| Error::internal("jobs", e))?;
        self.queue(JobKind::Embed, input, Some(total)).await
    }

    /// Queues an import of export records (`omnex export` output, one JSON object a
    /// line) into the caller's tenant.
    pub async fn import_async(&self, jsonl: String) -> Result<Job> {
        self.require(Permission::Write).await?;
        if jsonl.trim().is_empty() {
            return Err(Error::invalid_input("records", "holds no records"));
        }
        let total = jsonl.lines().filter(|l| !l.trim().is_empty()).count() as u64;
        let input = ImportInput {
            run_as: self.run_as(),
            jsonl,
        };
        let input = serde_json::to_value(input).map_err(|e| Error::internal("jobs", e))?;
        self.queue(JobKind::Import, input, Some(total)).await
    }

    /// Queues an `export`, `reindex` or `cleanup` job (admin).
    pub async fn start_job(&self, kind: JobKind) -> Result<Job> {
        self.require(Permission::Admin).await?;
        if !matches!(kind, JobKind::Export | JobKind::Reindex | JobKind::Cleanup) {
            return Err(Error::invalid_input(
                "kind",
                format!(
                    "{kind} jobs are queued by their own calls; start export, reindex or cleanup here",
                    kind = kind.as_str()
                ),
            ));
        }
        if kind == JobKind::Export && self.principal.namespaces.is_some() {
            return self
                .denied_if(Err(Error::forbidden(
                    "an export covers the whole tenant: a key limited to namespaces may not start one",
                )))
                .await;
        }
        if matches!(kind, JobKind::Reindex | JobKind::Cleanup) && !self.principal.operator {
            // Both act on the whole store, not one tenant.
            return self
                .denied_if(Err(Error::Forbidden {
                    reason: format!(
                        "{} jobs act on every tenant: they need the operator",
                        kind.as_str()
                    ),
                }))
                .await;
        }
        let input = PlainInput {
            run_as: self.run_as(),
        };
        let input = serde_json::to_value(input).map_err(|e| Error::internal("jobs", e))?;
        self.queue(kind, input, None).await
    }

    /// A job of the caller's tenant (of any tenant for an operator).
    pub async fn get_job(&self, id: &str) -> Result<Job> {
        self.require(Permission::Read).await?;
        self.inner
            .store
            .get_job(id)
            .await?
            .filter(|j| self.principal.operator || j.tenant == self.principal.tenant)
            .ok_or_else(|| Error::not_found(Entity::Job, id))
    }

    /// The records of a finished export job (admin, not limited to namespaces: an
    /// export covers the whole tenant).
    pub async fn job_output(&self, id: &str) -> Result<String> {
        self.require(Permission::Admin).await?;
        if self.principal.namespaces.is_some() {
            return self
                .denied_if(Err(Error::forbidden(
                    "an export covers the whole tenant: a key limited to namespaces may not read it",
                )))
                .await;
        }
        let job = self.get_job(id).await?;
        job.output
            .as_ref()
            .and_then(|o| o.get("jsonl"))
            .and_then(|t| t.as_str())
            .map(str::to_owned)
            .ok_or_else(|| Error::not_found(Entity::Job, format!("{id}/output")))
    }

    /// The caller's tenant's jobs (every tenant's for an operator), newest first.
    pub async fn list_jobs(&self, mut req: ListJobs) -> Result<Page<Job>> {
        self.require(Permission::Read).await?;
        validate::page_limit(req.limit)?;
        req.tenant = (!self.principal.operator).then(|| self.principal.tenant.clone());
        self.inner.store.list_jobs(&req).await
    }

    /// Cancels a job: a queued one at once, a running one at its next checkpoint.
    pub async fn cancel_job(&self, id: &str) -> Result<Job> {
        self.require(Permission::Write).await?;
        let job = self.get_job(id).await?;
        if job.status.is_final() {
            return Ok(job);
        }
        self.inner
            .store
            .cancel_job(id)
            .await?
            .ok_or_else(|| Error::not_found(Entity::Job, id))
    }

    /// Jobs by kind and status in the whole store, for metrics (operator).
    pub async fn job_counts(&self) -> Result<Vec<JobCount>> {
        self.require(Permission::Admin).await?;
        self.denied_if(if self.principal.operator {
            Ok(())
        } else {
            Err(Error::Forbidden {
                reason: "queue statistics cover every tenant: they need the operator".into(),
            })
        })
        .await?;
        self.inner.store.job_counts().await
    }
}
