//! [`OmnexApi`]: the public operations of Omnex, one API with two engines.
//!
//! The embedded [`Omnex`] implements it in this process; `omnex_client::Client`
//! implements it over HTTP against an `omnex serve`. Code written against
//! `&dyn OmnexApi` (the Python binding, the facade test suite) runs on either.

use async_trait::async_trait;

use crate::{
    model::{
        Context, EventPage, Job, ListContexts, ListMemories, Memory, MemoryId, MemoryUpdate,
        NewMemory, Page, PutContext, SearchHit, SearchRequest,
    },
    Changes, Omnex, Result,
};

/// The operations every Omnex engine offers, with the same rules and errors.
///
/// ```
/// use omnex_core::{OmnexApi, model::NewMemory};
///
/// async fn remember(api: &dyn OmnexApi, text: &str) -> omnex_core::Result<()> {
///     api.add_memory(NewMemory::new(text)).await?;
///     Ok(())
/// }
/// ```
#[async_trait]
pub trait OmnexApi: Send + Sync + std::fmt::Debug {
    /// Creates or replaces a context; see [`Omnex::put_context`].
    async fn put_context(&self, req: PutContext) -> Result<Context>;
    /// Reads a context; see [`Omnex::get_context`].
    async fn get_context(&self, namespace: &str, key: &str) -> Result<Context>;
    /// Deletes a context; see [`Omnex::delete_context`].
    async fn delete_context(
        &self,
        namespace: &str,
        key: &str,
        if_version: Option<u64>,
    ) -> Result<()>;
    /// Lists contexts a page at a time; see [`Omnex::list_contexts`].
    async fn list_contexts(&self, req: ListContexts) -> Result<Page<Context>>;
    /// Adds one memory; see [`Omnex::add_memory`].
    async fn add_memory(&self, new: NewMemory) -> Result<Memory>;
    /// Adds up to 1000 memories, all or nothing; see [`Omnex::add_memories`].
    async fn add_memories(&self, batch: Vec<NewMemory>) -> Result<Vec<Memory>>;
    /// Reads a memory; see [`Omnex::get_memory`].
    async fn get_memory(&self, id: MemoryId) -> Result<Memory>;
    /// Updates a memory; see [`Omnex::update_memory`].
    async fn update_memory(&self, id: MemoryId, update: MemoryUpdate) -> Result<Memory>;
    /// Deletes a memory; see [`Omnex::delete_memory`].
    async fn delete_memory(&self, id: MemoryId) -> Result<()>;
    /// Lists memories a page at a time; see [`Omnex::list_memories`].
    async fn list_memories(&self, req: ListMemories) -> Result<Page<Memory>>;
    /// Searches memories; see [`Omnex::search`].
    async fn search(&self, req: SearchRequest) -> Result<Vec<SearchHit>>;
    /// Reads the change feed a page at a time; see [`Omnex::changes`].
    async fn changes(&self, req: Changes) -> Result<EventPage>;
    /// Reads the history of a memory; see [`Omnex::memory_history`].
    async fn memory_history(
        &self,
        id: MemoryId,
        since: i64,
        limit: Option<usize>,
    ) -> Result<EventPage>;
    /// Reads the history of a context; see [`Omnex::context_history`].
    async fn context_history(
        &self,
        namespace: &str,
        key: &str,
        since: i64,
        limit: Option<usize>,
    ) -> Result<EventPage>;
    /// Queues a batch of memories for a worker; see [`Omnex::add_memories_async`].
    async fn add_memories_async(&self, batch: Vec<NewMemory>) -> Result<Job>;
    /// Reads a job; see [`Omnex::get_job`].
    async fn get_job(&self, id: &str) -> Result<Job>;
    /// Cancels a job; see [`Omnex::cancel_job`].
    async fn cancel_job(&self, id: &str) -> Result<Job>;
}

