//! Contracts of [`OmnexApi`] about the change feed, histories and jobs.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::{
    conformance::unique_namespace,
    error::Entity,
    model::{
        Event, EventKind, Filter, JobKind, JobStatus, ListMemories, MemoryId, MemoryUpdate,
        NewMemory, PutContext, Scope,
    },
    Changes, ErrorKind, OmnexApi,
};

/// Each event's kind and version.
fn kinds(events: &[Event]) -> Vec<(EventKind, u64)> {
    events.iter().map(|e| (e.kind, e.version)).collect()
}

/// Events and jobs: every write is one event of the namespace's feed, in order, with
/// its kind and version; a feed resumed from `next` repeats and skips nothing; a
/// memory's and a context's history tell their versions; an asynchronous batch is a
/// job that a worker finishes.
pub async fn events_and_history(api: &dyn OmnexApi) {
    use EventKind as K;
    let ns = unique_namespace();
    let key = "plans/next week";
    for step in 1..=2 {
        api.put_context(PutContext::new(&ns, key, json!({ "step": step })))
            .await
            .unwrap();
    }
    let scope = Scope::namespace(&ns).with_user("alice");
    let m = api
        .add_memory(NewMemory::new("Alice prefers window seats").with_scope(scope.clone()))
        .await
        .unwrap();
    let update = MemoryUpdate {
        metadata: Some(json!({"source": "chat"}).as_object().unwrap().clone()),
        ..MemoryUpdate::default()
    };
    api.update_memory(m.id, update).await.unwrap();
    api.delete_memory(m.id).await.unwrap();
    api.delete_context(&ns, key, None).await.unwrap();
    // Another namespace's write is not in this namespace's feed.
    api.put_context(PutContext::new(unique_namespace(), "k", json!(0)))
        .await
        .unwrap();

    let feed = |since: i64, limit: Option<usize>, include_data: bool| Changes {
        since,
        namespaces: vec![ns.clone()],
        include_data,
        limit,
        ..Changes::default()
    };
    let page = api.changes(feed(0, None, true)).await.unwrap();
    let e = &page.events;
    assert_eq!(
        kinds(e),
        [
            (K::ContextPut, 1),
            (K::ContextPut, 2),
            (K::MemoryAdd, 1),
            (K::MemoryUpdate, 2),
            (K::MemoryDelete, 2),
            (K::ContextDelete, 2),
        ]
    );
    assert!(!page.more);
    assert!(e.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(page.next >= e[5].seq && page.oldest <= e[0].seq);
    assert!(e.iter().all(|e| e.namespace == ns));
    assert_eq!(
        (e[0].key.as_deref(), e[5].key.as_deref()),
        (Some(key), Some(key))
    );
    assert!(e[2..5].iter().all(|e| e.id == m.id.to_string()
        && e.user_id.as_deref() == Some("alice")
        && e.key.is_none()));
    assert_eq!(e[0].data.as_ref().unwrap()["value"], json!({"step": 1}));
    assert_eq!(e[2].data.as_ref().unwrap()["content"], json!(m.content));
    assert_eq!(e[3].data.as_ref().unwrap()["metadata"]["source"], "chat");
    assert!(
        e[4].data.is_none() && e[5].data.is_none(),
        "deletes carry no data"
    );

    // Two at a time: every event once, in order, and nothing after the last `next`.
    let mut seen = Vec::new();
    let mut since = 0;
    loop {
        let p = api.changes(feed(since, Some(2), false)).await.unwrap();
        assert!(p.events.len() <= 2);
        assert!(
            p.events.iter().all(|e| e.data.is_none()),
            "data only when asked"
        );
        seen.extend(p.events.iter().map(|e| e.seq));
        since = p.next;
        if !p.more {
            break;
        }
    }
    assert_eq!(seen, e.iter().map(|e| e.seq).collect::<Vec<_>>());
    let after = api.changes(feed(since, None, false)).await.unwrap();
    assert!(after.events.is_empty(), "{after:?}");
    assert!(after.next >= since);
    let only = api
        .changes(Changes {
            kinds: vec![K::MemoryAdd, K::ContextDelete],
            ..feed(0, None, false)
        })
        .await
        .unwrap();
    assert_eq!(
        kinds(&only.events),
        [(K::MemoryAdd, 1), (K::ContextDelete, 2)]
    );
    let err = api.changes(feed(0, Some(0), false)).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("limit"))
    );

    // Histories: the memory's three changes, a page at a time; the context's versions.
    let history = api.memory_history(m.id, 0, None).await.unwrap();
    assert_eq!(
        kinds(&history.events),
        [
            (K::MemoryAdd, 1),
            (K::MemoryUpdate, 2),
            (K::MemoryDelete, 2)
        ]
    );
    assert_eq!(
        history.events[1].data.as_ref().unwrap()["metadata"]["source"],
        "chat"
    );
    let first = api.memory_history(m.id, 0, Some(1)).await.unwrap();
    assert_eq!(
        (kinds(&first.events), first.more),
        (vec![(K::MemoryAdd, 1)], true)
    );
    let rest = api.memory_history(m.id, first.next, None).await.unwrap();
    assert_eq!(rest.events, history.events[1..]);
    let history = api.context_history(&ns, key, 0, None).await.unwrap();
    assert_eq!(
        kinds(&history.events),
        [
            (K::ContextPut, 1),
            (K::ContextPut, 2),
            (K::ContextDelete, 2)
        ]
    );
    assert_eq!(
        history.events[1].data.as_ref().unwrap()["value"],
        json!({"step": 2})
    );
    let err = api
        .memory_history(MemoryId::new(), 0, None)
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.entity()),
        (ErrorKind::NotFound, Some(Entity::Memory))
    );
    let err = api
        .context_history(&ns, "absent", 0, None)
        .await
        .unwrap_err();
    assert_eq!(
        (err.kind(), err.entity()),
        (ErrorKind::NotFound, Some(Entity::Context))
    );

    // An asynchronous batch: queued at once, then done by a worker.
    let texts = ["Bob flies on Tuesdays", "Bob likes aisle seats"];
    let batch = texts
        .iter()
        .map(|t| NewMemory::new(*t).with_scope(Scope::namespace(&ns)))
        .collect();
    let queued = api.add_memories_async(batch).await.unwrap();
    assert_eq!((queued.kind, queued.total), (JobKind::Embed, Some(2)));
    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let job = api.get_job(&queued.id).await.unwrap();
        if job.status.is_final() {
            break job;
        }
        assert!(Instant::now() < deadline, "not done in 60 s: {job:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((job.status, job.done), (JobStatus::Done, 2), "{job:?}");
    let listed = api
        .list_memories(ListMemories {
            filter: Filter::default().with_namespace(&ns),
            ..ListMemories::default()
        })
        .await
        .unwrap();
    let contents: Vec<&str> = listed.items.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(contents, texts);
    // Cancelling a finished job changes nothing; an unknown job is not found.
    assert_eq!(
        api.cancel_job(&job.id).await.unwrap().status,
        JobStatus::Done
    );
    let err = api.get_job("no-such-job").await.unwrap_err();
    assert_eq!(
        (err.kind(), err.entity()),
        (ErrorKind::NotFound, Some(Entity::Job)),
        "{err}"
    );
    let err = api.add_memories_async(Vec::new()).await.unwrap_err();
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("memories"))
    );
}

/// `follow` yields the matching events already there, then each new one as it
/// commits, once each and in order.
pub async fn follow_yields_new_events(api: &dyn OmnexApi) {
    use futures::StreamExt;
    let ns = unique_namespace();
    let put = |key: &str| PutContext::new(&ns, key, json!(key));
    api.put_context(put("before")).await.unwrap();
    let req = Changes {
        namespaces: vec![ns.clone()],
        ..Changes::default()
    };
    let mut events = std::pin::pin!(crate::follow(api, req, Duration::from_millis(50)));
    let first = events.next().await.unwrap().unwrap();
    assert_eq!(first.key.as_deref(), Some("before"));
    let wait = tokio::time::timeout(Duration::from_secs(10), async {
        api.put_context(put("after-1")).await.unwrap();
        api.put_context(put("after-2")).await.unwrap();
        let a = events.next().await.unwrap().unwrap();
        let b = events.next().await.unwrap().unwrap();
        (a, b)
    });
    let (a, b) = wait.await.expect("new events within 10 s");
    assert_eq!(
        (a.key.as_deref(), b.key.as_deref()),
        (Some("after-1"), Some("after-2"))
    );
    assert!(first.seq < a.seq && a.seq < b.seq);
}
