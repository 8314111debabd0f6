//! # omnex-mcp
//!
//! Omnex as an MCP server: memory and context tools, and contexts as resources
//! (`omnex://contexts/{namespace}/{key}`), over stdio or streamable HTTP. A thin
//! adapter over [`omnex_core::Omnex`]: every tool makes one facade call.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use rmcp::ServiceExt;
//! let omnex = omnex_core::Omnex::open(omnex_core::Config::default()).await?;
//! let server = omnex_mcp::OmnexMcp::new(omnex, omnex_mcp::DefaultScope::default());
//! server.serve(rmcp::transport::stdio()).await?.waiting().await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod error;
mod resources;
pub mod tools;

use omnex_core::{
    model::{
        Filter, ListContexts, ListMemories, MemoryId, MemoryUpdate, NewMemory, Principal,
        PutContext, ScopeArgs, SearchRequest,
    },
    Omnex,
};
use rmcp::transport::streamable_http_server::{
    session::local::LocalSessionManager, StreamableHttpServerConfig, StreamableHttpService,
};
use rmcp::{
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{
        CallToolResult, Implementation, ListResourceTemplatesResult, ListResourcesResult,
        PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
        ServerCapabilities, ServerConfig,
    },
    service::RequestContext,
    tool, tool_handler, tool_router, ErrorData, Json, RoleServer, ServerHandler,
};

use crate::{error::tool_error, tools::*};

/// The scope a server applies to every call that does not name its own
/// (`omnex mcp --user-id alice` makes every memory Alice's by default).
pub type DefaultScope = ScopeArgs;

/// The MCP server: tools over the facade, contexts as resources.
#[derive(Clone)]
pub struct OmnexMcp {
    omnex: Omnex,
    scope: DefaultScope,
    tool_router: ToolRouter<Self>,
}

impl std::fmt::Debug for OmnexMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OmnexMcp")
            .field("omnex", &self.omnex)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

fn parse_id(id: &str) -> Result<MemoryId, CallToolResult> {
    MemoryId::parse(id).map_err(tool_error)
}

impl OmnexMcp {
    /// The engine, acting for the principal of the HTTP request that carries this
    /// call (set by the server's auth layer); over stdio, the local user.
    fn caller(&self, ctx: &RequestContext<RoleServer>) -> Omnex {
        let principal = ctx
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Principal>());
        match principal {
            Some(p) => self.omnex.with_principal(p.clone()),
            None => self.omnex.clone(),
        }
    }
}

#[tool_router]
impl OmnexMcp {
    /// A server over `omnex` that fills in `scope` where a call gives none.
    pub fn new(omnex: Omnex, scope: DefaultScope) -> Self {
        Self {
            omnex,
            scope,
            tool_router: Self::tool_router(),
        }
    }

    /// Remember something: store a fact, preference or event about the user as a memory.
    #[tool(
        description = "Store a new long-term memory: one self-contained fact, preference or event (\"Alice is allergic to peanuts\"). Call it when the user tells you something worth remembering in later conversations. Returns the stored memory with its id.",
        annotations(
            title = "Add memory",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn memory_add(
        &self,
        ctx: RequestContext<RoleServer>,
        Parameters(a): Parameters<MemoryAddArgs>,
    ) -> Result<Json<MemoryOut>, CallToolResult> {
        let scope = ScopeArgs::new(a.namespace, a.user_id, a.agent_id, a.session_id);
        let new = NewMemory {
            content: a.content,
            metadata: a.metadata.unwrap_or_default(),
            scope: scope.or(&self.scope).into_scope(),
            ..NewMemory::default()
        };
        let m = self
            .caller(&ctx)
            .add_memory(new)
            .await
            .map_err(tool_error)?;
        Ok(Json(m.into()))
    }

    /// Recall: find the memories closest in meaning to a query.
    #[tool(
        description = "Search long-term memories by meaning and by words (hybrid by default). Call it before answering anything that may depend on what you were told earlier (preferences, facts about the user, past decisions). Returns the best matches, best first, each with a score.",
        annotations(
            title = "Search memories",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn memory_search(
        &self,
        ctx: RequestContext<RoleServer>,
        Parameters(a): Parameters<MemorySearchArgs>,
    ) -> Result<Json<SearchOut>, CallToolResult> {
        let scope = ScopeArgs::new(a.namespace, a.user_id, a.agent_id, a.session_id);
        let req = SearchRequest {
            query: Some(a.query),
            limit: a.limit,
            filter: Filter {
                metadata: a.filter.unwrap_or_default(),
                ..scope.or(&self.scope).into_filter()
            },
            mode: a.mode.map(Into::into),
            min_score: a.min_score,
            rrf_k: a.rrf_k,
            semantic_weight: a.semantic_weight,
            keyword_weight: a.keyword_weight,
            recency_half_life: a.recency_half_life,
            boost_field: a.boost_field,
            explain: a.explain,
            ..SearchRequest::default()
        };
        let hits = self.caller(&ctx).search(req).await.map_err(tool_error)?;
        Ok(Json(SearchOut {
            hits: hits.into_iter().map(Into::into).collect(),
        }))
    }

    /// Read one memory by id.
    #[tool(
        description = "Read one memory by its id.",
        annotations(title = "Get memory", read_only_hint = true, open_world_hint = false)
    )]
    async fn memory_get(
        &self,
        ctx: RequestContext<RoleServer>,
        Parameters(a): Parameters<MemoryIdArgs>,
    ) -> Result<Json<MemoryOut>, CallToolResult> {
        let m = self
            .caller(&ctx)
            .get_memory(parse_id(&a.id)?)
            .await
            .map_err(tool_error)?;
        Ok(Json(m.into()))
    }

