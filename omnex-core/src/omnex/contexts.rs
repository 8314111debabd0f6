//! Contexts: the write path and the shared context cache.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use tracing::{debug, warn};
use uuid::Uuid;

use super::Omnex;
use crate::{
    cache::Cache,
    error::Entity,
    model::{now, Context, ListContexts, Page, Permission, Precondition, PutContext, Tenant},
    validate, Error, Result,
};

/// Contexts stay in a shared cache at most this long (bounds staleness if an
/// invalidation is lost while the cache is unreachable).
const CONTEXT_CACHE_TTL: Duration = Duration::from_secs(30);

/// The cache key of a context.
fn context_cache_key(tenant: &Tenant, namespace: &str, key: &str) -> String {
    format!("ctx\u{0}{tenant}\u{0}{namespace}\u{0}{key}")
}

impl Omnex {
    /// Creates or replaces a context. With `if_version`, the write only happens if the
    /// stored version matches (else a `Conflict`); `if_version: 0` means "create only,
    /// never replace".
    pub async fn put_context(&self, req: PutContext) -> Result<Context> {
        self.require(Permission::Write).await?;
        validate::namespace(&req.namespace)?;
        self.denied_if(self.principal.check_namespace(&req.namespace))
            .await?;
        validate::key(&req.key)?;
        validate::value(&req.value)?;
        validate::tags(&req.tags)?;
        let now = now();
        let ctx = Context {
            tenant: self.principal.tenant.clone(),
            id: Uuid::now_v7(),
            namespace: req.namespace,
            key: req.key,
            value: req.value,
            tags: req.tags,
            created_at: now,
            updated_at: now,
            version: 0,
            expires_at: validate::expiry(req.expires_at, req.ttl_seconds, now)?,
        };
        if self.inner.config.quota.is_set() {
            let exists = self
                .inner
                .store
                .get_context(&ctx.tenant, &ctx.namespace, &ctx.key)
                .await?
                .is_some();
            let bytes = ctx.value.to_string().len() as u64;
            self.check_quota(0, u64::from(!exists), bytes).await?;
        }
        let expect = req.if_version.map_or(Precondition::None, |v| match v {
            0 => Precondition::Absent,
            v => Precondition::Version(v),
        });
        let stored = self
            .inner
            .store
            .put_context_by(&ctx, expect, Some(&self.principal.subject))
            .await?;
        self.changed();
        self.forget_context(&stored.namespace, &stored.key).await;
        Ok(stored)
    }

    /// Reads a context (`NotFound` if absent or expired).
    pub async fn get_context(&self, namespace: &str, key: &str) -> Result<Context> {
        self.require(Permission::Read).await?;
        validate::namespace(namespace)?;
        validate::key(key)?;
        self.denied_if(self.principal.check_namespace(namespace))
            .await?;
        let tenant = &self.principal.tenant;
        let cache = self.shared_cache();
        if let Some(cache) = cache {
            match cache.get(&context_cache_key(tenant, namespace, key)).await {
                Ok(Some(bytes)) => match serde_json::from_slice::<Context>(&bytes) {
                    Ok(ctx) if ctx.expires_at.is_none_or(|t| t > now()) => return Ok(ctx),
                    _ => {}
                },
                Ok(None) => {}
                Err(e) => debug!(error = %e, "cache read failed; treated as a miss"),
            }
        }
        let ctx = self
            .inner
            .store
            .get_context(tenant, namespace, key)
            .await?
            .ok_or_else(|| Error::not_found(Entity::Context, format!("{namespace}/{key}")))?;
        if let Some(cache) = cache {
            let ttl = ctx
                .expires_at
                .and_then(|t| (t - now()).to_std().ok())
                .map_or(CONTEXT_CACHE_TTL, |left| left.min(CONTEXT_CACHE_TTL));
            if let Ok(bytes) = serde_json::to_vec(&ctx) {
                if let Err(e) = cache
                    .set(
                        &context_cache_key(tenant, namespace, key),
                        Bytes::from(bytes),
                        Some(ttl),
                    )
                    .await
                {
                    debug!(error = %e, "cache write failed");
                }
            }
        }
        Ok(ctx)
    }

    /// The cache, when it is shared between processes (only then are contexts cached:
    /// an in-process cache would miss other processes' writes).
    fn shared_cache(&self) -> Option<&Arc<dyn Cache>> {
        self.inner.cache.as_ref().filter(|c| c.shared())
    }

    /// Drops a context from the shared cache after a write.
    async fn forget_context(&self, namespace: &str, key: &str) {
        if let Some(cache) = self.shared_cache() {
            let cache_key = context_cache_key(&self.principal.tenant, namespace, key);
            if let Err(e) = cache.delete(&cache_key).await {
                warn!(error = %e, "cache invalidation failed; the cached copy expires within 30 s");
            }
        }
    }

    /// Deletes a context (`NotFound` if absent; `Conflict` on a stale `if_version`).
    pub async fn delete_context(
        &self,
        namespace: &str,
        key: &str,
        if_version: Option<u64>,
    ) -> Result<()> {
        self.require(Permission::Write).await?;
        validate::namespace(namespace)?;
        validate::key(key)?;
        self.denied_if(self.principal.check_namespace(namespace))
            .await?;
        let expect = if_version.map_or(Precondition::None, Precondition::Version);
        let deleted = self
            .inner
            .store
            .delete_context_by(
                &self.principal.tenant,
                namespace,
                key,
                expect,
                Some(&self.principal.subject),
            )
            .await?;
        self.changed();
        self.forget_context(namespace, key).await;
        if deleted {
            self.audit("context.deleted", Some(format!("{namespace}/{key}")), None)
                .await;
            Ok(())
        } else {
            Err(Error::not_found(
                Entity::Context,
                format!("{namespace}/{key}"),
            ))
        }
    }

    /// Lists contexts by `(namespace, key)`, a page at a time.
    pub async fn list_contexts(&self, mut req: ListContexts) -> Result<Page<Context>> {
        self.require(Permission::Read).await?;
        if let Some(ns) = &req.namespace {
            validate::namespace(ns)?;
        }
        if let Some(tag) = &req.tag {
            validate::tag(tag)?;
        }
        validate::page_limit(req.limit)?;
        req.namespace = self
            .denied_if(self.principal.read_namespace(req.namespace.take()))
            .await?;
        req.tenant = self.principal.tenant.clone();
        self.inner.store.list_contexts(&req).await
    }
}
