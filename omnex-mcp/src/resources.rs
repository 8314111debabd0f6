//! Contexts as MCP resources: `omnex://contexts/{namespace}/{key}`.

use omnex_core::{model::ListContexts, ErrorKind, Omnex};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use rmcp::{
    model::{
        ListResourceTemplatesResult, ListResourcesResult, ReadResourceResponse, ReadResourceResult,
        Resource, ResourceContents, ResourceTemplate,
    },
    ErrorData,
};

use crate::OmnexMcp;

const PREFIX: &str = "omnex://contexts/";
const PAGE: usize = 100;
/// Characters escaped in a key; `/` stays, since keys may be paths.
const KEY: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

pub(crate) fn uri(namespace: &str, key: &str) -> String {
    format!("{PREFIX}{namespace}/{}", utf8_percent_encode(key, KEY))
}

pub(crate) fn templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult::with_all_items(vec![ResourceTemplate::new(
        "omnex://contexts/{namespace}/{key}",
        "context",
    )
    .with_description(
        "The JSON value of a context, by namespace and key (the key may contain '/').",
    )
    .with_mime_type("application/json")])
}

pub(crate) async fn list(
    server: &OmnexMcp,
    omnex: &Omnex,
    cursor: Option<String>,
) -> Result<ListResourcesResult, ErrorData> {
    let page = omnex
        .list_contexts(ListContexts {
            namespace: server.scope.namespace.clone(),
            limit: Some(PAGE),
            cursor,
            ..ListContexts::default()
        })
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidInput => ErrorData::invalid_params(e.to_string(), None),
            _ => ErrorData::internal_error(e.to_string(), None),
        })?;
    let resources = page
        .items
        .iter()
        .map(|c| {
            Resource::new(
                uri(&c.namespace, &c.key),
                format!("{}/{}", c.namespace, c.key),
            )
            .with_mime_type("application/json")
        })
        .collect();
    Ok(ListResourcesResult {
        resources,
        next_cursor: page.next_cursor,
        ..Default::default()
    })
}

pub(crate) async fn read(omnex: &Omnex, uri: &str) -> Result<ReadResourceResponse, ErrorData> {
    let not_found =
        |why: String| ErrorData::resource_not_found(why, Some(serde_json::json!({ "uri": uri })));
    let (namespace, key) = uri
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split_once('/'))
        .ok_or_else(|| {
            not_found(format!(
                "{uri} is not omnex://contexts/{{namespace}}/{{key}}"
            ))
        })?;
    let key = percent_decode_str(key)
        .decode_utf8()
        .map_err(|_| not_found(format!("the key in {uri} is not UTF-8")))?;
    let ctx = omnex
        .get_context(namespace, &key)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound | ErrorKind::InvalidInput => not_found(e.to_string()),
            _ => ErrorData::internal_error(e.to_string(), None),
        })?;
    let text = serde_json::to_string_pretty(&ctx.value).unwrap_or_default();
    Ok(ReadResourceResult::new(vec![
        ResourceContents::text(text, uri).with_mime_type("application/json")
    ])
    .into())
}
