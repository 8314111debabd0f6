//! The MCP server driven by rmcp's client over an in-process duplex pipe,
//! on the embedded default (SQLite, HNSW, the local model).

use omnex_core::{Config, Omnex};
use omnex_mcp::{DefaultScope, OmnexMcp};
use rmcp::{
    model::{
        CallToolRequestParams, CallToolResult, PaginatedRequestParams, ReadResourceRequestParams,
    },
    service::RunningService,
    RoleClient, ServiceExt,
};
use serde_json::{json, Value};

struct Session {
    client: RunningService<RoleClient, ()>,
    _dir: tempfile::TempDir,
}

async fn connect(scope: DefaultScope) -> Session {
    let dir = tempfile::tempdir().unwrap();
    let omnex = Omnex::open(Config::with_data_dir(dir.path()))
        .await
        .unwrap();
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        let running = OmnexMcp::new(omnex, scope).serve(server_io).await.unwrap();
        let _ = running.waiting().await;
    });
    let client = ().serve(client_io).await.unwrap();
    Session { client, _dir: dir }
}

impl Session {
    async fn call(&self, tool: &str, args: Value) -> CallToolResult {
        let Value::Object(args) = args else {
            panic!("arguments must be an object")
        };
        self.client
            .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
            .await
            .unwrap()
    }

    /// A successful call's structured content (also present as text).
    async fn ok(&self, tool: &str, args: Value) -> Value {
        let r = self.call(tool, args.clone()).await;
        assert_ne!(r.is_error, Some(true), "{tool} {args} failed: {r:?}");
        let structured = r.structured_content.clone().expect("structuredContent");
        let text = r
            .content
            .first()
            .and_then(|c| c.as_text())
            .expect("text content")
            .text
            .clone();
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            structured,
            "text mirrors the structure"
        );
        structured
    }

    /// A failed call: `isError: true` with a stable code.
    async fn err(&self, tool: &str, args: Value) -> Value {
        let r = self.call(tool, args.clone()).await;
        assert_eq!(r.is_error, Some(true), "{tool} {args} should fail: {r:?}");
        r.structured_content.unwrap_or(Value::Null)
    }
}

