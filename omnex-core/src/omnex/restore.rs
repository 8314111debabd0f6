//! Restoring exported records as they were (the import side of [`crate::transfer`]),
//! and the readiness check.

use super::Omnex;
use crate::{
    model::{Context, Memory, Permission},
    validate, Error, Result,
};

impl Omnex {
    /// Writes exported contexts back exactly as they were (ids, versions,
    /// timestamps), replacing any stored under the same `namespace/key`. All or nothing.
    /// An operator writes each into the tenant it names; anyone else, into their own.
    pub async fn import_contexts(&self, mut batch: Vec<Context>) -> Result<()> {
        self.require(Permission::Write).await?;
        validate::batch_len(batch.len())?;
        for c in &mut batch {
            self.denied_if(self.principal.check_namespace(&c.namespace))
                .await?;
            if !self.principal.operator {
                c.tenant = self.principal.tenant.clone();
            }
            validate::namespace(&c.namespace)?;
            validate::key(&c.key)?;
            validate::value(&c.value)?;
            validate::tags(&c.tags)?;
        }
        self.inner.store.restore_contexts(&batch).await?;
        self.changed();
        Ok(())
    }

    /// Writes exported memories back with their ids and timestamps, replacing any
    /// with the same id. Memories without an embedding are embedded. All or nothing.
    pub async fn import_memories(&self, mut batch: Vec<Memory>) -> Result<()> {
        self.require(Permission::Write).await?;
        validate::batch_len(batch.len())?;
        let dim = self.dimension();
        for m in &mut batch {
            self.denied_if(self.principal.check_namespace(&m.scope.namespace))
                .await?;
            if !self.principal.operator {
                m.tenant = self.principal.tenant.clone();
            }
            validate::content(&m.content)?;
            validate::metadata(&m.metadata)?;
            validate::scope(&m.scope)?;
            if !m.embedding.is_empty() {
                validate::vector("embedding", &m.embedding, dim)?;
            }
        }
        if !self.principal.operator {
            // An id of another tenant's memory is not this tenant's to replace.
            let ids: Vec<_> = batch.iter().map(|m| m.id).collect();
            let stored = self.inner.store.get_memories(&ids).await?;
            if let Some(other) = stored.iter().find(|m| m.tenant != self.principal.tenant) {
                return self
                    .denied_if(Err(Error::forbidden(format!(
                        "memory {} belongs to another tenant",
                        other.id
                    ))))
                    .await;
            }
        }
        let missing: Vec<String> = batch
            .iter()
            .filter(|m| m.embedding.is_empty())
            .map(|m| m.content.clone())
            .collect();
        let mut computed = self.embed_texts(&missing).await?.into_iter();
        for m in batch.iter_mut().filter(|m| m.embedding.is_empty()) {
            m.embedding = computed
                .next()
                .ok_or_else(|| Error::internal("embedder", "returned too few vectors"))?;
        }
        self.inner
            .store
            .put_memories_by(&batch, Some(&self.principal.subject))
            .await?;
        self.sync_after_write().await;
        Ok(())
    }

    /// Checks that every backend answers: the store reads, the index reports its size.
    pub async fn ready(&self) -> Result<()> {
        self.inner.store.head_seq().await?;
        self.inner.index.len().await?;
        Ok(())
    }
}
