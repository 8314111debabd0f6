-- Full-text search over memory content. Omnex analyzes the content (omnex_core::text)
-- and stores its terms here, in the same transaction as the memory row; `doc` links a
-- memory to its row of the index. Memories written before this migration have no `doc`
-- yet: they are indexed when the store is next opened by Omnex.
ALTER TABLE memories ADD COLUMN doc INTEGER;
CREATE UNIQUE INDEX IF NOT EXISTS memories_doc ON memories (doc);
CREATE VIRTUAL TABLE IF NOT EXISTS memory_text USING fts5(
    terms,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 0'
);
