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

/// Cursor of a context listing: the last `(namespace, key)` returned, as
/// `namespace/key` (a namespace never holds `/`). Any valid namespace, `/`, and a
/// key of printable text is a position, so a cursor's whole rule fits a pattern.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn encode_context_cursor(namespace: &str, key: &str) -> String {
    format!("{namespace}/{key}")
}

/// Reads a cursor made by [`encode_context_cursor`].
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn decode_context_cursor(cursor: &str) -> crate::Result<(String, String)> {
    let bad = || crate::Error::invalid_input("cursor", "is not a cursor returned by this listing");
    let (namespace, key) = cursor.split_once('/').ok_or_else(bad)?;
    crate::validate::namespace(namespace).map_err(|_| bad())?;
    if key.is_empty() || key.chars().any(char::is_control) {
        return Err(bad());
    }
    Ok((namespace.to_owned(), key.to_owned()))
}

/// Reads a memory-listing cursor (the last id returned).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn decode_memory_cursor(cursor: &str) -> crate::Result<super::MemoryId> {
    super::MemoryId::parse(cursor).map_err(|_| {
        crate::Error::invalid_input("cursor", "is not a cursor returned by this listing")
    })
}
