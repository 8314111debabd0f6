//! Contracts of [`Store`] about tenants, API keys and the audit log.

use std::collections::BTreeSet;

use serde_json::json;

use super::{context, ids, list_all, memory, text_search};
use crate::{
    conformance::{unique_namespace, unique_tenant, Rng},
    model::{
        now, ApiKey, AuditEvent, Filter, ListAudit, ListContexts, MemoryId, Permission,
        Precondition, Scope, Tenant,
    },
    store::Store,
    ErrorKind,
};

fn tenant(name: &str) -> Tenant {
    Tenant::new(name).unwrap()
}

/// Two tenants with the same namespace and keys never see each other's contexts:
/// reads, listings, versions and deletes are per tenant.
pub async fn tenants_keep_contexts_apart(s: &dyn Store) {
    let ns = unique_namespace();
    let (a, b) = (tenant("acme"), unique_tenant());
    let mut ca = context(&ns, "k", json!("of a"));
    ca.tenant = a.clone();
    let mut cb = context(&ns, "k", json!("of b"));
    cb.tenant = b.clone();
    s.put_context(&ca, Precondition::None).await.unwrap();
    // Creating "only if absent" in b succeeds although a holds the same key.
    let stored_b = s.put_context(&cb, Precondition::Absent).await.unwrap();
    assert_eq!(stored_b.version, 1);
    assert_eq!(stored_b.tenant, b);
    let got_a = s.get_context(&a, &ns, "k").await.unwrap().unwrap();
    assert_eq!((got_a.value, got_a.tenant), (json!("of a"), a.clone()));
    let got_b = s.get_context(&b, &ns, "k").await.unwrap().unwrap();
    assert_eq!(got_b.value, json!("of b"));
    assert!(s
        .get_context(&Tenant::default(), &ns, "k")
        .await
        .unwrap()
        .is_none());
    let listed = |t: Tenant| {
        let req = ListContexts {
            tenant: t,
            namespace: Some(ns.clone()),
            limit: Some(100),
            ..ListContexts::default()
        };
        async move { s.list_contexts(&req).await.unwrap().items }
    };
    let in_b = listed(b.clone()).await;
    assert_eq!(in_b.len(), 1);
    assert_eq!(in_b[0].value, json!("of b"));
    assert!(s
        .delete_context(&a, &ns, "k", Precondition::None)
        .await
        .unwrap());
    assert!(listed(a.clone()).await.is_empty());
    assert_eq!(
        s.get_context(&b, &ns, "k").await.unwrap().unwrap().value,
        json!("of b")
    );
}

/// Memories of two tenants in one namespace: listings and full-text search of one
/// tenant never return the other's, and every memory reads back with its tenant.
pub async fn tenants_keep_memories_apart(s: &dyn Store) {
    let mut rng = Rng::new(31);
    let ns = unique_namespace();
    let (a, b) = (tenant("acme"), unique_tenant());
    let scope = Scope::namespace(ns.clone());
    let mut batch = Vec::new();
    for (i, t) in [&a, &b, &a, &b, &Tenant::default()].into_iter().enumerate() {
        let mut m = memory(
            scope.clone(),
            &format!("quarterly zebra report {i}"),
            &mut rng,
        );
        m.tenant = t.clone();
        batch.push(m);
    }
    s.put_memories(&batch).await.unwrap();
    let read = s.get_memories(&ids(&batch)).await.unwrap();
    assert_eq!(
        read.iter().map(|m| m.tenant.clone()).collect::<Vec<_>>(),
        batch.iter().map(|m| m.tenant.clone()).collect::<Vec<_>>()
    );
    for t in [&a, &b, &Tenant::default()] {
        let want: BTreeSet<MemoryId> = batch
            .iter()
            .filter(|m| &m.tenant == t)
            .map(|m| m.id)
            .collect();
        let filter = Filter {
            tenant: t.clone(),
            ..Filter::default().with_namespace(&ns)
        };
        let listed: BTreeSet<MemoryId> = list_all(s, filter.clone())
            .await
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(listed, want, "listing of tenant {t}");
        // Without a namespace, too.
        let everywhere: BTreeSet<MemoryId> = list_all(
            s,
            Filter {
                tenant: t.clone(),
                ..Filter::default()
            },
        )
        .await
        .iter()
        .map(|m| m.id)
        .filter(|id| batch.iter().any(|m| m.id == *id))
        .collect();
        assert_eq!(everywhere, want, "listing of tenant {t} in every namespace");
        if s.text_analyzer().is_some() {
            let found: BTreeSet<MemoryId> = text_search(s, "zebra", filter, 10)
                .await
                .into_iter()
                .collect();
            assert_eq!(found, want, "keyword search of tenant {t}");
        }
    }
}