const TOOLS: &[&str] = &[
    "context_delete",
    "context_get",
    "context_list",
    "context_set",
    "memory_add",
    "memory_delete",
    "memory_get",
    "memory_history",
    "memory_list",
    "memory_search",
    "memory_update",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initialize_and_list_tools_with_schemas_and_annotations() {
    let s = connect(DefaultScope::default()).await;
    let info = s.client.peer_info().expect("initialized");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("omnex")
    );
    assert!(info.capabilities.tools.is_some() && info.capabilities.resources.is_some());

    let tools = s.client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(names, TOOLS);
    for t in &tools {
        assert!(
            t.description.as_ref().is_some_and(|d| d.len() > 20),
            "{} needs a description",
            t.name
        );
        assert_eq!(
            t.input_schema.get("type"),
            Some(&json!("object")),
            "{}",
            t.name
        );
        let out = t
            .output_schema
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no output schema", t.name));
        assert_eq!(out.get("type"), Some(&json!("object")), "{}", t.name);
        let a = t
            .annotations
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no annotations", t.name));
        let read_only = matches!(
            t.name.as_ref(),
            "memory_search"
                | "memory_get"
                | "memory_history"
                | "memory_list"
                | "context_get"
                | "context_list"
        );
        assert_eq!(a.read_only_hint, Some(read_only), "{}", t.name);
        if t.name.ends_with("_delete") {
            assert_eq!(a.destructive_hint, Some(true), "{}", t.name);
        }
    }
    let add = tools.iter().find(|t| t.name == "memory_add").unwrap();
    assert_eq!(add.input_schema["required"], json!(["content"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_tools_succeed_and_fail_readably() {
    let s = connect(DefaultScope::default()).await;
    let m = s
        .ok("memory_add", json!({"content": "Alice is allergic to peanuts", "user_id": "alice", "metadata": {"topic": "health"}}))
        .await;
    let id = m["id"].as_str().unwrap().to_owned();
    assert_eq!(m["user_id"], "alice");
    s.ok(
        "memory_add",
        json!({"content": "Bob plays the cello", "user_id": "bob"}),
    )
    .await;

    let found = s
        .ok(
            "memory_search",
            json!({"query": "what can alice not eat?", "user_id": "alice"}),
        )
        .await;
    assert_eq!(found["hits"][0]["memory"]["id"], id.as_str());
    assert!(found["hits"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["memory"]["user_id"] == "alice"));
    let filtered = s
        .ok(
            "memory_search",
            json!({"query": "cello", "filter": {"topic": "health"}}),
        )
        .await;
    assert_eq!(filtered["hits"].as_array().unwrap().len(), 1);

    assert_eq!(
        s.ok("memory_get", json!({"id": id})).await["content"],
        "Alice is allergic to peanuts"
    );
    let updated = s
        .ok(
            "memory_update",
            json!({"id": id, "content": "Alice is allergic to peanuts and cashews"}),
        )
        .await;
    assert_eq!(
        updated["content"],
        "Alice is allergic to peanuts and cashews"
    );
    assert_eq!(updated["metadata"], json!({"topic": "health"}));

    let page = s.ok("memory_list", json!({"limit": 1})).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap();
    let page2 = s
        .ok("memory_list", json!({"limit": 1, "cursor": cursor}))
        .await;
    assert_ne!(page2["items"][0]["id"], page["items"][0]["id"]);

    assert_eq!(
        s.ok("memory_delete", json!({"id": id})).await["deleted"],
        true
    );
    let gone = s.err("memory_get", json!({"id": id})).await;
    assert_eq!(gone["code"], "not_found");
    // Its history outlives it: added, corrected, deleted, with the text of each.
    let history = s.ok("memory_history", json!({"id": id})).await;
    let changes = history["changes"].as_array().unwrap();
    let kinds: Vec<&str> = changes
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["memory.add", "memory.update", "memory.delete"]);
    assert_eq!(
        changes[0]["data"]["content"],
        "Alice is allergic to peanuts"
    );
    assert_eq!(
        changes[1]["data"]["content"],
        "Alice is allergic to peanuts and cashews"
    );
    assert_eq!(changes[1]["version"], 2);
    assert_eq!(
        s.err("memory_delete", json!({"id": id})).await["code"],
        "not_found"
    );
    assert_eq!(
        s.err("memory_update", json!({"id": id, "content": "x"}))
            .await["code"],
        "not_found"
    );

    let bad = s.err("memory_add", json!({"content": "   "})).await;
    assert_eq!(bad["code"], "invalid_input");
    assert_eq!(bad["field"], "content");
    assert_eq!(
        s.err("memory_get", json!({"id": "not-a-uuid"})).await["code"],
        "invalid_input"
    );
    assert_eq!(
        s.err("memory_search", json!({"query": "x", "limit": 1000}))
            .await["field"],
        "limit"
    );
    // Arguments that do not fit the schema are tool errors too, not protocol errors.
    let r = s.call("memory_add", json!({"content": 42})).await;
    assert_eq!(r.is_error, Some(true));
    let r = s
        .call("memory_add", json!({"content": "x", "usr": "typo"}))
        .await;
    assert_eq!(r.is_error, Some(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_tools_and_resources() {
    let s = connect(DefaultScope::default()).await;
    let c = s
        .ok(
            "context_set",
            json!({"key": "prefs/theme", "value": {"dark": true}, "tags": ["ui"]}),
        )
        .await;
    assert_eq!(c["version"], 1);
    assert_eq!(c["namespace"], "default");
    let c2 = s.ok("context_set", json!({"key": "prefs/theme", "value": {"dark": false}, "tags": ["ui"], "if_version": 1})).await;
    assert_eq!(c2["version"], 2);
    assert_eq!(
        s.err(
            "context_set",
            json!({"key": "prefs/theme", "value": 1, "if_version": 1})
        )
        .await["code"],
        "conflict"
    );
    assert_eq!(
        s.ok("context_get", json!({"key": "prefs/theme"})).await["value"],
        json!({"dark": false})
    );
    for i in 0..150 {
        s.ok(
            "context_set",
            json!({"key": format!("item {i:03}"), "value": i, "namespace": "bulk"}),
        )
        .await;
    }
    let listed = s
        .ok(
            "context_list",
            json!({"namespace": "bulk", "prefix": "item 00"}),
        )
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 10);
    assert_eq!(
        s.ok("context_list", json!({"tag": "ui"})).await["items"][0]["key"],
        "prefs/theme"
    );

    // Resources: one template, a paginated listing of every context, reads by URI.
    let templates = s.client.list_all_resource_templates().await.unwrap();
    assert_eq!(templates.len(), 1);
    assert_eq!(
        templates[0].uri_template,
        "omnex://contexts/{namespace}/{key}"
    );
    let first = s.client.list_resources(None).await.unwrap();
    assert_eq!(first.resources.len(), 100, "a page of 100");
    let cursor = first.next_cursor.clone().expect("more pages");
    let second = s
        .client
        .list_resources(Some(
            PaginatedRequestParams::default().with_cursor(Some(cursor)),
        ))
        .await
        .unwrap();
    assert_eq!(second.resources.len(), 51);
    assert!(second.next_cursor.is_none());
    let all = s.client.list_all_resources().await.unwrap();
    assert_eq!(all.len(), 151);
    let spaced = all.iter().find(|r| r.name == "bulk/item 007").unwrap();
    assert_eq!(spaced.uri, "omnex://contexts/bulk/item%20007");
    let read = s
        .client
        .read_resource(ReadResourceRequestParams::new(spaced.uri.clone()))
        .await
        .unwrap();
    let text = serde_json::to_value(&read.contents[0]).unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(text, "7");
    let read = s
        .client
        .read_resource(ReadResourceRequestParams::new(
            "omnex://contexts/default/prefs/theme",
        ))
        .await
        .unwrap();
    let text = serde_json::to_value(&read.contents[0]).unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"dark": false})
    );
    assert!(s
        .client
        .read_resource(ReadResourceRequestParams::new(
            "omnex://contexts/default/missing"
        ))
        .await
        .is_err());

    assert_eq!(
        s.ok("context_delete", json!({"key": "prefs/theme"})).await["deleted"],
        true
    );
    assert_eq!(
        s.err("context_get", json!({"key": "prefs/theme"})).await["code"],
        "not_found"
    );
    assert_eq!(
        s.err("context_delete", json!({"key": "prefs/theme"})).await["code"],
        "not_found"
    );
    assert_eq!(
        s.err(
            "context_set",
            json!({"key": "k", "value": 1, "namespace": "bad ns!"})
        )
        .await["field"],
        "namespace"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_scope_applies_to_calls_that_name_none() {
    let s = connect(DefaultScope {
        namespace: Some("assistant".into()),
        user_id: Some("carol".into()),
        ..DefaultScope::default()
    })
    .await;
    let m = s
        .ok("memory_add", json!({"content": "Carol works night shifts"}))
        .await;
    assert_eq!(
        (m["namespace"].as_str(), m["user_id"].as_str()),
        (Some("assistant"), Some("carol"))
    );
    let other = s
        .ok(
            "memory_add",
            json!({"content": "Dave works day shifts", "user_id": "dave"}),
        )
        .await;
    assert_eq!(other["user_id"], "dave", "a call may name its own scope");
    let hits = s.ok("memory_search", json!({"query": "shifts"})).await;
    let users: Vec<&str> = hits["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["memory"]["user_id"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["carol"], "searches default to the server's user");
    let c = s.ok("context_set", json!({"key": "k", "value": 1})).await;
    assert_eq!(c["namespace"], "assistant");
}
