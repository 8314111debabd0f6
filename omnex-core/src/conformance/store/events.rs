//! Contracts of [`Store`] about the event log, the job queue and webhooks.

use serde_json::json;

use super::{context, ids, memory};
use crate::{
    conformance::{unique_namespace, unique_tenant, Rng},
    model::{
        now, EventKind, Job, JobKind, JobOutcome, JobStatus, ListEvents, ListJobs, Precondition,
        Scope, Subject, Webhook,
    },
    store::Store,
};

fn kinds(events: &[crate::model::Event]) -> Vec<(EventKind, u64)> {
    events.iter().map(|e| (e.kind, e.version)).collect()
}

/// Every write appends its events in order, with the actor, the version and (when
/// asked) the record's data; reads page through them without gap or duplicate,
/// and filter by tenant, namespace, kind and record.
pub async fn events_record_every_write(s: &dyn Store) {
    let ns = unique_namespace();
    let t = unique_tenant();
    let mut rng = Rng::new(17);
    let start = s.event_head().await.unwrap();
    let mut ctx = context(&ns, "profile", json!({"v": 1}));
    ctx.tenant = t.clone();
    s.put_context_by(&ctx, Precondition::None, Some("alice"))
        .await
        .unwrap();
    ctx.value = json!({"v": 2});
    s.put_context_by(&ctx, Precondition::Version(1), Some("bob"))
        .await
        .unwrap();
    assert!(s
        .delete_context_by(&t, &ns, "profile", Precondition::None, Some("carol"))
        .await
        .unwrap());
    // A delete of nothing records nothing.
    assert!(!s
        .delete_context_by(&t, &ns, "absent", Precondition::None, Some("carol"))
        .await
        .unwrap());
    let scope = Scope::namespace(&ns).with_user("u1");
    let mut ms = vec![
        memory(scope.clone(), "first", &mut rng),
        memory(scope, "second", &mut rng),
    ];
    for m in &mut ms {
        m.tenant = t.clone();
    }
    s.put_memories_by(&ms, Some("alice")).await.unwrap();
    ms[0].content = "first, changed".into();
    s.put_memories_by(&ms[..1], Some("bob")).await.unwrap();
    assert_eq!(
        s.delete_memories_by(&ids(&ms[1..]), Some("carol"))
            .await
            .unwrap(),
        1
    );
    assert!(s.event_head().await.unwrap() >= start + 7);

    let all = ListEvents {
        tenant: Some(t.clone()),
        include_data: true,
        ..ListEvents::default()
    };
    let page = s.list_events(&all).await.unwrap();
    assert_eq!(
        kinds(&page.events),
        vec![
            (EventKind::ContextPut, 1),
            (EventKind::ContextPut, 2),
            (EventKind::ContextDelete, 2),
            (EventKind::MemoryAdd, 1),
            (EventKind::MemoryAdd, 1),
            (EventKind::MemoryUpdate, 2),
            (EventKind::MemoryDelete, 1),
        ]
    );
    assert!(!page.more);
    assert!(page.next >= page.events.last().unwrap().seq);
    assert!(page.events.windows(2).all(|w| w[0].seq < w[1].seq));
    let e = &page.events;
    assert_eq!(e[0].actor.as_deref(), Some("alice"));
    assert_eq!(e[2].actor.as_deref(), Some("carol"));
    assert_eq!(e[0].key.as_deref(), Some("profile"));
    assert_eq!(e[0].data.as_ref().unwrap()["value"], json!({"v": 1}));
    assert_eq!(e[1].data.as_ref().unwrap()["value"], json!({"v": 2}));
    assert!(e[2].data.is_none(), "a delete carries no data");
    assert_eq!(e[5].id, ms[0].id.to_string());
    assert_eq!(
        e[5].data.as_ref().unwrap()["content"],
        json!("first, changed")
    );
    assert_eq!(e[3].user_id.as_deref(), Some("u1"));
    assert_eq!(
        e[6].user_id.as_deref(),
        Some("u1"),
        "a delete keeps the scope"
    );
    assert!(e.iter().all(|e| e.tenant == t && e.namespace == ns));

    // Without include_data, no content leaves the store.
    let bare = s
        .list_events(&ListEvents {
            include_data: false,
            ..all.clone()
        })
        .await
        .unwrap();
    assert!(bare.events.iter().all(|e| e.data.is_none()));

    // Pages of 3 resume where the last one ended: the same 7 events, once each.
    let mut seen = Vec::new();
    let mut since = 0;
    loop {
        let p = s
            .list_events(&ListEvents {
                since,
                limit: Some(3),
                ..all.clone()
            })
            .await
            .unwrap();
        seen.extend(p.events.iter().map(|e| e.seq));
        assert!(p.next >= since);
        since = p.next;
        if !p.more {
            break;
        }
    }
    assert_eq!(seen, page.events.iter().map(|e| e.seq).collect::<Vec<_>>());
    // Read from the end, nothing new.
    let after = s
        .list_events(&ListEvents {
            since: page.next,
            ..all.clone()
        })
        .await
        .unwrap();
    assert!(after.events.is_empty() && after.next == page.next);

    // Filters.
    let only = |req: ListEvents| async move { kinds(&s.list_events(&req).await.unwrap().events) };
    assert_eq!(
        only(ListEvents {
            kinds: vec![EventKind::MemoryAdd],
            ..all.clone()
        })
        .await
        .len(),
        2
    );
    assert!(only(ListEvents {
        tenant: Some(unique_tenant()),
        ..all.clone()
    })
    .await
    .is_empty());
    assert!(only(ListEvents {
        namespaces: vec![unique_namespace()],
        ..all.clone()
    })
    .await
    .is_empty());
    assert_eq!(
        only(ListEvents {
            subject: Some(Subject::Memory(ms[0].id)),
            ..all.clone()
        })
        .await,
        vec![(EventKind::MemoryAdd, 1), (EventKind::MemoryUpdate, 2)]
    );
    assert_eq!(
        only(ListEvents {
            subject: Some(Subject::Context {
                namespace: ns.clone(),
                key: "profile".into()
            }),
            ..all.clone()
        })
        .await,
        vec![
            (EventKind::ContextPut, 1),
            (EventKind::ContextPut, 2),
            (EventKind::ContextDelete, 2)
        ]
    );
}

