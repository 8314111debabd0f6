//! Who is calling: tenants, permissions, principals, API keys and audit records.

use std::{fmt, sync::Arc};

use serde::{Deserialize, Serialize};

use super::{Filter, Timestamp};
use crate::{Error, Result};

/// The tenant of data written without credentials (the embedded library, a server
/// without keys, `omnex mcp` over stdio) and of every record made before tenants.
pub const DEFAULT_TENANT: &str = "default";

/// The tenant a record belongs to: the boundary no key, token, listing or search
/// crosses. Every context and memory has one; the core sets it from the caller's
/// [`Principal`], never from the request.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tenant(Arc<str>);

impl TryFrom<String> for Tenant {
    type Error = Error;

    fn try_from(name: String) -> Result<Self> {
        if name == DEFAULT_TENANT {
            Ok(Self::default())
        } else {
            Self::new(&name)
        }
    }
}

impl From<Tenant> for String {
    fn from(t: Tenant) -> String {
        t.0.to_string()
    }
}

impl Tenant {
    /// A tenant by name: 1 to 64 bytes of ASCII letters, digits, `_`, `-` and `.`.
    pub fn new(name: &str) -> Result<Self> {
        let ok = !name.is_empty()
            && name.len() <= crate::validate::MAX_TENANT_LEN
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || crate::validate::TENANT_SYMBOLS.contains(c));
        if !ok {
            return Err(Error::invalid_input(
                "tenant",
                "must be 1 to 64 bytes of ASCII letters, digits, _ - and .",
            ));
        }
        Ok(Self(name.into()))
    }

    /// A tenant name read back from a store, which only ever holds valid ones.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn stored(name: &str) -> Self {
        if name == DEFAULT_TENANT {
            Self::default()
        } else {
            Self(name.into())
        }
    }

    /// The tenant's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Tenant {
    fn default() -> Self {
        static DEFAULT: std::sync::LazyLock<Arc<str>> =
            std::sync::LazyLock::new(|| DEFAULT_TENANT.into());
        Self(DEFAULT.clone())
    }
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Tenant {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// What a principal may do inside its tenant. Each level includes the ones below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Permission {
    /// Read, list and search.
    Read,
    /// Also add, update and delete.
    Write,
    /// Also manage the tenant's API keys and read its audit log.
    Admin,
}

impl Permission {
    /// `read`, `write` or `admin`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Permission {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "admin" => Ok(Self::Admin),
            _ => Err(Error::invalid_input(
                "permission",
                format!("{s:?} is not one of read, write, admin"),
            )),
        }
    }
}

/// Who a core call runs for: a tenant, a permission, optionally a set of namespaces,
/// and a subject that names the caller in the audit log (an API key's prefix, a
/// token's `sub`). The core checks every call against it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The tenant whose data the caller sees.
    pub tenant: Tenant,
    /// What the caller may do there.
    pub permission: Permission,
    /// The namespaces the caller is limited to; `None` means all of the tenant's.
    pub namespaces: Option<Vec<String>>,
    /// Who the caller is, for the audit log (never a secret).
    pub subject: String,
    /// An operator (the server's `--api-key`, the local CLI) may manage keys of
    /// every tenant and read every tenant's audit log.
    pub operator: bool,
}

impl Principal {
    /// The local user: an operator in the default tenant. What the embedded library,
    /// `omnex mcp` over stdio and a server without keys run as.
    pub fn local() -> Self {
        Self {
            tenant: Tenant::default(),
            permission: Permission::Admin,
            namespaces: None,
            subject: "local".to_owned(),
            operator: true,
        }
    }

    /// A caller in `tenant` with `permission` over all of its namespaces.
    pub fn new(tenant: Tenant, permission: Permission, subject: impl Into<String>) -> Self {
        Self {
            tenant,
            permission,
            namespaces: None,
            subject: subject.into(),
            operator: false,
        }
    }

    /// Limits the caller to these namespaces.
    pub fn with_namespaces(mut self, namespaces: Vec<String>) -> Self {
        self.namespaces = Some(namespaces);
        self
    }

    /// Fails with [`Error::Forbidden`] unless the caller has at least `need`.
    pub fn require(&self, need: Permission) -> Result<()> {
        if self.permission >= need {
            Ok(())
        } else {
            Err(Error::forbidden(format!(
                "this call needs the {} permission; the credentials have {}",
                need.as_str(),
                self.permission.as_str()
            )))
        }
    }

    /// Whether the caller may see namespace `ns`.
    pub fn sees(&self, ns: &str) -> bool {
        self.namespaces
            .as_ref()
            .is_none_or(|list| list.iter().any(|n| n == ns))
    }

    /// Fails with [`Error::Forbidden`] unless the caller may use namespace `ns`.
    pub fn check_namespace(&self, ns: &str) -> Result<()> {
        if self.sees(ns) {
            Ok(())
        } else {
            Err(Error::forbidden(format!(
                "the credentials are limited to other namespaces than {ns:?}"
            )))
        }
    }

