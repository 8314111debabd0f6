-- Full-text search over memory content. Omnex analyzes the content (omnex_core::text)
-- and writes its terms, with their positions, as a tsvector in the same statement as
-- the row; `terms_len` is the number of terms, for BM25's length normalization.
-- Rows written before this migration have NULL terms until Omnex next opens the store.
ALTER TABLE memories ADD COLUMN IF NOT EXISTS terms tsvector;
ALTER TABLE memories ADD COLUMN IF NOT EXISTS terms_len INTEGER;
CREATE INDEX IF NOT EXISTS memories_terms ON memories USING GIN (terms);
