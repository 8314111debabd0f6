-- Per-term document counts of the full-text index (computed by FTS5 on demand).
-- Keyword search reads them to leave out terms that occur in most memories: their
-- BM25 weight is nil, and scoring every memory that holds them is what costs.
CREATE VIRTUAL TABLE IF NOT EXISTS memory_text_vocab USING fts5vocab(memory_text, 'row');