    /// The namespace a read without one is limited to: `None` (every namespace) for
    /// a caller not limited to some, the one namespace of a caller limited to one; a
    /// caller limited to several must name one.
    pub fn read_namespace(&self, given: Option<String>) -> Result<Option<String>> {
        match (given, &self.namespaces) {
            (Some(ns), _) => self.check_namespace(&ns).map(|()| Some(ns)),
            (None, None) => Ok(None),
            (None, Some(list)) if list.len() == 1 => Ok(Some(list[0].clone())),
            (None, Some(list)) => Err(Error::forbidden(format!(
                "the credentials are limited to the namespaces {}: name one",
                list.join(", ")
            ))),
        }
    }

    /// Whether a record of `tenant` in namespace `ns` is the caller's to see.
    pub fn owns(&self, tenant: &Tenant, ns: &str) -> bool {
        &self.tenant == tenant && self.sees(ns)
    }

    /// Holds a read's filter to the caller's tenant and namespaces.
    pub fn confine(&self, filter: &mut Filter) -> Result<()> {
        filter.namespace = self.read_namespace(filter.namespace.take())?;
        filter.tenant = self.tenant.clone();
        Ok(())
    }

    /// Fails unless the caller may act for `tenant` (its own, or any for an operator).
    pub fn check_tenant(&self, tenant: &Tenant) -> Result<()> {
        if self.operator || &self.tenant == tenant {
            Ok(())
        } else {
            Err(Error::forbidden(
                "the credentials belong to another tenant".to_owned(),
            ))
        }
    }
}

/// An API key as stored: its hash, never the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    /// The key's id.
    pub id: String,
    /// The first characters of the key (`omx_` and 8 more), safe to log and show.
    pub prefix: String,
    /// SHA-256 of the whole key, hex (the key itself is never stored).
    #[serde(skip)]
    pub hash: String,
    /// A label given at creation.
    pub name: String,
    /// The tenant the key belongs to.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tenant: Tenant,
    /// What the key may do.
    pub permission: Permission,
    /// The namespaces the key is limited to; absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<String>>,
    /// When the key was made.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// When the key stops working, if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<Timestamp>,
    /// When the key was revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub revoked_at: Option<Timestamp>,
    /// When the key was first used, if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub first_used_at: Option<Timestamp>,
}

impl ApiKey {
    /// The principal this key authenticates, if it is neither revoked nor expired at `now`.
    pub fn principal(&self, now: Timestamp) -> Option<Principal> {
        if self.revoked_at.is_some() || self.expires_at.is_some_and(|t| t <= now) {
            return None;
        }
        let mut p = Principal::new(self.tenant.clone(), self.permission, self.prefix.clone());
        p.namespaces = self.namespaces.clone();
        Some(p)
    }
}

/// The input of `Omnex::create_api_key`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewApiKey {
    /// A label for people (for example who or what uses the key).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::validate::schema::KeyName))]
    pub name: String,
    /// The tenant (default: the caller's).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::validate::schema::Tenant>))]
    pub tenant: Option<String>,
    /// `read`, `write` or `admin` (default `write`).
    #[serde(default = "default_permission")]
    pub permission: Permission,
    /// Limit the key to these namespaces (at least one; leave it out for all).
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = Option<Vec<crate::validate::schema::Namespace>>, min_items = 1)
    )]
    pub namespaces: Option<Vec<String>>,
    /// Seconds until the key expires (default: never).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::validate::schema::TtlSeconds>))]
    pub ttl_seconds: Option<u64>,
}

fn default_permission() -> Permission {
    Permission::Write
}

impl Default for NewApiKey {
    fn default() -> Self {
        Self {
            name: String::new(),
            tenant: None,
            permission: default_permission(),
            namespaces: None,
            ttl_seconds: None,
        }
    }
}

/// A key just made: the only time the secret is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiKey {
    /// The whole key, to give to the caller once: it cannot be read again.
    pub key: String,
    /// What is stored about it.
    #[serde(flatten)]
    pub info: ApiKey,
}

/// A security event, as the audit log keeps it: who, what, on what, and the outcome.
/// It never holds a secret or the content of a memory or context.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    /// Position in the log (grows by one per event).
    pub seq: i64,
    /// When it happened.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: Timestamp,
    /// The tenant it concerns, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// What happened: `key.created`, `key.revoked`, `key.first_use`, `auth.failed`,
    /// `access.denied`, `memory.deleted`, `context.deleted`, `export`.
    pub action: String,
    /// Who did it (a key prefix, a token subject, `local`), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// What it was done to (a memory id, a `namespace/key`, a key id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// More about it (a reason for a failure, never a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A page request of the audit log, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListAudit {
    /// Only this tenant's events (the core sets it for callers that are not operators).
    pub tenant: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Page size (default 50, at most 1000).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}