#[async_trait]
impl OmnexApi for Omnex {
    async fn put_context(&self, req: PutContext) -> Result<Context> {
        Omnex::put_context(self, req).await
    }
    async fn get_context(&self, namespace: &str, key: &str) -> Result<Context> {
        Omnex::get_context(self, namespace, key).await
    }
    async fn delete_context(
        &self,
        namespace: &str,
        key: &str,
        if_version: Option<u64>,
    ) -> Result<()> {
        Omnex::delete_context(self, namespace, key, if_version).await
    }
    async fn list_contexts(&self, req: ListContexts) -> Result<Page<Context>> {
        Omnex::list_contexts(self, req).await
    }
    async fn add_memory(&self, new: NewMemory) -> Result<Memory> {
        Omnex::add_memory(self, new).await
    }
    async fn add_memories(&self, batch: Vec<NewMemory>) -> Result<Vec<Memory>> {
        Omnex::add_memories(self, batch).await
    }
    async fn get_memory(&self, id: MemoryId) -> Result<Memory> {
        Omnex::get_memory(self, id).await
    }
    async fn update_memory(&self, id: MemoryId, update: MemoryUpdate) -> Result<Memory> {
        Omnex::update_memory(self, id, update).await
    }
    async fn delete_memory(&self, id: MemoryId) -> Result<()> {
        Omnex::delete_memory(self, id).await
    }
    async fn list_memories(&self, req: ListMemories) -> Result<Page<Memory>> {
        Omnex::list_memories(self, req).await
    }
    async fn search(&self, req: SearchRequest) -> Result<Vec<SearchHit>> {
        Omnex::search(self, req).await
    }
    async fn changes(&self, req: Changes) -> Result<EventPage> {
        Omnex::changes(self, req).await
    }
    async fn memory_history(
        &self,
        id: MemoryId,
        since: i64,
        limit: Option<usize>,
    ) -> Result<EventPage> {
        Omnex::memory_history(self, id, since, limit).await
    }
    async fn context_history(
        &self,
        namespace: &str,
        key: &str,
        since: i64,
        limit: Option<usize>,
    ) -> Result<EventPage> {
        Omnex::context_history(self, namespace, key, since, limit).await
    }
    async fn add_memories_async(&self, batch: Vec<NewMemory>) -> Result<Job> {
        Omnex::add_memories_async(self, batch).await
    }
    async fn get_job(&self, id: &str) -> Result<Job> {
        Omnex::get_job(self, id).await
    }
    async fn cancel_job(&self, id: &str) -> Result<Job> {
        Omnex::cancel_job(self, id).await
    }
}

/// Follows the change feed of `api` from `req.since`: every matching event once,
/// in order, then each new one as it commits (read a page at a time; after a page
/// that was not full, the next read waits `poll`). The stream never ends by
/// itself; it yields an error and stops when a read fails. Drop it to stop.
///
/// ```no_run
/// # async fn demo(api: &dyn omnex_core::OmnexApi) -> omnex_core::Result<()> {
/// use futures::StreamExt;
/// let poll = std::time::Duration::from_millis(500);
/// let mut events = std::pin::pin!(omnex_core::follow(api, omnex_core::Changes::default(), poll));
/// while let Some(event) = events.next().await {
///     let event = event?;
///     println!("{} {} {}", event.seq, event.kind, event.id);
/// }
/// # Ok(()) }
/// ```
pub fn follow(
    api: &dyn OmnexApi,
    req: Changes,
    poll: std::time::Duration,
) -> impl futures::Stream<Item = Result<crate::model::Event>> + Send + '_ {
    struct State<'a> {
        api: &'a dyn OmnexApi,
        req: Changes,
        pending: std::collections::VecDeque<crate::model::Event>,
        more: bool,
        first: bool,
        failed: bool,
    }
    let state = State {
        api,
        req,
        pending: std::collections::VecDeque::new(),
        more: true,
        first: true,
        failed: false,
    };
    futures::stream::unfold(state, move |mut st| async move {
        loop {
            if st.failed {
                return None;
            }
            if let Some(e) = st.pending.pop_front() {
                return Some((Ok(e), st));
            }
            if !st.more && !st.first {
                tokio::time::sleep(poll).await;
            }
            st.first = false;
            match st.api.changes(st.req.clone()).await {
                Ok(page) => {
                    st.req.since = page.next;
                    st.more = page.more;
                    st.pending = page.events.into();
                }
                Err(e) => {
                    st.failed = true;
                    return Some((Err(e), st));
                }
            }
        }
    })
}
