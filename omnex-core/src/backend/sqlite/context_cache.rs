//! Contexts cached in process, checked against SQLite's WAL index at every read, so a
//! read never returns a context that any process has changed since it was cached.
//!
//! Several processes may open one database, so a cached context is good only while
//! nothing has been committed since it was read. SQLite tells when that is. In WAL mode
//! the `<db>-shm` file starts with the wal-index header, twice: two copies of 48 bytes
//! (<https://www.sqlite.org/walformat.html>). Every commit, by any connection of any
//! process, writes a new header, the second copy first: the last valid frame grows, and
//! when the log starts over the salts change, so a header never comes back. Readers take
//! two copies that differ as "being written". The header is therefore a validation token:
//!
//! - [`ContextCache::lookup`] reads both copies with one positioned read (about a
//!   microsecond: the file is in memory). Copies that differ, an uninitialised header, a
//!   wrong checksum or a failed read give no token: the read goes to the database and
//!   nothing is cached.
//! - An entry keeps the token read *before* the database read that filled it. A commit
//!   between the two moves the header past the entry's token, so a commit racing with a
//!   fill can only cause misses, never a stale hit.
//! - A hit needs the current token to equal the entry's: nothing has been committed
//!   anywhere since the entry was read. Expiry is checked again at hit time, so an
//!   expired context reads as absent, as the SQL query would have it. Absent contexts
//!   are cached too, under the same rule.
//!
//! Any commit, of a context or of a memory, invalidates every entry at once: the cache
//! serves read-mostly contexts, and costs a header read and a map insert when writes
//! are frequent.
//!
//! The `-shm` file is deleted when the last connection to the database closes, and the
//! next connection makes a new one; a descriptor on the deleted file would read a header
//! that never changes again. So the cache holds a connection of its own for its whole
//! life. (The pool keeps `min_connections(1)` with no idle timeout, but it closes a
//! connection whose ping fails, or every connection on `close()`, before it opens a
//! replacement, so it alone does not guarantee an open connection at every moment.)
//! While that connection is open, this process holds SQLite's shared lock on the
//! database and the `-shm` file stays the live one; at open, the inode of the opened
//! file is checked against the path's.
//!
//! The descriptor is never closed. POSIX advisory locks belong to a process and an
//! inode, and closing *any* descriptor of a file drops all the process's locks on it,
//! among them the locks SQLite's connections hold on the `-shm` file. So each process
//! keeps one descriptor per `-shm` file it has cached, for its whole life.
//!
//! The cache exists only for file databases in WAL mode; in-memory databases have no
//! `-shm` file and read through sqlx every time.

use std::{collections::HashMap, fs::File, path::Path, sync::Arc};

use parking_lot::Mutex;
use sqlx::{sqlite::SqliteConnectOptions, ConnectOptions, SqliteConnection};

use crate::model::{to_micros, Context};

/// Bytes of one copy of the wal-index header.
const HEADER_LEN: usize = 48;
/// Offset of the header's `isInit` byte (non-zero once the header is initialised).
const IS_INIT: usize = 12;
/// Offset of the header's checksum, which covers the bytes before it.
const CHECKSUM: usize = 40;
/// Most contexts kept.
const MAX_ENTRIES: usize = 4096;
/// Most bytes kept, approximately (the contexts' JSON size and a fixed cost each).
const MAX_BYTES: usize = 32 << 20;
/// Contexts larger than this are not kept: a few would push out thousands of others.
const MAX_ENTRY_BYTES: usize = 256 << 10;
/// The fixed part of an entry's size estimate.
const ENTRY_OVERHEAD: usize = 160;

/// A settled wal-index header: equal tokens mean nothing was committed in between.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Token([u8; HEADER_LEN]);

impl Token {
    /// The token in the first bytes of a `-shm` file, when both header copies are equal,
    /// initialised and carry a valid checksum (the checks SQLite's readers make).
    fn from_shm(bytes: &[u8; 2 * HEADER_LEN]) -> Option<Self> {
        let (first, second) = bytes.split_at(HEADER_LEN);
        if first != second || first[IS_INIT] == 0 {
            return None;
        }
        let header: [u8; HEADER_LEN] = first.try_into().ok()?;
        (checksum(&header[..CHECKSUM]) == header[CHECKSUM..]).then_some(Self(header))
    }
}

