//! Memories: add, read, update, delete, list.

use super::Omnex;
use crate::{
    error::Entity,
    model::{now, ListMemories, Memory, MemoryId, MemoryUpdate, NewMemory, Page, Permission},
    validate, Error, Result,
};

impl Omnex {
    /// Adds one memory.
    pub async fn add_memory(&self, new: NewMemory) -> Result<Memory> {
        let mut added = self.add_memories(vec![new]).await?;
        added
            .pop()
            .ok_or_else(|| Error::internal("omnex", "a batch of one added nothing"))
    }

    /// Adds up to 1000 memories, all or nothing, returned in input order.
    pub async fn add_memories(&self, batch: Vec<NewMemory>) -> Result<Vec<Memory>> {
        validate::batch_len(batch.len())?;
        self.check_new_memories(&batch).await?;
        let ids = batch.iter().map(|_| MemoryId::new()).collect();
        self.write_new_memories(batch, ids).await
    }

    /// Checks a batch of new memories as [`add_memories`](Self::add_memories) does,
    /// before anything is embedded or written.
    pub(super) async fn check_new_memories(&self, batch: &[NewMemory]) -> Result<()> {
        self.require(Permission::Write).await?;
        let now = now();
        let dim = self.dimension();
        for (i, m) in batch.iter().enumerate() {
            let check = || -> Result<()> {
                validate::content(&m.content)?;
                validate::metadata(&m.metadata)?;
                validate::scope(&m.scope)?;
                if let Some(e) = &m.embedding {
                    validate::vector("embedding", e, dim)?;
                }
                validate::expiry(m.expires_at, m.ttl_seconds, now)?;
                Ok(())
            };
            check().map_err(|e| if batch.len() > 1 { e.at_item(i) } else { e })?;
        }
        for m in batch {
            self.denied_if(self.principal.check_namespace(&m.scope.namespace))
                .await?;
        }
        // Counted only when a quota is set: adds without one pay nothing for it.
        if self.inner.config.quota.is_set() {
            let bytes: usize = batch
                .iter()
                .map(|m| {
                    m.content.len() + serde_json::to_string(&m.metadata).map_or(0, |j| j.len())
                })
                .sum();
            self.check_quota(batch.len() as u64, 0, bytes as u64)
                .await?;
        }
        Ok(())
    }

    /// Embeds and writes checked new memories under the given ids (a job that is
    /// run again writes the same ids, so nothing is added twice).
    pub(super) async fn write_new_memories(
        &self,
        batch: Vec<NewMemory>,
        ids: Vec<MemoryId>,
    ) -> Result<Vec<Memory>> {
        let now = now();
        let to_embed: Vec<String> = batch
            .iter()
            .filter(|m| m.embedding.is_none())
            .map(|m| m.content.clone())
            .collect();
        let mut computed = self.embed_texts(&to_embed).await?.into_iter();
        let mut memories = Vec::with_capacity(batch.len());
        for (m, id) in batch.into_iter().zip(ids) {
            let embedding = match m.embedding {
                Some(e) => e,
                None => computed
                    .next()
                    .ok_or_else(|| Error::internal("embedder", "returned too few vectors"))?,
            };
            memories.push(Memory {
                id,
                tenant: self.principal.tenant.clone(),
                content: m.content,
                embedding,
                metadata: m.metadata,
                scope: m.scope,
                created_at: now,
                updated_at: now,
                expires_at: validate::expiry(m.expires_at, m.ttl_seconds, now)?,
            });
        }
        self.inner
            .store
            .put_memories_by(&memories, Some(&self.principal.subject))
            .await?;
        self.sync_after_write().await;
        Ok(memories)
    }

    /// Reads a memory (`NotFound` if absent or expired).
    /// Another tenant's memory, or one in a namespace the caller is limited away
    /// from, is `NotFound` too: an id never tells whether it exists elsewhere.
    pub async fn get_memory(&self, id: MemoryId) -> Result<Memory> {
        self.require(Permission::Read).await?;
        self.own_memory(id).await
    }

    /// The memory `id` if this handle's principal may see it, else `NotFound`.
    async fn own_memory(&self, id: MemoryId) -> Result<Memory> {
        self.inner
            .store
            .get_memories(&[id])
            .await?
            .pop()
            .filter(|m| self.principal.owns(&m.tenant, &m.scope.namespace))
            .ok_or_else(|| Error::not_found(Entity::Memory, id.to_string()))
    }

    /// Updates a memory; new content is re-embedded.
    pub async fn update_memory(&self, id: MemoryId, update: MemoryUpdate) -> Result<Memory> {
        self.require(Permission::Write).await?;
        if let Some(c) = &update.content {
            validate::content(c)?;
        }
        if let Some(m) = &update.metadata {
            validate::metadata(m)?;
        }
        if let Some(e) = &update.embedding {
            validate::vector("embedding", e, self.dimension())?;
        }
        let now = now();
        let new_expiry = validate::expiry(update.expires_at, update.ttl_seconds, now)?;
        let mut memory = self.own_memory(id).await?;
        if let Some(c) = &update.content {
            let grows = c.len().saturating_sub(memory.content.len());
            self.check_quota(0, 0, grows as u64).await?;
        }
        if let Some(content) = update.content {
            if content != memory.content || update.embedding.is_some() {
                memory.embedding = match update.embedding {
                    Some(e) => e,
                    None => self
                        .embed_texts(std::slice::from_ref(&content))
                        .await?
                        .pop()
                        .ok_or_else(|| Error::internal("embedder", "returned no vector"))?,
                };
            }
            memory.content = content;
        } else if let Some(e) = update.embedding {
            memory.embedding = e;
        }
        if let Some(metadata) = update.metadata {
            memory.metadata = metadata;
        }
        if new_expiry.is_some() {
            memory.expires_at = new_expiry;
        }
        memory.updated_at = now;
        self.inner
            .store
            .put_memories_by(std::slice::from_ref(&memory), Some(&self.principal.subject))
            .await?;
        self.sync_after_write().await;
        Ok(memory)
    }

    /// Deletes a memory (`NotFound` if absent).
    pub async fn delete_memory(&self, id: MemoryId) -> Result<()> {
        self.require(Permission::Write).await?;
        // Read first: another tenant's memory is not found, and is left alone.
        self.own_memory(id).await?;
        let n = self
            .inner
            .store
            .delete_memories_by(&[id], Some(&self.principal.subject))
            .await?;
        self.sync_after_write().await;
        if n == 0 {
            return Err(Error::not_found(Entity::Memory, id.to_string()));
        }
        self.audit("memory.deleted", Some(id.to_string()), None)
            .await;
        Ok(())
    }

    /// Lists memories by id (creation order), a page at a time.
    pub async fn list_memories(&self, mut req: ListMemories) -> Result<Page<Memory>> {
        self.require(Permission::Read).await?;
        validate::filter(&req.filter)?;
        validate::page_limit(req.limit)?;
        self.denied_if(self.principal.confine(&mut req.filter))
            .await?;
        let mut page = self.inner.store.list_memories(&req).await?;
        if !req.include_embedding {
            page.items.iter_mut().for_each(Memory::drop_embedding);
        }
        Ok(page)
    }
}
