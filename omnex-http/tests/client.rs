//! The Rust client (`omnex-client`) against a real server: the facade's whole
//! [`OmnexApi`] suite, as on the embedded engine, then the errors only a remote
//! engine has (a wrong API key, a server that is down).

mod common;

use std::sync::Arc;

use common::TestServer;
use omnex_client::Client;
use omnex_core::{ErrorKind, OmnexApi};
use omnex_http::ServerOptions;

const KEY: &str = "k3y";

/// A server on an ephemeral port (the embedded default in a fresh directory, behind
/// an API key) and a client of it.
async fn remote() -> Option<(Arc<dyn OmnexApi>, TestServer)> {
    let server = TestServer::start_with(ServerOptions {
        api_key: Some(KEY.into()),
        ..ServerOptions::default()
    })
    .await;
    let client = Client::new(&server.base, Some(KEY.into())).unwrap();
    Some((Arc::new(client), server))
}

omnex_core::api_conformance!(remote());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_only_errors_have_their_own_kinds() {
    let (_, server) = remote().await.unwrap();
    let wrong_key = Client::new(&server.base, Some("nope".into())).unwrap();
    let err = wrong_key.get_context("app", "k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.reason().contains("Bearer"), "{err}");
    let no_key = Client::new(&server.base, None).unwrap();
    assert_eq!(
        no_key
            .list_contexts(Default::default())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Unauthorized
    );
    let down = Client::new("http://127.0.0.1:9", None).unwrap();
    assert_eq!(
        down.get_context("app", "k").await.unwrap_err().kind(),
        ErrorKind::Unavailable
    );
    let err = Client::new("ftp://example", None).unwrap_err();
    assert_eq!(
        (err.kind(), err.field()),
        (ErrorKind::InvalidInput, Some("url"))
    );
}

/// A client that sends tokens: it exchanges its API key for a token, renews it
/// before it expires, and acts with the key's tenant throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_exchanges_its_key_for_tokens_and_renews_them() {
    let server = TestServer::start_with(ServerOptions {
        api_key: Some(KEY.into()),
        token_ttl_secs: 2,
        ..ServerOptions::default()
    })
    .await;
    let admin = Client::new(&server.base, Some(KEY.into())).unwrap();
    let _ = admin.list_contexts(Default::default()).await.unwrap();
    let made = server
        .omnex
        .create_api_key(omnex_core::model::NewApiKey {
            tenant: Some("acme".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let client = Client::new(&server.base, Some(made.key))
        .unwrap()
        .use_tokens();
    for round in 0..3 {
        let ctx = client
            .put_context(omnex_core::model::PutContext::new(
                "app",
                "k",
                serde_json::json!(round),
            ))
            .await
            .unwrap();
        assert_eq!(ctx.tenant.as_str(), "acme");
        // Past the token's two seconds: the next call renews it first.
        tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    }
    assert_eq!(
        client.get_context("app", "k").await.unwrap().value,
        serde_json::json!(2)
    );
    // The admin (default tenant) does not see acme's context.
    assert_eq!(
        admin.get_context("app", "k").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}