/// The checksum of the WAL format over `bytes` (a multiple of 8 bytes), reading 32-bit
/// words in the machine's byte order, as the wal-index header stores them.
fn checksum(bytes: &[u8]) -> [u8; 8] {
    let word = |b: &[u8]| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    let (mut s1, mut s2) = (0u32, 0u32);
    for pair in bytes.chunks_exact(8) {
        s1 = s1.wrapping_add(word(&pair[..4])).wrapping_add(s2);
        s2 = s2.wrapping_add(word(&pair[4..])).wrapping_add(s1);
    }
    let mut out = [0; 8];
    out[..4].copy_from_slice(&s1.to_ne_bytes());
    out[4..].copy_from_slice(&s2.to_ne_bytes());
    out
}

/// What [`ContextCache::lookup`] found.
pub(super) enum Lookup {
    /// The context as stored now (`None`: absent or expired).
    Hit(Option<Context>),
    /// Not cached, or changed since: read the database, then [`ContextCache::fill`] with
    /// this token, when there is one.
    Miss(Option<Token>),
}

struct Entry {
    token: Token,
    context: Option<Arc<Context>>,
    bytes: usize,
}

/// Entries by namespace, then key (so a lookup borrows its strings, allocating nothing).
#[derive(Default)]
struct Entries {
    by_namespace: HashMap<String, HashMap<String, Entry>>,
    len: usize,
    bytes: usize,
}

impl Entries {
    fn remove(&mut self, namespace: &str, key: &str) {
        let Some(keys) = self.by_namespace.get_mut(namespace) else {
            return;
        };
        if let Some(old) = keys.remove(key) {
            self.len -= 1;
            self.bytes -= old.bytes;
        }
        if keys.is_empty() {
            self.by_namespace.remove(namespace);
        }
    }

    /// Drops some entry (whichever the map yields first); false when there is none.
    fn evict_one(&mut self) -> bool {
        let Some((namespace, key)) = self
            .by_namespace
            .iter()
            .find_map(|(ns, keys)| keys.keys().next().map(|k| (ns.clone(), k.clone())))
        else {
            return false;
        };
        self.remove(&namespace, &key);
        true
    }

    fn insert(&mut self, namespace: &str, key: &str, entry: Entry) {
        self.remove(namespace, key);
        while self.len >= MAX_ENTRIES || self.bytes + entry.bytes > MAX_BYTES {
            if !self.evict_one() {
                break;
            }
        }
        self.len += 1;
        self.bytes += entry.bytes;
        if let Some(keys) = self.by_namespace.get_mut(namespace) {
            keys.insert(key.to_owned(), entry);
        } else {
            self.by_namespace.insert(
                namespace.to_owned(),
                HashMap::from([(key.to_owned(), entry)]),
            );
        }
    }
}

/// The contexts of one SQLite database file, shared by the clones of its store.
pub(super) struct ContextCache {
    /// The database's `-shm` file (a descriptor kept for the life of the process).
    shm: Arc<File>,
    entries: Mutex<Entries>,
    /// Keeps the `-shm` file the live one (see the module docs); runs no queries.
    _keeper: Mutex<SqliteConnection>,
}

impl ContextCache {
    /// A cache for the database `opts` opens, or `None` when it cannot have one: not a
    /// file in WAL mode, or its `-shm` file is not where SQLite keeps it. Called once the
    /// pool is up.
    pub(super) async fn open(opts: &SqliteConnectOptions) -> Option<Self> {
        match Self::try_open(opts).await {
            Ok(cache) => Some(cache),
            Err(why) => {
                tracing::warn!(
                    db = %opts.get_filename().display(),
                    "contexts are read from the database every time: {why}"
                );
                None
            }
        }
    }

