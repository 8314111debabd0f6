//! Access control: API keys (made, listed, revoked, checked) and the audit log.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicU8, Ordering},
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};
use tracing::warn;

use super::Omnex;
use crate::{
    model::{
        now, ApiKey, AuditEvent, CreatedApiKey, ListAudit, NewApiKey, Page, Permission, Principal,
        Tenant,
    },
    validate, Error, Result,
};

/// Every API key starts with this, so secret scanners and people recognise one.
const KEY_PREFIX: &str = "omx_";

/// How long a checked key is trusted without asking the store again. A key revoked
/// by this process stops at once; one revoked by another process within this time.
const KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// Keys checked lately, by hash, and whether the store holds any key at all.
#[derive(Default)]
pub(super) struct KeyCache {
    checked: parking_lot::Mutex<HashMap<String, (ApiKey, Instant)>>,
    /// 0: not asked yet, 1: no key, 2: some key.
    any: AtomicU8,
}

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` random characters of [`ALPHABET`] from the operating system's generator.
pub(super) fn random_text(n: usize) -> Result<String> {
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        getrandom::fill(&mut buf).map_err(|e| Error::internal("random", e.to_string()))?;
        // Rejection sampling: 62 * 4 = 248, so bytes below 248 map without bias.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == n {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(b % 62)]));
        }
    }
    Ok(out)
}

/// SHA-256 of a key, hex. Keys are 40 random characters (238 bits), so a fast hash
/// is as strong as a slow one: there is nothing to guess a dictionary from.
fn hash_key(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The part of a presented key that is safe to log: `omx_` and its 8-character id.
fn key_prefix(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let id = rest.get(..8)?;
    id.bytes()
        .all(|b| b.is_ascii_alphanumeric())
        .then(|| &key[..KEY_PREFIX.len() + 8])
}

impl Omnex {
    /// Makes an API key and returns it: the only time the key itself is seen (the
    /// store keeps its SHA-256). Needs `admin`; a key for another tenant needs an
    /// operator, and a key can never have more than its maker.
    pub async fn create_api_key(&self, req: NewApiKey) -> Result<CreatedApiKey> {
        self.require(Permission::Admin).await?;
        let tenant = match &req.tenant {
            Some(t) => Tenant::new(t)?,
            None => self.principal.tenant.clone(),
        };
        self.denied_if(self.principal.check_tenant(&tenant)).await?;
        if let Some(list) = &req.namespaces {
            if list.is_empty() {
                return Err(Error::invalid_input(
                    "namespaces",
                    "must name at least one namespace (leave it out for all)",
                ));
            }
            for ns in list {
                validate::namespace(ns)?;
                self.denied_if(self.principal.check_namespace(ns)).await?;
            }
        } else if self.principal.namespaces.is_some() {
            return self
                .denied_if(Err(Error::forbidden(
                    "a key limited to some namespaces can only make keys limited to them",
                )))
                .await;
        }
        if req.name.len() > validate::MAX_KEY_NAME_LEN || req.name.chars().any(char::is_control) {
            return Err(Error::invalid_input(
                "name",
                format!(
                    "must be at most {} bytes without control characters",
                    validate::MAX_KEY_NAME_LEN
                ),
            ));
        }
        let at = now();
        let id = random_text(8)?;
        let key = format!("{KEY_PREFIX}{id}_{}", random_text(40)?);
        let info = ApiKey {
            prefix: format!("{KEY_PREFIX}{id}"),
            id,
            hash: hash_key(&key),
            name: req.name,
            tenant,
            permission: req.permission,
            namespaces: req.namespaces,
            created_at: at,
            expires_at: validate::expiry(None, req.ttl_seconds, at)?,
            revoked_at: None,
            first_used_at: None,
        };
        self.inner.store.put_api_key(&info).await?;
        self.inner.keys.any.store(2, Ordering::Relaxed);
        self.audit_for(
            &info.tenant,
            "key.created",
            Some(info.prefix.clone()),
            Some(format!("permission {}", info.permission.as_str())),
        )
        .await;
        Ok(CreatedApiKey { key, info })
    }

    /// The API keys of `tenant` (the caller's own when `None`; every tenant's for an
    /// operator who asks for `Some("*")`), revoked ones included, newest first.
    pub async fn list_api_keys(&self, tenant: Option<&str>) -> Result<Vec<ApiKey>> {
        self.require(Permission::Admin).await?;
        let tenant = match tenant {
            Some("*") if self.principal.operator => None,
            Some("*") => {
                return self
                    .denied_if(Err(Error::forbidden(
                        "every tenant's keys (`*`) are the operator's to list",
                    )))
                    .await
            }
            Some(t) => Some(Tenant::new(t)?),
            None => Some(self.principal.tenant.clone()),
        };
        if let Some(t) = &tenant {
            self.denied_if(self.principal.check_tenant(t)).await?;
        }
        let keys = self.inner.store.api_keys(tenant.as_ref()).await?;
        Ok(keys
            .into_iter()
            .filter(|k| self.principal.namespaces.is_none() || k.namespaces.is_some())
            .collect())
    }

    /// Revokes a key by its id or prefix; it stops working at once in this process
    /// and within 5 seconds in others. Revoking a revoked key is not an error.
    pub async fn revoke_api_key(&self, id: &str) -> Result<ApiKey> {
        self.require(Permission::Admin).await?;
        let id = id.strip_prefix(KEY_PREFIX).unwrap_or(id);
        let not_found = || Error::not_found(crate::error::Entity::ApiKey, id.to_owned());
        let Some(current) = self
            .inner
            .store
            .api_keys(None)
            .await?
            .into_iter()
            .find(|k| k.id == id)
        else {
            return Err(not_found());
        };
        // Another tenant's key is not found, as another tenant's memory is.
        if self.principal.check_tenant(&current.tenant).is_err() {
            return Err(not_found());
        }
        let revoked = self
            .inner
            .store
            .revoke_api_key(id, now())
            .await?
            .ok_or_else(not_found)?;
        self.inner.keys.checked.lock().clear();
        self.audit_for(
            &revoked.tenant,
            "key.revoked",
            Some(revoked.prefix.clone()),
            None,
        )
        .await;
        Ok(revoked)
    }

    /// Whether the store holds any API key (asked once, then known in this process).
    /// A server with keys refuses calls without credentials.
    pub async fn has_api_keys(&self) -> Result<bool> {
        match self.inner.keys.any.load(Ordering::Relaxed) {
            1 => Ok(false),
            2 => Ok(true),
            _ => {
                let any = !self.inner.store.api_keys(None).await?.is_empty();
                self.inner
                    .keys
                    .any
                    .store(if any { 2 } else { 1 }, Ordering::Relaxed);
                Ok(any)
            }
        }
    }

    /// The principal of an API key, or `Unauthorized` (unknown, revoked or expired;
    /// the answer does not say which). Failures and a key's first use are audited.
    pub async fn authenticate_key(&self, key: &str) -> Result<Principal> {
        let hash = hash_key(key);
        let cached = {
            let checked = self.inner.keys.checked.lock();
            checked
                .get(&hash)
                .filter(|(_, at)| at.elapsed() < KEY_CACHE_TTL)
                .map(|(k, _)| k.clone())
        };
        let found = match cached {
            Some(k) => Some(k),
            None => {
                let found = self.inner.store.api_key_by_hash(&hash).await?;
                if let Some(k) = &found {
                    let mut checked = self.inner.keys.checked.lock();
                    if checked.len() > 10_000 {
                        checked.clear();
                    }
                    checked.insert(hash.clone(), (k.clone(), Instant::now()));
                }
                found
            }
        };
        let at = now();
        let Some(principal) = found.as_ref().and_then(|k| k.principal(at)) else {
            let why = match &found {
                None => "unknown key",
                Some(k) if k.revoked_at.is_some() => "revoked key",
                Some(_) => "expired key",
            };
            self.auth_failed(key_prefix(key), why).await;
            return Err(Error::unauthorized("the API key is not valid"));
        };
        if let Some(k) = found.filter(|k| k.first_used_at.is_none()) {
            if self.inner.store.mark_api_key_used(&k.id, at).await? {
                self.audit_for(&k.tenant, "key.first_use", Some(k.prefix.clone()), None)
                    .await;
            }
            if let Some(entry) = self.inner.keys.checked.lock().get_mut(&hash) {
                entry.0.first_used_at = Some(at);
            }
        }
        Ok(principal)
    }

    /// Records a refused credential (`subject`: what is safe to name of it, such as a
    /// key's prefix or a token's issuer; never the credential).
    pub async fn auth_failed(&self, subject: Option<&str>, reason: &str) {
        self.write_audit(AuditEvent {
            seq: 0,
            at: now(),
            tenant: None,
            action: "auth.failed".to_owned(),
            subject: subject.map(str::to_owned),
            target: None,
            detail: Some(reason.to_owned()),
        })
        .await;
    }

    /// Records a call the caller's permission or namespaces refused.
    pub async fn access_denied(&self, target: Option<String>, reason: &str) {
        self.audit("access.denied", target, Some(reason.to_owned()))
            .await;
    }

    /// The audit log, newest first: the caller's tenant's events, or every tenant's
    /// (and failed authentications, which have none) for an operator. Needs `admin`.
    pub async fn audit_log(&self, mut req: ListAudit) -> Result<Page<AuditEvent>> {
        self.require(Permission::Admin).await?;
        validate::page_limit(req.limit)?;
        let asked = req.tenant.as_deref().map(Tenant::new).transpose()?;
        if !self.principal.operator {
            if let Some(asked) = &asked {
                self.denied_if(self.principal.check_tenant(asked)).await?;
            }
            req.tenant = Some(self.principal.tenant.to_string());
        }
        self.inner.store.list_audit(&req).await
    }

    /// Fails with `Forbidden` when adding `memories` memories, `contexts` contexts and
    /// `bytes` bytes would take the caller's tenant past its quota (when one is set).
    /// Concurrent writers of one tenant may pass it by what they write at once.
    pub(super) async fn check_quota(&self, memories: u64, contexts: u64, bytes: u64) -> Result<()> {
        let quota = &self.inner.config.quota;
        if !quota.is_set() {
            return Ok(());
        }
        let tenant = &self.principal.tenant;
        let used = self.inner.store.tenant_usage(tenant).await?;
        for (what, have, adding, limit) in [
            ("memories", used.memories, memories, quota.memories),
            ("contexts", used.contexts, contexts, quota.contexts),
            ("bytes", used.bytes, bytes, quota.bytes),
        ] {
            if let Some(limit) = limit.filter(|&l| adding > 0 && have + adding > l) {
                let refused = Error::forbidden(format!(
                    "quota exceeded: tenant {tenant} holds {have} {what} of its {limit}; \
                     this write adds {adding} (delete some, or ask for a larger quota)"
                ));
                return self.denied_if(Err(refused)).await;
            }
        }
        Ok(())
    }

    /// The handles an export or another whole-store job runs through: one per tenant
    /// holding data for an operator, this handle's own tenant for anyone else.
    pub async fn tenant_handles(&self) -> Result<Vec<Omnex>> {
        if !self.principal.operator {
            return Ok(vec![self.clone()]);
        }
        let mut tenants = self.inner.store.tenants().await?;
        if !tenants.contains(&self.principal.tenant) {
            tenants.insert(0, self.principal.tenant.clone());
        }
        Ok(tenants
            .into_iter()
            .map(|tenant| {
                self.with_principal(Principal {
                    tenant,
                    ..(*self.principal).clone()
                })
            })
            .collect())
    }

    /// Records that this handle's tenant was exported (`detail`: what was written).
    pub async fn audit_export(&self, detail: String) {
        self.audit("export", None, Some(detail)).await;
    }

    /// Records an event of this handle's principal in its tenant.
    pub(super) async fn audit(&self, action: &str, target: Option<String>, detail: Option<String>) {
        let tenant = self.principal.tenant.clone();
        self.audit_for(&tenant, action, target, detail).await;
    }

    async fn audit_for(
        &self,
        tenant: &Tenant,
        action: &str,
        target: Option<String>,
        detail: Option<String>,
    ) {
        self.write_audit(AuditEvent {
            seq: 0,
            at: now(),
            tenant: Some(tenant.to_string()),
            action: action.to_owned(),
            subject: Some(self.principal.subject.clone()),
            target,
            detail,
        })
        .await;
    }

    /// Appends to the audit log; a failure is logged, never the caller's error.
    async fn write_audit(&self, event: AuditEvent) {
        if let Err(e) = self.inner.store.append_audit(&event).await {
            warn!(error = %e, action = %event.action, "cannot write the audit log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_their_prefix_is_all_that_is_logged() {
        let a = random_text(40).unwrap();
        let b = random_text(40).unwrap();
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        let key = format!("{KEY_PREFIX}AbCd1234_{a}");
        assert_eq!(key_prefix(&key), Some("omx_AbCd1234"));
        assert_eq!(key_prefix("omx_short"), None);
        assert_eq!(key_prefix("secret-without-prefix"), None);
        assert_eq!(hash_key(&key).len(), 64);
        assert_ne!(hash_key(&key), hash_key(&format!("{key}x")));
    }
}