/// Expiry writes `*.expire` events by `system`; pruning removes old events and
/// says from where the log is whole.
pub async fn events_expire_and_prune(s: &dyn Store) {
    let ns = unique_namespace();
    let mut rng = Rng::new(3);
    let mut m = memory(Scope::namespace(&ns), "short-lived", &mut rng);
    m.expires_at = Some(now() + chrono::TimeDelta::milliseconds(50));
    s.put_memories(std::slice::from_ref(&m)).await.unwrap();
    let mut c = context(&ns, "temp", json!(1));
    c.expires_at = Some(now() + chrono::TimeDelta::milliseconds(50));
    s.put_context(&c, Precondition::None).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(80)).await;
    s.purge_expired(now()).await.unwrap();
    let page = s
        .list_events(&ListEvents {
            namespaces: vec![ns.clone()],
            ..ListEvents::default()
        })
        .await
        .unwrap();
    let mut got = kinds(&page.events);
    got.sort_by_key(|(k, _)| k.as_str());
    assert_eq!(
        got,
        vec![
            (EventKind::ContextExpire, 1),
            (EventKind::ContextPut, 1),
            (EventKind::MemoryAdd, 1),
            (EventKind::MemoryExpire, 1),
        ]
    );
    assert!(page
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ContextExpire | EventKind::MemoryExpire))
        .all(|e| e.actor.as_deref() == Some("system")));
    assert_eq!(page.oldest, 1);
    let head = s.event_head().await.unwrap();
    assert!(
        s.prune_events(now() + chrono::TimeDelta::seconds(1))
            .await
            .unwrap()
            >= 4
    );
    let after = s.list_events(&ListEvents::default()).await.unwrap();
    assert!(after.events.is_empty());
    assert_eq!(
        after.oldest,
        head + 1,
        "the log says where it is whole from"
    );
    assert_eq!(
        s.event_head().await.unwrap(),
        head,
        "positions are never reused"
    );
}

