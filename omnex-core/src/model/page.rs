use serde::{Deserialize, Serialize};

/// One page of a listing. Pass `next_cursor` back to get the next page; `None` means the end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// The items of this page, in listing order.
    pub items: Vec<T>,
    /// The cursor of the next page, or `None` after the last page.
    pub next_cursor: Option<String>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            next_cursor: None,
        }
    }
}

impl<T> Page<T> {
    /// A page from `items` fetched with one more than `limit`: the extra one, when
    /// there, only says that another page follows, whose cursor `cursor` makes from
    /// the last item kept.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn from_overfetch(
        mut items: Vec<T>,
        limit: usize,
        cursor: impl Fn(&T) -> String,
    ) -> Self {
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(cursor)
        } else {
            None
        };
        Self { items, next_cursor }
    }
}

/// Cursor of a context listing: the last `(namespace, key)` returned, hex-encoded JSON.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn encode_context_cursor(namespace: &str, key: &str) -> String {
    let json = serde_json::to_vec(&(namespace, key)).unwrap_or_default();
    json.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a cursor made by [`encode_context_cursor`].
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn decode_context_cursor(cursor: &str) -> crate::Result<(String, String)> {
    let bad = || crate::Error::invalid_input("cursor", "is not a cursor returned by this listing");
    if !cursor.len().is_multiple_of(2) || !cursor.is_ascii() {
        return Err(bad());
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&cursor[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

/// Reads a memory-listing cursor (the last id returned).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn decode_memory_cursor(cursor: &str) -> crate::Result<super::MemoryId> {
    super::MemoryId::parse(cursor).map_err(|_| {
        crate::Error::invalid_input("cursor", "is not a cursor returned by this listing")
    })
}