    /// The changes of one memory.
    #[tool(
        description = "Show how a memory changed over time: when it was added, each update (with the text and metadata it had then) and its deletion, who made each change, oldest first. Use it when the user asks what was remembered before or who changed it.",
        annotations(
            title = "Memory history",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn memory_history(
        &self,
        ctx: RequestContext<RoleServer>,
        Parameters(a): Parameters<MemoryIdArgs>,
    ) -> Result<Json<HistoryOut>, CallToolResult> {
        let omnex = self.caller(&ctx);
        let id = parse_id(&a.id)?;
        let mut changes = Vec::new();
        let mut since = 0;
        loop {
            let page = omnex
                .memory_history(id, since, Some(1000))
                .await
                .map_err(tool_error)?;
            changes.extend(page.events.into_iter().map(ChangeOut::from));
            since = page.next;
            if !page.more {
                break;
            }
        }
        Ok(Json(HistoryOut { changes }))
    }

    /// Change a memory's text or metadata.
    #[tool(
        description = "Correct or refine a memory: replace its text and/or its metadata. Use it when the user corrects something you remembered; prefer it over adding a contradicting memory.",
        annotations(
            title = "Update memory",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn memory_update(
        &self,
        ctx: RequestContext<RoleServer>,
        Parameters(a): Parameters<MemoryUpdateArgs>,
    ) -> Result<Json<MemoryOut>, CallToolResult> {
        let update = MemoryUpdate {
            content: a.content,
            metadata: a.metadata,
            ..MemoryUpdate::default()
        };
        let m = self
            .caller(&ctx)
            .update_memory(parse_id(&a.id)?, update)
            .await
            .map_err(tool_error)?;
        Ok(Json(m.into()))
    }

    /// Forget a memory.
    #[tool(
        description = "Delete a memory for good, by id. Use it when the user asks you to forget something or a memory is wrong and should not be kept.",
        annotations(
            title = "Delete memory",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn memory_delete(
        &self,
        ctx: RequestContext<RoleServer>,
        Parameters(a): Parameters<MemoryIdArgs>,
    ) -> Result<Json<DeletedOut>, CallToolResult> {
        self.caller(&ctx)
            .delete_memory(parse_id(&a.id)?)
            .await
            .map_err(tool_error)?;
        Ok(Json(DeletedOut {
            deleted: true,
            target: a.id,
        }))
    }

    /// List memories, oldest first, a page at a time.
    #[tool(
        description = "List stored memories in the order they were added, a page at a time (pass next_cursor back as cursor). Use memory_search to find memories by topic; use this to review everything.",
        annotations(
            title = "List memories",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn memory_list(
        &self,
        ctx: RequestContext<RoleServer>,
        Parameters(a): Parameters<MemoryListArgs>,
    ) -> Result<Json<MemoryPageOut>, CallToolResult> {
        let scope = ScopeArgs::new(a.namespace, a.user_id, a.agent_id, a.session_id);
        let req = ListMemories {
            filter: Filter {
                metadata: a.filter.unwrap_or_default(),
                ..scope.or(&self.scope).into_filter()
            },
            limit: a.limit,
            cursor: a.cursor,
            include_embedding: false,
        };
        let page = self
            .caller(&ctx)
            .list_memories(req)
            .await
            .map_err(tool_error)?;
        Ok(Json(page.into()))
    }

    /// Store a JSON value under a key.
    #[tool(
        description = "Store structured JSON under a key (settings, a task list, project state), replacing what was there. Read it back with context_get. Pass if_version (the version you read) to avoid overwriting a change made in between.",
        annotations(
            title = "Set context",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn context_set(
        &self,
        ctx: RequestContext<RoleServer>,
        Parameters(a): Parameters<ContextSetArgs>,
    ) -> Result<Json<ContextOut>, CallToolResult> {
        let req = PutContext {
            namespace: self.scope.namespace_or(a.namespace),
            key: a.key,
            value: a.value,
            tags: a.tags.unwrap_or_default(),
            if_version: a.if_version,
            ..PutContext::default()
        };
        let c = self
            .caller(&ctx)
            .put_context(req)
            .await
            .map_err(tool_error)?;
        Ok(Json(c.into()))
    }

    /// Read the JSON value under a key.
    #[tool(
        description = "Read the structured JSON stored under a key, with its version.",
        annotations(title = "Get context", read_only_hint = true, open_world_hint = false)
    )]
    async fn context_get(
        &self,
        ctx: RequestContext<RoleServer>,
        Parameters(a): Parameters<ContextKeyArgs>,
    ) -> Result<Json<ContextOut>, CallToolResult> {
        let ns = self.scope.namespace_or(a.namespace);
        let c = self
            .caller(&ctx)
            .get_context(&ns, &a.key)
            .await
            .map_err(tool_error)?;
        Ok(Json(c.into()))
    }

    /// List contexts by key.
    #[tool(
        description = "List stored contexts (keys and values) in key order, optionally only those with a tag or a key prefix, a page at a time (pass next_cursor back as cursor).",
        annotations(
            title = "List contexts",
            read_only_hint = true,
            open_world_hint = false
        )
    )]
    async fn context_list(
        &self,
        ctx: RequestContext<RoleServer>,
        Parameters(a): Parameters<ContextListArgs>,
    ) -> Result<Json<ContextPageOut>, CallToolResult> {
        let req = ListContexts {
            namespace: Some(self.scope.namespace_or(a.namespace)),
            tag: a.tag,
            prefix: a.prefix,
            limit: a.limit,
            cursor: a.cursor,
            ..ListContexts::default()
        };
        let page = self
            .caller(&ctx)
            .list_contexts(req)
            .await
            .map_err(tool_error)?;
        Ok(Json(page.into()))
    }

    /// Delete the context under a key.
    #[tool(
        description = "Delete the context stored under a key, for good.",
        annotations(
            title = "Delete context",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn context_delete(
        &self,
        ctx: RequestContext<RoleServer>,
        Parameters(a): Parameters<ContextKeyArgs>,
    ) -> Result<Json<DeletedOut>, CallToolResult> {
        let ns = self.scope.namespace_or(a.namespace);
        self.caller(&ctx)
            .delete_context(&ns, &a.key, None)
            .await
            .map_err(tool_error)?;
        Ok(Json(DeletedOut {
            deleted: true,
            target: format!("{ns}/{}", a.key),
        }))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for OmnexMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("omnex", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Omnex is your long-term memory. Use memory_search before answering questions that may depend on earlier conversations, memory_add to remember new facts and preferences, memory_update to correct them. Contexts hold structured JSON under keys (context_set / context_get) and are also readable as resources omnex://contexts/{namespace}/{key}.",
        )
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        resources::list(self, &self.caller(&ctx), request.and_then(|r| r.cursor)).await
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(resources::templates())
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        resources::read(&self.caller(&ctx), &request.uri).await
    }
}

/// The streamable HTTP transport of `server`, to nest in an axum router at `/mcp`.
/// `localhost_only` keeps rmcp's DNS-rebinding protection (Host must be a loopback
/// name); turn it off when the server listens on a public address.
pub fn http_service(
    server: OmnexMcp,
    localhost_only: bool,
) -> StreamableHttpService<OmnexMcp, LocalSessionManager> {
    let mut config = StreamableHttpServerConfig::default();
    if !localhost_only {
        config = config.disable_allowed_hosts();
    }
    StreamableHttpService::new(
        move || Ok(server.clone()),
        LocalSessionManager::default().into(),
        config,
    )
}
