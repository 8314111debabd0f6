//! The change feed, the history of a record, and webhook subscriptions.

use super::Omnex;
use crate::{
    error::Entity,
    model::{
        EventKind, EventPage, Job, JobKind, JobStatus, ListEvents, ListJobs, MemoryId, NewWebhook,
        Page, Permission, Subject, Webhook,
    },
    validate, Error, Result,
};

/// What to read of the change feed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Events after this position (0: from the oldest kept).
    pub since: i64,
    /// Only these namespaces (all the caller sees when empty).
    pub namespaces: Vec<String>,
    /// Only these kinds (all when empty).
    pub kinds: Vec<EventKind>,
    /// Include each record's data.
    pub include_data: bool,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<usize>,
}

impl Omnex {
    /// Reads the change feed: the caller's tenant's events after `req.since`,
    /// oldest first. Resume with the page's `next`.
    pub async fn changes(&self, req: Changes) -> Result<EventPage> {
        self.require(Permission::Read).await?;
        validate::event_limit(req.limit)?;
        for ns in &req.namespaces {
            validate::namespace(ns)?;
        }
        let namespaces = self
            .denied_if(self.visible_namespaces(req.namespaces))
            .await?;
        self.inner
            .store
            .list_events(&ListEvents {
                tenant: Some(self.principal.tenant.clone()),
                since: req.since.max(0),
                namespaces,
                kinds: req.kinds,
                subject: None,
                include_data: req.include_data,
                limit: req.limit,
            })
            .await
    }

    /// The namespaces a read asked for, checked against the caller's (all of the
    /// caller's when it asked for none).
    fn visible_namespaces(&self, asked: Vec<String>) -> Result<Vec<String>> {
        match &self.principal.namespaces {
            None => Ok(asked),
            Some(allowed) if asked.is_empty() => Ok(allowed.clone()),
            Some(_) => {
                for ns in &asked {
                    self.principal.check_namespace(ns)?;
                }
                Ok(asked)
            }
        }
    }

    /// The history of memory `id`: every change kept by the event log, oldest
    /// first, with the memory as each change left it (mem0's `history`). A deleted
    /// memory keeps its history until the retention removes it.
    pub async fn memory_history(
        &self,
        id: MemoryId,
        since: i64,
        limit: Option<usize>,
    ) -> Result<EventPage> {
        self.history(Subject::Memory(id), since, limit, || {
            Error::not_found(Entity::Memory, id.to_string())
        })
        .await
    }

    /// The history of the context at `namespace/key`, across deletes and
    /// re-creations, oldest first.
    pub async fn context_history(
        &self,
        namespace: &str,
        key: &str,
        since: i64,
        limit: Option<usize>,
    ) -> Result<EventPage> {
        validate::namespace(namespace)?;
        validate::key(key)?;
        let subject = Subject::Context {
            namespace: namespace.to_owned(),
            key: key.to_owned(),
        };
        self.history(subject, since, limit, || {
            Error::not_found(Entity::Context, format!("{namespace}/{key}"))
        })
        .await
    }

    async fn history(
        &self,
        subject: Subject,
        since: i64,
        limit: Option<usize>,
        missing: impl FnOnce() -> Error,
    ) -> Result<EventPage> {
        self.require(Permission::Read).await?;
        validate::event_limit(limit)?;
        let mut page = self
            .inner
            .store
            .list_events(&ListEvents {
                tenant: Some(self.principal.tenant.clone()),
                since: since.max(0),
                subject: Some(subject),
                include_data: true,
                limit,
                ..ListEvents::default()
            })
            .await?;
        // Another tenant's record, or one in a namespace the caller does not see,
        // has no history for it.
        page.events
            .retain(|e| self.principal.owns(&e.tenant, &e.namespace));
        if page.events.is_empty() && since <= 0 {
            return Err(missing());
        }
        Ok(page)
    }

    /// Subscribes a webhook to the caller's tenant's events (admin). The answer is
    /// the only one that shows the signing secret.
    pub async fn create_webhook(&self, new: NewWebhook) -> Result<Webhook> {
        self.require(Permission::Admin).await?;
        validate::webhook_url(&new.url)?;
        let mut kinds = Vec::new();
        for k in &new.kinds {
            for kind in EventKind::parse_set(k)? {
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
        }
        if kinds.is_empty() {
            kinds = EventKind::ALL.to_vec();
        }
        if let Some(ns) = &new.namespaces {
            for n in ns {
                validate::namespace(n)?;
                self.denied_if(self.principal.check_namespace(n)).await?;
            }
        }
        let secret = match new.secret {
            Some(s) => {
                validate::webhook_secret(&s)?;
                s
            }
            None => format!("whsec_{}", super::access::random_text(40)?),
        };
        let hook = Webhook {
            id: format!("wh_{}", super::access::random_text(12)?),
            tenant: self.principal.tenant.clone(),
            url: new.url,
            kinds,
            namespaces: new.namespaces.or_else(|| self.principal.namespaces.clone()),
            include_data: new.include_data,
            since: self.inner.store.event_head().await?,
            created_at: crate::model::now(),
            secret,
        };
        self.inner.store.put_webhook(&hook).await?;
        self.audit(
            "webhook.created",
            Some(hook.id.clone()),
            Some(hook.url.clone()),
        )
        .await;
        Ok(hook)
    }

    /// The caller's tenant's webhooks (every tenant's for an operator), without
    /// their secrets.
    pub async fn list_webhooks(&self) -> Result<Vec<Webhook>> {
        self.require(Permission::Admin).await?;
        let tenant = (!self.principal.operator).then_some(&self.principal.tenant);
        let mut hooks = self.inner.store.webhooks(tenant).await?;
        for h in &mut hooks {
            h.secret.clear();
        }
        Ok(hooks)
    }

    /// A webhook of the caller's tenant, without its secret.
    pub async fn get_webhook(&self, id: &str) -> Result<Webhook> {
        self.list_webhooks()
            .await?
            .into_iter()
            .find(|h| h.id == id)
            .ok_or_else(|| Error::not_found(Entity::Webhook, id))
    }

    /// Deletes a webhook and cancels its queued deliveries.
    pub async fn delete_webhook(&self, id: &str) -> Result<()> {
        self.get_webhook(id).await?;
        if !self.inner.store.delete_webhook(id).await? {
            return Err(Error::not_found(Entity::Webhook, id));
        }
        self.audit("webhook.deleted", Some(id.to_owned()), None)
            .await;
        Ok(())
    }

    /// A webhook's deliveries, newest first; `status: dead` is its dead-letter list.
    pub async fn webhook_deliveries(
        &self,
        id: &str,
        status: Option<JobStatus>,
        limit: Option<usize>,
        cursor: Option<String>,
    ) -> Result<Page<Job>> {
        self.get_webhook(id).await?;
        self.list_jobs(ListJobs {
            kind: Some(JobKind::Webhook),
            status,
            webhook_id: Some(id.to_owned()),
            limit,
            cursor,
            ..ListJobs::default()
        })
        .await
    }
}
