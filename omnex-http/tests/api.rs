//! Every route of `/api/v1` over real HTTP against the embedded default.

mod common;

use std::collections::HashSet;

use common::{all_pages, assert_problem, TestServer};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_create_replace_get_delete() {
    let s = TestServer::start().await;
    let path = "/api/v1/contexts/app/prefs/theme";
    let (status, created) = s
        .put(path, json!({"value": {"dark": true}, "tags": ["ui"]}))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["version"], 1);
    assert_eq!(created["key"], "prefs/theme");
    assert_eq!(created["tags"], json!(["ui"]));

    let (status, replaced) = s
        .put(path, json!({"value": {"dark": false}, "if_version": 1}))
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["version"], 2);
    assert_eq!(replaced["id"], created["id"]);
    assert_eq!(replaced["created_at"], created["created_at"]);

    let (status, got) = s.get(path).await;
    assert_eq!(status, 200);
    assert_eq!(got, replaced);

    let (status, body) = s.put(path, json!({"value": 0, "if_version": 0})).await;
    assert_problem(status, &body, 409, "conflict");
    let (status, _) = s
        .put(
            "/api/v1/contexts/app/fresh",
            json!({"value": 0, "if_version": 0}),
        )
        .await;
    assert_eq!(status, 201, "if_version 0 creates when absent");

    let (status, body) = s.delete(&format!("{path}?if_version=1")).await;
    assert_problem(status, &body, 409, "conflict");
    let (status, _) = s.delete(&format!("{path}?if_version=2")).await;
    assert_eq!(status, 204);
    let (status, body) = s.get(path).await;
    assert_problem(status, &body, 404, "not_found");
    let (status, body) = s.delete(path).await;
    assert_problem(status, &body, 404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_listing_pages_and_filters() {
    let s = TestServer::start().await;
    for i in 0..25 {
        let tag = if i % 5 == 0 { "five" } else { "other" };
        let (status, _) = s
            .put(
                &format!("/api/v1/contexts/list-a/key-{i:02}"),
                json!({"value": i, "tags": [tag]}),
            )
            .await;
        assert_eq!(status, 201);
    }
    s.put("/api/v1/contexts/list-b/key-00", json!({"value": "b"}))
        .await;

    let (items, pages) = all_pages(&s, "/api/v1/contexts?namespace=list-a", 10).await;
    assert_eq!(pages, 3);
    let keys: Vec<&str> = items.iter().map(|c| c["key"].as_str().unwrap()).collect();
    let want: Vec<String> = (0..25).map(|i| format!("key-{i:02}")).collect();
    assert_eq!(keys, want, "every key once, in order");

    let (items, _) = all_pages(&s, "/api/v1/contexts?namespace=list-a&tag=five", 2).await;
    assert_eq!(items.len(), 5);
    let (items, _) = all_pages(&s, "/api/v1/contexts?namespace=list-a&prefix=key-1", 100).await;
    assert_eq!(items.len(), 10);
    let (items, _) = all_pages(&s, "/api/v1/contexts?prefix=key-00", 100).await;
    assert_eq!(items.len(), 2, "both namespaces without a namespace filter");

    let (status, body) = s.get("/api/v1/contexts?limit=0").await;
    assert_problem(status, &body, 400, "invalid_input");
    assert_eq!(body["field"], "limit");
    let (status, body) = s.get("/api/v1/contexts?cursor=nonsense").await;
    assert_problem(status, &body, 400, "invalid_input");
    assert_eq!(body["field"], "cursor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_writers_with_if_version_exactly_one_wins() {
    let s = std::sync::Arc::new(TestServer::start().await);
    let path = "/api/v1/contexts/race/counter";
    let (status, _) = s.put(path, json!({"value": 0})).await;
    assert_eq!(status, 201);
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.put(path, json!({"value": i, "if_version": 1})).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for w in writers {
        let (status, body) = w.await.unwrap();
        if status == 409 {
            assert_eq!(body["code"], "conflict");
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses.iter().filter(|&&c| c == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&c| c == 409).count(),
        15,
        "{statuses:?}"
    );
    let (_, got) = s.get(path).await;
    assert_eq!(got["version"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_add_get_update_delete() {
    let s = TestServer::start().await;
    let (status, m) = s
        .post(
            "/api/v1/memories",
            json!({"content": "Alice is allergic to peanuts", "user_id": "alice",
                   "namespace": "crud", "metadata": {"source": "chat", "turn": 3}}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    assert_eq!(m["user_id"], "alice");
    assert_eq!(m["metadata"]["turn"], 3);
    assert!(
        m.get("embedding").is_none(),
        "embeddings are left out by default"
    );
    let id = m["id"].as_str().unwrap();

    let (status, got) = s.get(&format!("/api/v1/memories/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got, m);
    let (_, with_vec) = s
        .get(&format!("/api/v1/memories/{id}?include_embedding=true"))
        .await;
    assert_eq!(with_vec["embedding"].as_array().unwrap().len(), 384);

    let (status, updated) = s
        .patch(
            &format!("/api/v1/memories/{id}"),
            json!({"content": "Alice is allergic to tree nuts"}),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["content"], "Alice is allergic to tree nuts");
    assert_eq!(updated["metadata"], m["metadata"], "absent fields are kept");
    assert_eq!(updated["created_at"], m["created_at"]);

    let (status, _) = s.delete(&format!("/api/v1/memories/{id}")).await;
    assert_eq!(status, 204);
    let (status, body) = s.get(&format!("/api/v1/memories/{id}")).await;
    assert_problem(status, &body, 404, "not_found");
    let (status, body) = s
        .patch(&format!("/api/v1/memories/{id}"), json!({"content": "x"}))
        .await;
    assert_problem(status, &body, 404, "not_found");
    let (status, body) = s.delete(&format!("/api/v1/memories/{id}")).await;
    assert_problem(status, &body, 404, "not_found");
    let (status, body) = s.get("/api/v1/memories/not-a-uuid").await;
    assert_problem(status, &body, 400, "invalid_input");
    assert_eq!(body["field"], "id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_is_ordered_and_all_or_nothing() {
    let s = TestServer::start().await;
    let texts: Vec<String> = (0..20).map(|i| format!("batch fact number {i}")).collect();
    let memories: Vec<Value> = texts
        .iter()
        .map(|t| json!({"content": t, "namespace": "batch"}))
        .collect();
    let (status, body) = s
        .post("/api/v1/memories/batch", json!({"memories": memories}))
        .await;
    assert_eq!(status, 201, "{body}");
    let got: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(got, texts);

    let mut bad = memories.clone();
    bad[7] = json!({"content": "   ", "namespace": "batch"});
    let (status, body) = s
        .post("/api/v1/memories/batch", json!({"memories": bad}))
        .await;
    assert_problem(status, &body, 400, "invalid_input");
    assert_eq!(body["field"], "content");
    assert!(
        body["detail"].as_str().unwrap().contains("batch item 7"),
        "{body}"
    );
    let (items, _) = all_pages(&s, "/api/v1/memories?namespace=batch", 1000).await;
    assert_eq!(items.len(), 20, "the rejected batch wrote nothing");

    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"content": format!("m{i}"), "embedding": [1.0]}))
        .collect();
    let (status, body) = s
        .post("/api/v1/memories/batch", json!({"memories": too_many}))
        .await;
    assert_problem(status, &body, 400, "invalid_input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_listing_by_scope_pages_without_gaps() {
    let s = TestServer::start().await;
    let mut batch = Vec::new();
    for i in 0..30 {
        let user = if i % 3 == 0 { "u1" } else { "u2" };
        batch.push(
            json!({"content": format!("note {i}"), "namespace": "scoped", "user_id": user,
                          "agent_id": "a", "session_id": format!("s{}", i % 2)}),
        );
    }
    let (status, _) = s
        .post("/api/v1/memories/batch", json!({"memories": batch}))
        .await;
    assert_eq!(status, 201);
    let (items, pages) = all_pages(&s, "/api/v1/memories?namespace=scoped", 7).await;
    assert_eq!(items.len(), 30);
    assert_eq!(pages, 5);
    let ids: HashSet<&str> = items.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 30, "no duplicates across pages");
    let (items, _) = all_pages(&s, "/api/v1/memories?namespace=scoped&user_id=u1", 4).await;
    assert_eq!(items.len(), 10);
    assert!(items.iter().all(|m| m["user_id"] == "u1"));
    let (items, _) = all_pages(
        &s,
        "/api/v1/memories?namespace=scoped&user_id=u2&session_id=s0&agent_id=a",
        100,
    )
    .await;
    assert_eq!(items.len(), 10);
    let (items, _) = all_pages(
        &s,
        "/api/v1/memories?namespace=scoped&include_embedding=true",
        100,
    )
    .await;
    assert!(items
        .iter()
        .all(|m| m["embedding"].as_array().map(Vec::len) == Some(384)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_by_text_and_by_vector_within_scope() {
    let s = TestServer::start().await;
    let facts = [
        ("alice", "Alice is allergic to peanuts", "health"),
        (
            "alice",
            "Alice is training for the Berlin marathon",
            "sport",
        ),
        ("bob", "Bob is allergic to shellfish", "health"),
        ("bob", "Bob plays the cello", "music"),
    ];
    let batch: Vec<Value> = facts
        .iter()
        .map(|(u, t, topic)| json!({"content": t, "user_id": u, "namespace": "search", "metadata": {"topic": topic}}))
        .collect();
    let (status, added) = s
        .post("/api/v1/memories/batch", json!({"memories": batch}))
        .await;
    assert_eq!(status, 201);

    let (status, body) = s
        .post("/api/v1/memories/search", json!({"query": "what food allergy?", "namespace": "search", "user_id": "alice", "limit": 2}))
        .await;
    assert_eq!(status, 200, "{body}");
    let hits = body["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0]["memory"]["content"], "Alice is allergic to peanuts");
    assert!(hits.iter().all(|h| h["memory"]["user_id"] == "alice"));
    assert!(hits[0]["score"].as_f64().unwrap() >= hits[1]["score"].as_f64().unwrap());

    let (_, body) = s
        .post(
            "/api/v1/memories/search",
            json!({"query": "allergy", "namespace": "search", "filter": {"topic": "health"}}),
        )
        .await;
    let users: HashSet<&str> = body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["memory"]["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(users, HashSet::from(["alice", "bob"]));
    assert_eq!(body["hits"].as_array().unwrap().len(), 2);

    let (_, body) = s
        .post(
            "/api/v1/memories/search",
            json!({"query": "allergy", "namespace": "search", "min_score": 0.99}),
        )
        .await;
    assert!(body["hits"].as_array().unwrap().is_empty(), "{body}");

    // By vector: the stored embedding of the cello memory finds itself first.
    let cello = added["items"][3]["id"].as_str().unwrap();
    let (_, m) = s
        .get(&format!("/api/v1/memories/{cello}?include_embedding=true"))
        .await;
    let (status, body) = s
        .post(
            "/api/v1/memories/search",
            json!({"vector": m["embedding"], "namespace": "search", "limit": 1}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["hits"][0]["memory"]["id"], cello);
    assert!((body["hits"][0]["score"].as_f64().unwrap() - 1.0).abs() < 1e-4);

    let (status, body) = s
        .post(
            "/api/v1/memories/search",
            json!({"vector": [0.1, 0.2, 0.3]}),
        )
        .await;
    assert_problem(status, &body, 400, "invalid_input");
    assert_eq!(body["field"], "vector");
    let (status, body) = s
        .post(
            "/api/v1/memories/search",
            json!({"query": "x", "limit": 101}),
        )
        .await;
    assert_problem(status, &body, 400, "invalid_input");
    assert_eq!(body["field"], "limit");
    let (status, body) = s.post("/api/v1/memories/search", json!({"limit": 3})).await;
    assert_problem(status, &body, 400, "invalid_input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precomputed_embeddings_are_checked_against_the_dimension() {
    let s = TestServer::start().await;
    let mut v = vec![0.0f32; 384];
    v[0] = 1.0;
    let (status, m) = s
        .post(
            "/api/v1/memories",
            json!({"content": "own vector", "embedding": v}),
        )
        .await;
    assert_eq!(status, 201, "{m}");
    let (_, got) = s
        .get(&format!(
            "/api/v1/memories/{}?include_embedding=true",
            m["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(got["embedding"][0], 1.0);
    let (status, body) = s
        .post(
            "/api/v1/memories",
            json!({"content": "short", "embedding": [1.0, 0.0]}),
        )
        .await;
    assert_problem(status, &body, 400, "invalid_input");
    assert_eq!(body["field"], "embedding");
    assert!(body["detail"].as_str().unwrap().contains("384"), "{body}");
}
