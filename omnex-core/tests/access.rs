//! Access control through the facade on the embedded backends: tenants, permissions,
//! namespaces, API keys, the audit log, and the upgrade of a database made before
//! tenants. (The scale-out backends run the same tenant property in `scale_out.rs`;
//! every store and index runs the tenant contracts of its conformance suite.)

use std::sync::Arc;

use omnex_core::{
    backend::{exact::ExactIndex, hnsw::HnswIndex, sqlite::SqliteStore},
    conformance::{tenants::tenants_never_cross, unique_tenant, Rng},
    model::{
        Filter, ListAudit, ListContexts, ListMemories, NewApiKey, NewMemory, Permission, Principal,
        PutContext, Scope, SearchRequest, Tenant,
    },
    ErrorKind, Omnex,
};
use serde_json::json;

const DIM: usize = 8;

async fn engine(hnsw: bool) -> Omnex {
    let index: Arc<dyn omnex_core::VectorIndex> = if hnsw {
        Arc::new(HnswIndex::new(DIM))
    } else {
        Arc::new(ExactIndex::new(DIM))
    };
    Omnex::builder()
        .store(Arc::new(SqliteStore::in_memory().await.unwrap()))
        .index(index)
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_never_cross_on_sqlite_and_hnsw() {
    for seed in 1..=4 {
        tenants_never_cross(&engine(true).await, seed, 150).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_never_cross_on_sqlite_and_exact() {
    tenants_never_cross(&engine(false).await, 9, 150).await;
}

/// More memories than the index's exact threshold, in two tenants: a plain search of
/// one tenant walks the graph and still returns only its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_search_of_one_tenant_skips_the_others() {
    let omnex = engine(true).await;
    let mut rng = Rng::new(3);
    let (a, b) = (unique_tenant(), unique_tenant());
    let as_a = omnex.with_principal(Principal::new(a.clone(), Permission::Write, "a"));
    let as_b = omnex.with_principal(Principal::new(b.clone(), Permission::Write, "b"));
    for (api, n) in [(&as_a, 2100), (&as_b, 2100)] {
        let batch: Vec<NewMemory> = (0..n)
            .map(|i| NewMemory::new(format!("m{i}")).with_embedding(rng.vector(DIM)))
            .collect();
        for chunk in batch.chunks(1000) {
            api.add_memories(chunk.to_vec()).await.unwrap();
        }
    }
    for (api, t) in [(&as_a, &a), (&as_b, &b), (&omnex, &Tenant::default())] {
        for _ in 0..20 {
            let hits = api
                .search(SearchRequest::vector(rng.vector(DIM)).with_limit(20))
                .await
                .unwrap();
            assert!(hits.iter().all(|h| &h.memory.tenant == t));
            if t != &Tenant::default() {
                assert_eq!(hits.len(), 20);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_and_namespaces_are_enforced() {
    let omnex = engine(true).await;
    let t = unique_tenant();
    let writer = omnex.with_principal(Principal::new(t.clone(), Permission::Write, "w"));
    let reader = omnex.with_principal(Principal::new(t.clone(), Permission::Read, "r"));
    let m = writer
        .add_memory(
            NewMemory::new("in app")
                .with_scope(Scope::namespace("app"))
                .with_embedding(vec![1.0; DIM]),
        )
        .await
        .unwrap();
    // Read-only: reads pass, every write is forbidden.
    assert_eq!(reader.get_memory(m.id).await.unwrap().content, "in app");
    for err in [
        reader
            .add_memory(NewMemory::new("x").with_embedding(vec![1.0; DIM]))
            .await
            .unwrap_err(),
        reader.delete_memory(m.id).await.unwrap_err(),
        reader
            .put_context(PutContext::new("app", "k", json!(1)))
            .await
            .unwrap_err(),
        reader.delete_context("app", "k", None).await.unwrap_err(),
        writer
            .create_api_key(NewApiKey::default())
            .await
            .unwrap_err(),
        writer.audit_log(ListAudit::default()).await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
    }
    assert!(writer.get_memory(m.id).await.is_ok(), "nothing was deleted");

    // Limited to one namespace: writes elsewhere are forbidden, reads by id elsewhere
    // are not found, listings and searches stay inside it.
    let other = writer
        .add_memory(
            NewMemory::new("in private")
                .with_scope(Scope::namespace("private"))
                .with_embedding(vec![1.0; DIM]),
        )
        .await
        .unwrap();
    let app_only = omnex.with_principal(
        Principal::new(t.clone(), Permission::Write, "app").with_namespaces(vec!["app".into()]),
    );
    let err = app_only
        .add_memory(
            NewMemory::new("x")
                .with_scope(Scope::namespace("private"))
                .with_embedding(vec![1.0; DIM]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(
        app_only.get_memory(other.id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        app_only.delete_memory(other.id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let listed = app_only
        .list_memories(ListMemories::default())
        .await
        .unwrap();
    assert_eq!(
        listed.items.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![m.id]
    );
    let hits = app_only
        .search(SearchRequest::vector(vec![1.0; DIM]).with_limit(10))
        .await
        .unwrap();
    assert_eq!(
        hits.iter().map(|h| h.memory.id).collect::<Vec<_>>(),
        vec![m.id]
    );
    let err = app_only
        .list_memories(ListMemories {
            filter: Filter::default().with_namespace("private"),
            ..ListMemories::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    // Limited to two namespaces: a read must name one.
    let two = omnex.with_principal(
        Principal::new(t, Permission::Read, "two").with_namespaces(vec!["app".into(), "x".into()]),
    );
    assert_eq!(
        two.list_contexts(ListContexts::default())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Forbidden
    );
    assert!(two
        .list_contexts(ListContexts {
            namespace: Some("app".into()),
            ..ListContexts::default()
        })
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_authenticate_expire_and_revoke() {
    let omnex = engine(true).await;
    assert!(!omnex.has_api_keys().await.unwrap());
    let t = unique_tenant();
    let made = omnex
        .create_api_key(NewApiKey {
            name: "ci".into(),
            tenant: Some(t.to_string()),
            permission: Permission::Admin,
            ..NewApiKey::default()
        })
        .await
        .unwrap();
    assert!(omnex.has_api_keys().await.unwrap());
    assert!(made.key.starts_with(&made.info.prefix));
    // What is listed and serialized never holds the key or its hash.
    let listed = serde_json::to_string(&omnex.list_api_keys(Some("*")).await.unwrap()).unwrap();
    assert!(listed.contains(&made.info.prefix));
    assert!(!listed.contains(&made.key) && !listed.contains(&made.info.hash));

    let p = omnex.authenticate_key(&made.key).await.unwrap();
    assert_eq!(
        (p.tenant.clone(), p.permission, p.operator),
        (t.clone(), Permission::Admin, false)
    );
    // A tenant admin makes keys for its own tenant only, never more than itself.
    let admin = omnex.with_principal(p);
    let reader = admin
        .create_api_key(NewApiKey {
            permission: Permission::Read,
            namespaces: Some(vec!["app".into()]),
            ttl_seconds: Some(1),
            ..NewApiKey::default()
        })
        .await
        .unwrap();
    assert_eq!(reader.info.tenant, t);
    let err = admin
        .create_api_key(NewApiKey {
            tenant: Some("elsewhere".into()),
            ..NewApiKey::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    let limited = omnex.with_principal(omnex.authenticate_key(&reader.key).await.unwrap());
    assert_eq!(limited.principal().namespaces, Some(vec!["app".to_owned()]));

    // Wrong, tampered, expired and revoked keys are all the same 401.
    let mut tampered = made.key.clone();
    tampered.pop();
    tampered.push('!');
    for bad in [tampered.as_str(), "omx_nope", "", "Bearer x"] {
        let err = omnex.authenticate_key(bad).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthorized);
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let err = omnex.authenticate_key(&reader.key).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "expired");
    // Another tenant's admin cannot see or revoke the key.
    let stranger = omnex.with_principal(Principal::new(unique_tenant(), Permission::Admin, "s"));
    assert_eq!(
        stranger
            .revoke_api_key(&made.info.id)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert!(stranger.list_api_keys(None).await.unwrap().is_empty());
    admin.revoke_api_key(&made.info.prefix).await.unwrap();
    let err = omnex.authenticate_key(&made.key).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "revoked");

    // The audit log names what happened, by key prefix, without the keys.
    let log = omnex
        .audit_log(ListAudit {
            limit: Some(1000),
            ..ListAudit::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = log.items.iter().map(|e| e.action.as_str()).collect();
    for want in [
        "key.created",
        "key.first_use",
        "auth.failed",
        "access.denied",
        "key.revoked",
    ] {
        assert!(actions.contains(&want), "{want} missing from {actions:?}");
    }
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(&made.key) && !text.contains(&reader.key) && !text.contains(&tampered));
    assert!(text.contains(&made.info.prefix));
    // A tenant admin reads its own tenant's events only.
    let own = admin
        .audit_log(ListAudit {
            limit: Some(1000),
            ..ListAudit::default()
        })
        .await
        .unwrap();
    assert!(!own.items.is_empty());
    assert!(own
        .items
        .iter()
        .all(|e| e.tenant.as_deref() == Some(t.as_str())));
}

/// A database made before tenants (schema version 3) opens with everything in the
/// default tenant: contexts and memories read, list and search as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_made_before_tenants_upgrades_with_nothing_lost() {
    use sqlx::{Connection, SqliteConnection};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("omnex.db");
    {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let mut conn = SqliteConnection::connect(&url).await.unwrap();
        for sql in [
            include_str!("../src/backend/sqlite/migrations/0001_init.sql"),
            include_str!("../src/backend/sqlite/migrations/0002_full_text.sql"),
            include_str!("../src/backend/sqlite/migrations/0003_term_counts.sql"),
            "PRAGMA user_version = 3",
        ] {
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        }
        sqlx::raw_sql(
            "INSERT INTO contexts VALUES ('app', 'settings', '0190b5c4-0000-7000-8000-000000000001', \
             '{\"theme\":\"dark\"}', '[\"ui\"]', 1700000000000000, 1700000000000000, 3, NULL);
             INSERT INTO memories (id, namespace, user_id, agent_id, session_id, content, metadata, \
             embedding, created_at, updated_at, expires_at) VALUES \
             ('0190b5c4-0000-7000-8000-000000000002', 'app', 'alice', NULL, NULL, \
             'Alice likes green tea', '{}', X'0000803F0000803F0000803F0000803F0000803F0000803F0000803F0000803F', 1700000000000000, 1700000000000000, NULL);",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    }
    let omnex = Omnex::builder()
        .store(Arc::new(SqliteStore::open_path(&path).await.unwrap()))
        .index(Arc::new(HnswIndex::new(DIM)))
        .build()
        .await
        .unwrap();
    let ctx = omnex.get_context("app", "settings").await.unwrap();
    assert_eq!((ctx.value, ctx.version), (json!({"theme": "dark"}), 3));
    assert_eq!(ctx.tenant, Tenant::default());
    let listed = omnex.list_memories(ListMemories::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].content, "Alice likes green tea");
    assert_eq!(listed.items[0].tenant, Tenant::default());
    // The full-text index of the old rows is built on open, in the default tenant.
    let hits = omnex
        .search(SearchRequest::query("green tea").with_mode(omnex_core::model::SearchMode::Keyword))
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    // Another tenant sees none of it.
    let other = omnex.with_principal(Principal::new(unique_tenant(), Permission::Admin, "o"));
    assert!(other
        .list_memories(ListMemories::default())
        .await
        .unwrap()
        .items
        .is_empty());
    assert_eq!(
        other
            .get_context("app", "settings")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

/// Each tenant may hold what its quota allows; a write past it is refused with a
/// clear reason, another tenant is not affected, and a delete makes room again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_hold_per_tenant() {
    let mut config = omnex_core::Config::default();
    config.quota = omnex_core::config::Quota {
        memories: Some(3),
        contexts: Some(2),
        bytes: Some(400),
    };
    let omnex = Omnex::builder()
        .config(config)
        .store(Arc::new(SqliteStore::in_memory().await.unwrap()))
        .index(Arc::new(HnswIndex::new(DIM)))
        .build()
        .await
        .unwrap();
    let a = omnex.with_principal(Principal::new(unique_tenant(), Permission::Write, "a"));
    let b = omnex.with_principal(Principal::new(unique_tenant(), Permission::Write, "b"));
    let new = |text: &str| NewMemory::new(text).with_embedding(vec![1.0; DIM]);
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(a.add_memory(new(&format!("memory {i}"))).await.unwrap().id);
    }
    let err = a.add_memory(new("one too many")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert!(err.to_string().contains("quota exceeded"), "{err}");
    assert!(err.to_string().contains("3 memories of its 3"), "{err}");
    b.add_memory(new("b has its own quota")).await.unwrap();
    a.delete_memory(ids[0]).await.unwrap();
    a.add_memory(new("room again")).await.unwrap();

    a.put_context(PutContext::new("app", "one", json!(1)))
        .await
        .unwrap();
    a.put_context(PutContext::new("app", "two", json!(2)))
        .await
        .unwrap();
    a.put_context(PutContext::new("app", "two", json!(22)))
        .await
        .unwrap();
    let err = a
        .put_context(PutContext::new("app", "three", json!(3)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
    let err = b.add_memory(new(&"x".repeat(500))).await.unwrap_err();
    assert!(err.to_string().contains("bytes"), "{err}");
}

/// An export by the local operator holds every tenant's records, each with its
/// tenant, and an import puts them back where they were; a tenant's own export holds
/// only its records. Exports are audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_keep_every_tenant_apart() {
    let omnex = engine(true).await;
    let acme = omnex.with_principal(Principal::new(unique_tenant(), Permission::Write, "a"));
    acme.add_memory(NewMemory::new("acme's").with_embedding(vec![1.0; DIM]))
        .await
        .unwrap();
    acme.put_context(PutContext::new("app", "k", json!("acme")))
        .await
        .unwrap();
    omnex
        .add_memory(NewMemory::new("local").with_embedding(vec![1.0; DIM]))
        .await
        .unwrap();
    omnex
        .put_context(PutContext::new("app", "k", json!("local")))
        .await
        .unwrap();

    let mut all = Vec::new();
    let counts = omnex_core::transfer::export(&omnex, &mut all, |_| {})
        .await
        .unwrap();
    assert_eq!((counts.contexts, counts.memories), (2, 2));
    let mut own = Vec::new();
    let counts = omnex_core::transfer::export(&acme, &mut own, |_| {})
        .await
        .unwrap();
    assert_eq!((counts.contexts, counts.memories), (1, 1));
    assert!(!String::from_utf8_lossy(&own).contains("local"));

    let copy = engine(true).await;
    omnex_core::transfer::import(&copy, &all[..], |_| {})
        .await
        .unwrap();
    let acme_copy = copy.with_principal(acme.principal().clone());
    assert_eq!(
        acme_copy.get_context("app", "k").await.unwrap().value,
        json!("acme")
    );
    assert_eq!(
        copy.get_context("app", "k").await.unwrap().value,
        json!("local")
    );
    let listed = acme_copy
        .list_memories(ListMemories::default())
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].content, "acme's");
    let log = omnex
        .audit_log(ListAudit {
            action: Some("export".into()),
            ..ListAudit::default()
        })
        .await
        .unwrap();
    assert_eq!(
        log.items.len(),
        3,
        "two tenants by the operator, one by acme"
    );
}
