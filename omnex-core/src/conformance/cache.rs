//! Contracts of [`Cache`].

use std::time::Duration;

use bytes::Bytes;

use crate::cache::Cache;

fn key() -> String {
    format!("t:{}", uuid::Uuid::now_v7().simple())
}

/// A value set can be read back, and is gone after delete.
pub async fn set_get_delete(c: &dyn Cache) {
    let k = key();
    assert_eq!(c.get(&k).await.unwrap(), None);
    c.set(&k, Bytes::from_static(b"v1"), None).await.unwrap();
    assert_eq!(c.get(&k).await.unwrap().as_deref(), Some(&b"v1"[..]));
    c.delete(&k).await.unwrap();
    assert_eq!(c.get(&k).await.unwrap(), None);
    c.delete(&k).await.unwrap();
}

/// An entry is not returned after its TTL.
pub async fn ttl_expires(c: &dyn Cache) {
    let k = key();
    c.set(
        &k,
        Bytes::from_static(b"v"),
        Some(Duration::from_millis(1000)),
    )
    .await
    .unwrap();
    assert!(c.get(&k).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(c.get(&k).await.unwrap(), None);
}

/// A second set replaces the value.
pub async fn overwrite(c: &dyn Cache) {
    let k = key();
    c.set(&k, Bytes::from_static(b"a"), None).await.unwrap();
    c.set(&k, Bytes::from_static(b"b"), None).await.unwrap();
    assert_eq!(c.get(&k).await.unwrap().as_deref(), Some(&b"b"[..]));
}