/// API keys are stored by hash, found by hash, listed per tenant, revoked once and
/// marked used once.
pub async fn api_keys_roundtrip(s: &dyn Store) {
    let ns = unique_namespace();
    let t = unique_tenant();
    let id = t.as_str()[1..9].to_owned();
    let key = ApiKey {
        prefix: format!("omx_{id}"),
        id,
        hash: format!("{ns}-hash"),
        name: "ci".into(),
        tenant: t.clone(),
        permission: Permission::Read,
        namespaces: Some(vec!["a".into(), "b".into()]),
        created_at: now(),
        expires_at: None,
        revoked_at: None,
        first_used_at: None,
    };
    s.put_api_key(&key).await.unwrap();
    assert_eq!(
        s.api_key_by_hash(&key.hash).await.unwrap(),
        Some(key.clone())
    );
    assert_eq!(s.api_key_by_hash("no such hash").await.unwrap(), None);
    assert_eq!(s.api_keys(Some(&t)).await.unwrap(), vec![key.clone()]);
    assert!(s
        .api_keys(None)
        .await
        .unwrap()
        .iter()
        .any(|k| k.id == key.id));
    assert!(s.mark_api_key_used(&key.id, now()).await.unwrap());
    assert!(!s.mark_api_key_used(&key.id, now()).await.unwrap());
    let at = now();
    let revoked = s.revoke_api_key(&key.id, at).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(at));
    assert!(revoked.first_used_at.is_some());
    // Revoking again keeps the first time.
    let again = s.revoke_api_key(&key.id, now()).await.unwrap().unwrap();
    assert_eq!(again.revoked_at, Some(at));
    assert_eq!(s.revoke_api_key("missing!", now()).await.unwrap(), None);
}

/// The audit log keeps events in order, pages newest first and filters by tenant.
pub async fn audit_log_pages(s: &dyn Store) {
    let t = unique_tenant().to_string();
    for i in 0..5 {
        s.append_audit(&AuditEvent {
            seq: 0,
            at: now(),
            tenant: Some(t.clone()),
            action: if i % 2 == 0 {
                "key.created"
            } else {
                "auth.failed"
            }
            .into(),
            subject: Some(format!("omx_{i}")),
            target: None,
            detail: None,
        })
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .list_audit(&ListAudit {
                tenant: Some(t.clone()),
                limit: Some(2),
                cursor: cursor.take(),
                ..ListAudit::default()
            })
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|e| e.subject.clone().unwrap()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ["omx_4", "omx_3", "omx_2", "omx_1", "omx_0"]);
    let created = s
        .list_audit(&ListAudit {
            tenant: Some(t.clone()),
            action: Some("key.created".into()),
            ..ListAudit::default()
        })
        .await
        .unwrap();
    assert_eq!(created.items.len(), 3);
    let err = s
        .list_audit(&ListAudit {
            cursor: Some("x".into()),
            ..ListAudit::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

/// A write never moves a memory to another tenant: a batch that holds another
/// tenant's id is a `Conflict`, and nothing of it is kept.
pub async fn memory_ids_never_move_between_tenants(s: &dyn Store) {
    let ns = unique_namespace();
    let mut rng = Rng::new(11);
    let (a, b) = (unique_tenant(), unique_tenant());
    let mut mine = memory(Scope::namespace(&ns), "tenant a's memory", &mut rng);
    mine.tenant = a.clone();
    s.put_memories(std::slice::from_ref(&mine)).await.unwrap();
    let mut fresh = memory(Scope::namespace(&ns), "a new memory of b", &mut rng);
    fresh.tenant = b.clone();
    let mut taken = mine.clone();
    taken.tenant = b.clone();
    taken.content = "b's attempt".into();
    let err = s.put_memories(&[fresh.clone(), taken]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    let got = s.get_memories(&[mine.id, fresh.id]).await.unwrap();
    assert_eq!(got.len(), 1, "nothing of the batch is kept");
    assert_eq!(
        (got[0].tenant.clone(), got[0].content.as_str()),
        (a, "tenant a's memory")
    );
}