    async fn try_open(opts: &SqliteConnectOptions) -> Result<Self, String> {
        let mut keeper = opts.connect().await.map_err(|e| e.to_string())?;
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut keeper)
            .await
            .map_err(|e| e.to_string())?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!("the journal mode is {mode}, not WAL"));
        }
        // Reading the schema opens the WAL, and with it the `-shm` file.
        sqlx::query("SELECT count(*) FROM sqlite_schema")
            .fetch_one(&mut keeper)
            .await
            .map_err(|e| e.to_string())?;
        let db = opts.get_filename().to_owned();
        let shm = tokio::task::spawn_blocking(move || shm_file(&db))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot open the -shm file: {e}"))?;
        Ok(Self {
            shm,
            entries: Mutex::default(),
            _keeper: Mutex::new(keeper),
        })
    }

    /// The context cached under the current token, or a miss with the token to fill
    /// with. `now_us` is the time expiry is checked against.
    pub(super) fn lookup(&self, namespace: &str, key: &str, now_us: i64) -> Lookup {
        let Some(token) = self.token() else {
            return Lookup::Miss(None);
        };
        let cached = {
            let entries = self.entries.lock();
            match entries.by_namespace.get(namespace).and_then(|k| k.get(key)) {
                Some(entry) if entry.token == token => Some(entry.context.clone()),
                _ => None,
            }
        };
        match cached {
            Some(context) => Lookup::Hit(
                context
                    .filter(|c| c.expires_at.is_none_or(|t| to_micros(t) > now_us))
                    .map(|c| Context::clone(&c)),
            ),
            None => Lookup::Miss(Some(token)),
        }
    }

    /// Caches what the database returned for a read that began after `token` was taken.
    pub(super) fn fill(&self, token: Token, namespace: &str, key: &str, found: Option<&Context>) {
        let bytes = ENTRY_OVERHEAD
            + namespace.len()
            + key.len()
            + found.map_or(0, |c| {
                json_len(&c.value) + c.tags.iter().map(|t| t.len() + 24).sum::<usize>()
            });
        let mut entries = self.entries.lock();
        if bytes > MAX_ENTRY_BYTES {
            entries.remove(namespace, key);
            return;
        }
        let entry = Entry {
            token,
            context: found.cloned().map(Arc::new),
            bytes,
        };
        entries.insert(namespace, key, entry);
    }

    /// The current token, when the header is settled and readable.
    fn token(&self) -> Option<Token> {
        read_token(&self.shm)
    }
}

/// Reads the two header copies with one positioned read.
#[cfg(unix)]
fn read_token(shm: &File) -> Option<Token> {
    use std::os::unix::fs::FileExt;
    let mut bytes = [0; 2 * HEADER_LEN];
    shm.read_exact_at(&mut bytes, 0).ok()?;
    Token::from_shm(&bytes)
}

#[cfg(not(unix))]
fn read_token(_shm: &File) -> Option<Token> {
    None
}

/// The `-shm` file of the database at `db`, opened once per process (see the module
/// docs on why the descriptor is never closed). Fails when the opened file is not the
/// one at the path. Blocking: called inside `spawn_blocking`.
#[cfg(unix)]
#[allow(clippy::disallowed_methods)]
fn shm_file(db: &Path) -> std::io::Result<Arc<File>> {
    use std::{
        collections::hash_map::Entry as Slot,
        os::unix::{fs::MetadataExt, io::IntoRawFd},
        sync::OnceLock,
    };
    /// The descriptors opened, by device and inode.
    type Opened = Mutex<HashMap<(u64, u64), Arc<File>>>;
    static OPEN: OnceLock<Opened> = OnceLock::new();
    // SQLite names the file after the database's full path, symbolic links resolved.
    let mut path = std::fs::canonicalize(db)?.into_os_string();
    path.push("-shm");
    let id = |m: &std::fs::Metadata| (m.dev(), m.ino());
    let mut open = OPEN.get_or_init(Mutex::default).lock();
    let at_path = id(&std::fs::metadata(&path)?);
    if let Some(file) = open.get(&at_path) {
        return Ok(Arc::clone(file));
    }
    let file = File::open(&path)?;
    let opened = id(&file.metadata()?);
    match open.entry(opened) {
        Slot::Vacant(slot) => {
            slot.insert(Arc::new(file));
        }
        // Never close a descriptor of a file SQLite may hold locks on.
        Slot::Occupied(_) => {
            let _kept_open = file.into_raw_fd();
        }
    }
    if opened != at_path {
        return Err(std::io::Error::other(
            "the -shm file was replaced while it was opened",
        ));
    }
    Ok(Arc::clone(&open[&opened]))
}

#[cfg(not(unix))]
fn shm_file(_db: &Path) -> std::io::Result<Arc<File>> {
    Err(std::io::Error::other("only on Unix"))
}

