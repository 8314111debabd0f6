//! The Rust HTTP client against a real server: the same results and error kinds
//! as the embedded facade.

mod common;

use common::TestServer;
use omnex_core::{
    model::{
        Filter, ListContexts, ListMemories, MemoryUpdate, NewMemory, PutContext, Scope,
        SearchRequest,
    },
    ErrorKind,
};
use omnex_http::{client::Client, ServerOptions};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_matches_the_facade() {
    let s = TestServer::start_with(ServerOptions {
        api_key: Some("k3y".into()),
        ..ServerOptions::default()
    })
    .await;
    let c = Client::new(&s.base, Some("k3y".into())).unwrap();

    let ctx = c
        .put_context(PutContext::new("app", "a b/c", json!({"x": 1})).with_tags(["t"]))
        .await
        .unwrap();
    assert_eq!(ctx.version, 1);
    assert_eq!(c.get_context("app", "a b/c").await.unwrap(), ctx);
    let err = c
        .put_context(PutContext::new("app", "a b/c", json!(2)).with_if_version(7))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains("app/a b/c"), "{err}");
    let page = c
        .list_contexts(ListContexts {
            namespace: Some("app".into()),
            ..ListContexts::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items, vec![ctx.clone()]);
    c.delete_context("app", "a b/c", Some(1)).await.unwrap();
    let err = c.get_context("app", "a b/c").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    let alice = Scope::namespace("cl").with_user("alice");
    let m = c
        .add_memory(NewMemory::new("Alice is allergic to peanuts").with_scope(alice.clone()))
        .await
        .unwrap();
    let batch = c
        .add_memories(vec![
            NewMemory::new("Alice runs marathons").with_scope(alice.clone()),
            NewMemory::new("Bob plays cello").with_scope(Scope::namespace("cl").with_user("bob")),
        ])
        .await
        .unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(c.get_memory(m.id).await.unwrap().content, m.content);
    let hits = c
        .search(
            SearchRequest::query("food allergy")
                .with_filter(Filter::default().with_user("alice"))
                .with_limit(1),
        )
        .await
        .unwrap();
    assert_eq!(hits[0].memory.id, m.id);
    let updated = c
        .update_memory(
            m.id,
            MemoryUpdate {
                metadata: Some(json!({"k": "v"}).as_object().unwrap().clone()),
                ..MemoryUpdate::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.metadata["k"], "v");
    let listed = c
        .list_memories(ListMemories {
            filter: Filter::default().with_namespace("cl"),
            limit: Some(2),
            cursor: None,
        })
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 2);
    assert!(listed.next_cursor.is_some());
    c.delete_memory(m.id).await.unwrap();
    assert_eq!(
        c.get_memory(m.id).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );

    let err = c.add_memory(NewMemory::new("  ")).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("content"))
    );
    let err = c
        .search(SearchRequest::query("x").with_limit(500))
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("limit"))
    );

    let wrong_key = Client::new(&s.base, Some("nope".into())).unwrap();
    let err = wrong_key.get_context("app", "k").await.unwrap_err();
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("api_key"))
    );
    let down = Client::new("http://127.0.0.1:9", None).unwrap();
    assert_eq!(
        down.get_context("app", "k").await.unwrap_err().kind(),
        ErrorKind::Unavailable
    );
}
