//! Background work: the expiry sweep and the index sync loop.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use tracing::warn;

use super::{Inner, Omnex};
use crate::{
    model::{now, Principal},
    store::Purged,
    Result,
};

impl Omnex {
    /// Deletes expired contexts and memories and prunes the change log; the
    /// background sweep calls this every `sweep_interval_secs`.
    pub async fn sweep(&self) -> Result<Purged> {
        let now = now();
        let purged = self.inner.store.purge_expired(now).await?;
        let retention = chrono::TimeDelta::try_seconds(
            i64::try_from(self.inner.config.change_retention_secs).unwrap_or(i64::MAX),
        )
        .unwrap_or_default();
        self.inner.store.prune_changes(now - retention).await?;
        if let Some(before) = older_than(now, self.inner.config.event_retention_secs) {
            self.inner.store.prune_events(before).await?;
        }
        if let Some(before) = older_than(now, self.inner.config.job_retention_secs) {
            self.inner.store.prune_jobs(before).await?;
        }
        self.sync_index().await?;
        if !purged.memories.is_empty() || purged.contexts > 0 {
            self.changed();
        }
        Ok(purged)
    }

    /// Starts the expiry sweep, the index sync loop, which retries index updates
    /// that failed (a vector server that was down) and follows other processes'
    /// writes, and the background workers.
    pub(super) fn start_background(&self) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        self.start_workers();
        let sweep = self.inner.config.sweep_interval_secs;
        if sweep > 0 {
            self.every(Duration::from_secs(sweep), |omnex| async move {
                if let Err(e) = omnex.sweep().await {
                    warn!(error = %e, "expiry sweep failed; retrying at the next interval");
                }
            });
        }
        self.every(Duration::from_secs(30), |omnex| async move {
            if let Err(e) = omnex.inner.index.save().await {
                warn!(error = %e, "cannot save the index snapshot; retrying in 30 seconds");
            }
        });
        let sync = self.inner.config.index_sync_interval_ms;
        if sync > 0 {
            let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
            self.every(Duration::from_millis(sync), move |omnex| {
                let failing = failing.clone();
                async move {
                    use std::sync::atomic::Ordering;
                    let result = match omnex.sync_index().await {
                        Ok(()) => {
                            *omnex.inner.index_down_until.lock() = None;
                            omnex.record_applied().await
                        }
                        Err(e) => Err(e),
                    };
                    match result {
                        Ok(()) => {
                            if failing.swap(false, Ordering::Relaxed) {
                                warn!(
                                    "index sync recovered; the index is up to date with the store"
                                );
                            }
                        }
                        Err(e) => {
                            omnex.index_failed();
                            if !failing.swap(true, Ordering::Relaxed) {
                                warn!(error = %e, "index sync failed; retrying in the background");
                            }
                        }
                    }
                }
            });
        }
    }

    /// Runs `job` every `period` while the engine is alive.
    fn every<F, Fut>(&self, period: Duration, job: F)
    where
        F: Fn(Omnex) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                job(Omnex {
                    inner,
                    principal: Arc::new(Principal::local()),
                })
                .await;
            }
        });
        self.inner.tasks.lock().push(task);
    }
}

/// The time `secs` seconds before `now`; `None` for 0 (keep for ever).
fn older_than(now: crate::model::Timestamp, secs: u64) -> Option<crate::model::Timestamp> {
    if secs == 0 {
        return None;
    }
    let keep = chrono::TimeDelta::try_seconds(i64::try_from(secs).unwrap_or(i64::MAX))
        .unwrap_or(chrono::TimeDelta::MAX);
    now.checked_sub_signed(keep)
}