fn job(tenant: &crate::model::Tenant, n: u32) -> Job {
    Job::new(tenant.clone(), JobKind::Cleanup, json!({"n": n}), 2)
}

/// Jobs are claimed once, oldest first, under a lease; a lapsed lease gives the
/// job to the next worker; retries wait and end dead after the last attempt;
/// cancelling stops a queued job at once and a running one at its checkpoint.
pub async fn jobs_claim_lease_and_finish(s: &dyn Store) {
    let t = unique_tenant();
    let (a, b) = (job(&t, 1), job(&t, 2));
    s.enqueue_jobs(&[a.clone(), b.clone()]).await.unwrap();
    let now = now();
    let lease = now + chrono::TimeDelta::seconds(30);
    let got = s
        .claim_job("w1", now, lease)
        .await
        .unwrap()
        .expect("a due job");
    assert_eq!(
        (got.id.as_str(), got.status, got.attempts),
        (a.id.as_str(), JobStatus::Running, 1)
    );
    assert_eq!(got.input, json!({"n": 1}), "a claim carries the input");
    let got_b = s
        .claim_job("w2", now, lease)
        .await
        .unwrap()
        .expect("the other job");
    assert_eq!(got_b.id, b.id);
    assert!(
        s.claim_job("w3", now, lease).await.unwrap().is_none(),
        "both are leased"
    );

    // Progress renews; another worker cannot report on a job it does not hold.
    assert!(s.renew_job(&a.id, "w1", 5, Some(10), lease).await.unwrap());
    assert!(!s.renew_job(&a.id, "w2", 6, Some(10), lease).await.unwrap());
    let seen = s.get_job(&a.id).await.unwrap().unwrap();
    assert_eq!((seen.done, seen.total), (5, Some(10)));
    assert_eq!(
        seen.input,
        serde_json::Value::Null,
        "reads leave the input out"
    );

    // w1 dies: once its lease lapses, w3 takes the job over.
    let later = now + chrono::TimeDelta::seconds(31);
    let taken = s
        .claim_job("w3", later, later + chrono::TimeDelta::seconds(30))
        .await
        .unwrap()
        .expect("the lapsed job");
    assert_eq!(
        (taken.id.as_str(), taken.attempts, taken.done),
        (a.id.as_str(), 2, 5)
    );
    assert!(
        !s.finish_job(&a.id, "w1", &JobOutcome::Done(None))
            .await
            .unwrap(),
        "w1 lost it"
    );
    // A failed last attempt is dead.
    assert!(s
        .finish_job(
            &a.id,
            "w3",
            &JobOutcome::Retry {
                error: "boom".into(),
                at: later
            }
        )
        .await
        .unwrap());
    let dead = s.get_job(&a.id).await.unwrap().unwrap();
    assert_eq!(
        (dead.status, dead.error.as_deref()),
        (JobStatus::Dead, Some("boom"))
    );
    assert!(dead.finished_at.is_some());

    // A retry before the last attempt waits for its time.
    assert!(s
        .finish_job(
            &b.id,
            "w2",
            &JobOutcome::Retry {
                error: "later".into(),
                at: now + chrono::TimeDelta::seconds(60)
            }
        )
        .await
        .unwrap());
    assert_eq!(
        s.get_job(&b.id).await.unwrap().unwrap().status,
        JobStatus::Queued
    );
    assert!(
        s.claim_job("w4", now, lease).await.unwrap().is_none(),
        "not due yet"
    );
    let retried = s
        .claim_job(
            "w4",
            now + chrono::TimeDelta::seconds(61),
            later + chrono::TimeDelta::seconds(90),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((retried.id.as_str(), retried.attempts), (b.id.as_str(), 2));
    // Cancelling a running job is seen at its next checkpoint.
    let c = s.cancel_job(&b.id).await.unwrap().unwrap();
    assert!(c.cancel_requested && c.status == JobStatus::Running);
    assert!(!s.renew_job(&b.id, "w4", 1, None, lease).await.unwrap());
    assert!(s
        .finish_job(&b.id, "w4", &JobOutcome::Cancelled)
        .await
        .unwrap());
    assert_eq!(
        s.get_job(&b.id).await.unwrap().unwrap().status,
        JobStatus::Cancelled
    );

    // A queued job is cancelled at once and never claimed; done jobs keep output.
    let (c1, c2) = (job(&t, 3), job(&t, 4));
    s.enqueue_jobs(&[c1.clone(), c2.clone()]).await.unwrap();
    assert_eq!(
        s.cancel_job(&c1.id).await.unwrap().unwrap().status,
        JobStatus::Cancelled
    );
    let then = later + chrono::TimeDelta::seconds(100);
    let next = s
        .claim_job("w5", then, then + chrono::TimeDelta::seconds(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.id, c2.id);
    assert!(s
        .finish_job(&c2.id, "w5", &JobOutcome::Done(Some(json!({"ok": true}))))
        .await
        .unwrap());
    let done = s.get_job(&c2.id).await.unwrap().unwrap();
    assert_eq!(
        (done.status, done.output),
        (JobStatus::Done, Some(json!({"ok": true})))
    );

    // Listing: newest first, by tenant and status, in pages.
    let mine = ListJobs {
        tenant: Some(t.clone()),
        ..ListJobs::default()
    };
    let listed = s.list_jobs(&mine).await.unwrap();
    let order: Vec<&str> = listed.items.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(
        order,
        vec![c2.id.as_str(), c1.id.as_str(), b.id.as_str(), a.id.as_str()]
    );
    let first = s
        .list_jobs(&ListJobs {
            limit: Some(3),
            ..mine.clone()
        })
        .await
        .unwrap();
    let rest = s
        .list_jobs(&ListJobs {
            cursor: first.next_cursor.clone(),
            ..mine.clone()
        })
        .await
        .unwrap();
    assert_eq!((first.items.len(), rest.items.len()), (3, 1));
    let dead_only = s
        .list_jobs(&ListJobs {
            status: Some(JobStatus::Dead),
            ..mine.clone()
        })
        .await
        .unwrap();
    assert_eq!(dead_only.items.len(), 1);
    let counts = s.job_counts().await.unwrap();
    let count = |st: JobStatus| {
        counts
            .iter()
            .filter(|c| c.status == st && c.kind == JobKind::Cleanup)
            .map(|c| c.count)
            .sum::<u64>()
    };
    assert_eq!(
        (
            count(JobStatus::Done),
            count(JobStatus::Dead),
            count(JobStatus::Cancelled)
        ),
        (1, 1, 2)
    );

    // Finished jobs are pruned after their retention; queued ones never are.
    let waiting = job(&t, 5);
    s.enqueue_jobs(std::slice::from_ref(&waiting))
        .await
        .unwrap();
    let hour = chrono::TimeDelta::hours(1);
    assert_eq!(s.prune_jobs(crate::model::now() - hour).await.unwrap(), 0);
    assert_eq!(s.prune_jobs(crate::model::now() + hour).await.unwrap(), 4);
    let left = s.list_jobs(&mine).await.unwrap();
    assert_eq!(
        left.items.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        vec![waiting.id.as_str()]
    );
}

/// Claims take only the kinds asked for, oldest first, up to a limit, and a batch
/// of outcomes ends in one call.
pub async fn jobs_claim_in_batches_by_kind(s: &dyn Store) {
    let t = unique_tenant();
    let hooks: Vec<Job> = (0..3)
        .map(|i| Job::new(t.clone(), JobKind::Webhook, json!({ "i": i }), 3))
        .collect();
    let bulk = job(&t, 9);
    s.enqueue_jobs(&hooks).await.unwrap();
    s.enqueue_jobs(std::slice::from_ref(&bulk)).await.unwrap();
    let now = now() + chrono::TimeDelta::seconds(1);
    let lease = now + chrono::TimeDelta::seconds(30);
    let two = s
        .claim_jobs("w", now, lease, &[JobKind::Webhook], 2)
        .await
        .unwrap();
    let ids: Vec<&str> = two.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, vec![hooks[0].id.as_str(), hooks[1].id.as_str()]);
    assert!(two.iter().all(|j| j.input.get("i").is_some()));
    let rest = s
        .claim_jobs("w", now, lease, &[JobKind::Cleanup, JobKind::Embed], 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, bulk.id);
    assert!(s
        .claim_jobs("w", now, lease, &[], 10)
        .await
        .unwrap()
        .is_empty());
    let outcomes: Vec<(String, JobOutcome)> = two
        .iter()
        .map(|j| (j.id.clone(), JobOutcome::Done(None)))
        .chain([(hooks[2].id.clone(), JobOutcome::Done(None))])
        .collect();
    // The third was never claimed: only the two this worker holds end.
    assert_eq!(s.finish_jobs("w", &outcomes).await.unwrap(), 2);
    let last = s
        .claim_jobs("w2", now, lease, &[JobKind::Webhook], 10)
        .await
        .unwrap();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].id, hooks[2].id);
}

