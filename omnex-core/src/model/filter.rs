use serde::{Deserialize, Serialize};

use super::{Metadata, Scope, Tenant, Timestamp};

/// Which memories a listing or a search may return. Every set field must match.
///
/// The same struct means the same thing for every store and every index; indexes
/// apply it *inside* the search (pre-filter), so a search for one user returns that
/// user's k best.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Filter {
    /// Only this tenant: always set, by the core, from the caller's credentials.
    #[serde(skip)]
    pub tenant: Tenant,
    /// Only this namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Only this user.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Only this agent.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Only this session.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Metadata equality: every key must be present with an equal scalar value.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: Metadata,
}

impl Filter {
    /// Restricts to a namespace.
    pub fn with_namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = Some(ns.into());
        self
    }
    /// Restricts to a user.
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user_id = Some(user.into());
        self
    }
    /// Restricts to an agent.
    pub fn with_agent(mut self, agent: impl Into<String>) -> Self {
        self.agent_id = Some(agent.into());
        self
    }
    /// Restricts to a session.
    pub fn with_session(mut self, session: impl Into<String>) -> Self {
        self.session_id = Some(session.into());
        self
    }
    /// Requires `metadata[key] == value`.
    pub fn with_metadata(mut self, key: impl Into<String>, value: serde_json::Value) -> Self {
        self.metadata.insert(key.into(), value);
        self
    }

    /// Whether a memory with these fields passes the filter at time `now`.
    pub fn matches(&self, fields: &FilterFields, now: Timestamp) -> bool {
        fn eq(want: &Option<String>, have: &Option<String>) -> bool {
            want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        }
        fields.tenant == self.tenant
            && fields.expires_at.is_none_or(|t| t > now)
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| *ns == fields.scope.namespace)
            && eq(&self.user_id, &fields.scope.user_id)
            && eq(&self.agent_id, &fields.scope.agent_id)
            && eq(&self.session_id, &fields.scope.session_id)
            && self.metadata.iter().all(|(k, v)| {
                fields
                    .metadata
                    .get(k)
                    .is_some_and(|have| json_scalar_eq(have, v))
            })
    }
}

/// Scalar JSON equality where numbers compare by value (`1 == 1.0`).
pub(crate) fn json_scalar_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// What an index keeps of a memory to apply a [`Filter`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterFields {
    /// The memory's tenant (`default` in snapshots made before tenants).
    #[serde(default)]
    pub tenant: Tenant,
    /// The memory's scope.
    pub scope: Scope,
    /// The memory's metadata.
    pub metadata: Metadata,
    /// The memory's expiry.
    pub expires_at: Option<Timestamp>,
}