/// The length of `value` as compact JSON, without building the text.
fn json_len(value: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests write stand-in `-shm` files directly
mod tests {
    use std::{io::Write, str::FromStr};

    use serde_json::json;

    use super::*;
    use crate::{
        model::{now, Precondition, Tenant},
        store::Store,
    };

    fn context(key: &str, value: serde_json::Value) -> Context {
        let t = now();
        Context {
            tenant: Tenant::default(),
            id: uuid::Uuid::now_v7(),
            namespace: "ns".into(),
            key: key.into(),
            value,
            tags: vec![],
            created_at: t,
            updated_at: t,
            version: 0,
            expires_at: None,
        }
    }

    /// A wal-index header with this change counter and last frame, and a valid checksum.
    fn header(change: u32, max_frame: u32) -> [u8; HEADER_LEN] {
        let mut h = [0; HEADER_LEN];
        h[..4].copy_from_slice(&3_007_000u32.to_ne_bytes());
        h[8..12].copy_from_slice(&change.to_ne_bytes());
        h[IS_INIT] = 1;
        h[16..20].copy_from_slice(&max_frame.to_ne_bytes());
        let sum = checksum(&h[..CHECKSUM]);
        h[CHECKSUM..].copy_from_slice(&sum);
        h
    }

    fn shm_bytes(first: [u8; HEADER_LEN], second: [u8; HEADER_LEN]) -> [u8; 2 * HEADER_LEN] {
        let mut b = [0; 2 * HEADER_LEN];
        b[..HEADER_LEN].copy_from_slice(&first);
        b[HEADER_LEN..].copy_from_slice(&second);
        b
    }

    async fn file_store(dir: &tempfile::TempDir) -> super::super::SqliteStore {
        super::super::SqliteStore::open_path(&dir.path().join("t.db"))
            .await
            .unwrap()
    }

    fn cache(store: &super::super::SqliteStore) -> &ContextCache {
        store
            .contexts
            .as_deref()
            .expect("a file store caches contexts")
    }

    fn lookup(store: &super::super::SqliteStore, key: &str) -> Lookup {
        cache(store).lookup("ns", key, to_micros(now()))
    }

    #[test]
    fn a_token_needs_equal_initialised_copies_with_a_valid_checksum() {
        let h = header(7, 3);
        assert!(Token::from_shm(&shm_bytes(h, h)).is_some());
        assert!(
            Token::from_shm(&shm_bytes(header(8, 4), h)).is_none(),
            "copies differ: being written"
        );
        let mut uninit = header(7, 3);
        uninit[IS_INIT] = 0;
        let sum = checksum(&uninit[..CHECKSUM]);
        uninit[CHECKSUM..].copy_from_slice(&sum);
        assert!(Token::from_shm(&shm_bytes(uninit, uninit)).is_none());
        let mut torn = h;
        torn[17] ^= 1;
        assert!(
            Token::from_shm(&shm_bytes(torn, torn)).is_none(),
            "checksum"
        );
        assert!(
            Token::from_shm(&shm_bytes(h, h))
                != Token::from_shm(&shm_bytes(header(8, 4), header(8, 4)))
        );
    }

    /// A cache over a stand-in `-shm` file the test writes itself.
    async fn over_file(file: &std::path::Path) -> ContextCache {
        let keeper = SqliteConnectOptions::from_str("sqlite::memory:")
            .unwrap()
            .connect()
            .await
            .unwrap();
        ContextCache {
            shm: Arc::new(File::open(file).unwrap()),
            entries: Mutex::default(),
            _keeper: Mutex::new(keeper),
        }
    }

    fn write_shm(path: &std::path::Path, bytes: &[u8]) {
        let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        f.write_all(bytes).unwrap();
    }

    #[tokio::test]
    async fn a_header_being_written_or_changed_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db-shm");
        std::fs::write(&path, shm_bytes(header(1, 1), header(1, 1))).unwrap();
        let cache = over_file(&path).await;
        let Lookup::Miss(Some(token)) = cache.lookup("ns", "k", 0) else {
            panic!("an empty cache misses, with a token");
        };
        cache.fill(token, "ns", "k", Some(&context("k", json!(1))));
        assert!(matches!(cache.lookup("ns", "k", 0), Lookup::Hit(Some(c)) if c.value == json!(1)));
        // A writer between the two copies: no token, so no hit and nothing to fill.
        write_shm(&path, &shm_bytes(header(1, 1), header(2, 5)));
        assert!(matches!(cache.lookup("ns", "k", 0), Lookup::Miss(None)));
        // The commit done: a new token, and the entry is stale.
        write_shm(&path, &shm_bytes(header(2, 5), header(2, 5)));
        assert!(matches!(cache.lookup("ns", "k", 0), Lookup::Miss(Some(t)) if t != token));
        // An unreadable file is no token either.
        std::fs::File::create(&path).unwrap();
        assert!(matches!(cache.lookup("ns", "k", 0), Lookup::Miss(None)));
    }

    #[tokio::test]
    async fn a_read_is_served_from_the_cache_until_a_commit_in_this_process() {
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(&dir).await;
        let v1 = store
            .put_context(&context("k", json!({"v": 1})), Precondition::None)
            .await
            .unwrap();
        assert!(matches!(lookup(&store, "k"), Lookup::Miss(Some(_))));
        assert_eq!(
            store
                .get_context(&Tenant::default(), "ns", "k")
                .await
                .unwrap(),
            Some(v1.clone())
        );
        assert!(
            matches!(lookup(&store, "k"), Lookup::Hit(Some(c)) if c == v1),
            "the read filled the cache"
        );
        assert_eq!(
            store
                .get_context(&Tenant::default(), "ns", "k")
                .await
                .unwrap(),
            Some(v1)
        );
        let v2 = store
            .put_context(&context("k", json!({"v": 2})), Precondition::None)
            .await
            .unwrap();
        assert!(
            matches!(lookup(&store, "k"), Lookup::Miss(Some(_))),
            "the write made it stale"
        );
        assert_eq!(
            store
                .get_context(&Tenant::default(), "ns", "k")
                .await
                .unwrap(),
            Some(v2.clone())
        );
        assert!(matches!(lookup(&store, "k"), Lookup::Hit(Some(c)) if c == v2));
        assert!(store
            .delete_context(&Tenant::default(), "ns", "k", Precondition::None)
            .await
            .unwrap());
        assert_eq!(
            store
                .get_context(&Tenant::default(), "ns", "k")
                .await
                .unwrap(),
            None
        );
        assert!(
            matches!(lookup(&store, "k"), Lookup::Hit(None)),
            "absent is cached too"
        );
    }

    #[tokio::test]
    async fn a_write_through_another_pool_on_the_file_is_seen_at_once() {
        let dir = tempfile::tempdir().unwrap();
        // Two stores on one file: two pools, standing in for two processes.
        let reader = file_store(&dir).await;
        let writer = file_store(&dir).await;
        assert_eq!(
            reader
                .get_context(&Tenant::default(), "ns", "k")
                .await
                .unwrap(),
            None
        );
        assert!(matches!(lookup(&reader, "k"), Lookup::Hit(None)));
        for v in 1..=20 {
            let stored = writer
                .put_context(&context("k", json!(v)), Precondition::None)
                .await
                .unwrap();
            assert_eq!(
                reader
                    .get_context(&Tenant::default(), "ns", "k")
                    .await
                    .unwrap(),
                Some(stored.clone())
            );
            assert!(matches!(lookup(&reader, "k"), Lookup::Hit(Some(c)) if c == stored));
        }
        // A write of anything else (a memory) also moves the token on.
        writer.set_meta("m", "1").await.unwrap();
        assert!(matches!(lookup(&reader, "k"), Lookup::Miss(Some(_))));
        writer
            .delete_context(&Tenant::default(), "ns", "k", Precondition::None)
            .await
            .unwrap();
        assert_eq!(
            reader
                .get_context(&Tenant::default(), "ns", "k")
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn expiry_is_checked_at_every_hit() {
        let dir = tempfile::tempdir().unwrap();
        let store = file_store(&dir).await;
        let expires = now() + chrono::Duration::seconds(60);
        let mut ctx = context("k", json!("soon gone"));
        ctx.expires_at = Some(expires);
        let stored = store.put_context(&ctx, Precondition::None).await.unwrap();
        assert_eq!(
            store
                .get_context(&Tenant::default(), "ns", "k")
                .await
                .unwrap(),
            Some(stored)
        );
        let at = |t: crate::model::Timestamp| cache(&store).lookup("ns", "k", to_micros(t));
        assert!(matches!(
            at(expires - chrono::Duration::microseconds(1)),
            Lookup::Hit(Some(_))
        ));
        assert!(matches!(at(expires), Lookup::Hit(None)), "expired: absent");
    }

    #[tokio::test]
    async fn in_memory_stores_have_no_cache() {
        let store = super::super::SqliteStore::in_memory().await.unwrap();
        assert!(store.contexts.is_none());
    }

    #[test]
    fn the_cache_stays_within_its_bounds() {
        let token = Token(header(1, 1));
        let mut entries = Entries::default();
        for i in 0..MAX_ENTRIES + 100 {
            let entry = Entry {
                token,
                context: None,
                bytes: 100,
            };
            entries.insert(&format!("ns{}", i % 7), &i.to_string(), entry);
        }
        assert_eq!(entries.len, MAX_ENTRIES);
        assert_eq!(entries.bytes, MAX_ENTRIES * 100);
        let count: usize = entries.by_namespace.values().map(HashMap::len).sum();
        assert_eq!(count, MAX_ENTRIES);
        for i in 0..40 {
            let entry = Entry {
                token,
                context: None,
                bytes: MAX_BYTES / 32,
            };
            entries.insert("big", &i.to_string(), entry);
        }
        assert!(entries.bytes <= MAX_BYTES);
        // Replacing an entry does not count it twice.
        let before = (entries.len, entries.bytes);
        let again = Entry {
            token,
            context: None,
            bytes: MAX_BYTES / 32,
        };
        entries.insert("big", "39", again);
        assert_eq!((entries.len, entries.bytes), before);
    }
}