/// The dispatcher plans each event exactly once, in order, and queues what the
/// plan makes; webhooks are stored per tenant, and deleting one cancels its
/// queued deliveries.
pub async fn webhooks_dispatch_each_event_once(s: &dyn Store) {
    let t = unique_tenant();
    let since = s.event_head().await.unwrap();
    let hook = Webhook {
        id: format!("wh_{}", &uuid::Uuid::now_v7().simple().to_string()[20..]),
        tenant: t.clone(),
        url: "http://127.0.0.1:9/hook".into(),
        kinds: vec![EventKind::ContextPut],
        namespaces: None,
        include_data: false,
        since,
        created_at: now(),
        secret: "whsec_0123456789abcdef".into(),
    };
    s.put_webhook(&hook).await.unwrap();
    assert_eq!(s.webhooks(Some(&t)).await.unwrap(), vec![hook.clone()]);
    assert!(s.webhooks(Some(&unique_tenant())).await.unwrap().is_empty());

    let ns = unique_namespace();
    for i in 0..5 {
        let mut c = context(&ns, &format!("k{i}"), json!(i));
        c.tenant = t.clone();
        s.put_context(&c, Precondition::None).await.unwrap();
    }
    let planned = std::sync::Mutex::new(Vec::new());
    let plan = |events: &[crate::model::Event]| -> Vec<Job> {
        planned.lock().unwrap().extend(events.iter().map(|e| e.seq));
        events
            .iter()
            .filter(|e| hook.wants(e))
            .map(|e| {
                let mut j = Job::new(e.tenant.clone(), JobKind::Webhook, json!({"seq": e.seq}), 3);
                j.webhook_id = Some(hook.id.clone());
                j
            })
            .collect()
    };
    let mut read = 0;
    loop {
        let n = s.dispatch_events(2, i64::MAX, &plan).await.unwrap();
        if n == 0 {
            break;
        }
        read += n;
    }
    assert!(read >= 5);
    assert_eq!(
        s.dispatch_events(2, i64::MAX, &plan).await.unwrap(),
        0,
        "nothing is planned twice"
    );
    let seqs = planned.lock().unwrap().clone();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "in order, once each: {seqs:?}"
    );
    let deliveries = s
        .list_jobs(&ListJobs {
            webhook_id: Some(hook.id.clone()),
            ..ListJobs::default()
        })
        .await
        .unwrap();
    assert_eq!(deliveries.items.len(), 5);
    assert!(deliveries.items.iter().all(|j| j.kind == JobKind::Webhook));

    assert!(s.delete_webhook(&hook.id).await.unwrap());
    assert!(!s.delete_webhook(&hook.id).await.unwrap());
    assert!(s.webhooks(Some(&t)).await.unwrap().is_empty());
    let after = s
        .list_jobs(&ListJobs {
            webhook_id: Some(hook.id.clone()),
            status: Some(JobStatus::Cancelled),
            ..ListJobs::default()
        })
        .await
        .unwrap();
    assert_eq!(
        after.items.len(),
        5,
        "queued deliveries are cancelled with their webhook"
    );
}
