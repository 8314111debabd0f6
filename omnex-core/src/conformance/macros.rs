//! The macros that stamp one `#[tokio::test]` per contract.

/// Runs the [`OmnexApi`](crate::OmnexApi) suite against the engine an async factory
/// makes (the embedded `Omnex`, or a client of a server). The factory returns
/// `Option<(Arc<dyn OmnexApi>, guard)>`; the guard (a temporary directory, a server)
/// lives until the test ends.
#[macro_export]
macro_rules! api_conformance {
    ($make:expr) => {
        $crate::__api_conformance!($make;
            contexts_roundtrip, context_if_version_races, memories_roundtrip,
            search_by_meaning_within_scope, listing_with_filters_and_pages,
            invalid_input_names_the_field, keyword_and_hybrid_find_rare_terms,
            hybrid_filters_hold_in_both_legs, odd_queries_answer_clearly,
            ranking_signals_reorder, events_and_history, follow_yields_new_events);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __api_conformance {
    ($make:expr; $($t:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        // A skipped suite says so on the test output.
        #[allow(clippy::disallowed_macros)]
        async fn $t() {
            let Some((engine, _guard)) = $make.await else {
                eprintln!("SKIPPED api::{}: engine not configured here", stringify!($t));
                return;
            };
            $crate::conformance::api::$t(&*engine).await;
        }
    )+};
}

/// Runs the [`Store`](crate::store::Store) suite against the store an async factory makes.
#[macro_export]
macro_rules! store_conformance {
    ($make:expr) => {
        $crate::__conformance!(store, $make;
            context_roundtrip, context_restore_keeps_everything, context_replace_bumps_version, context_version_conflict,
            context_delete, context_list_pages_no_gaps, context_list_filters, context_expired_invisible,
            memory_batch_roundtrip, memory_upsert_replaces, memory_delete_counts,
            memory_filter_by_scope, memory_filter_by_metadata, memory_list_pages_no_gaps,
            memory_expired_invisible, change_log_records_writes, change_log_prune_resets,
            scan_index_entries_pages, meta_roundtrip, invalid_cursor_is_invalid_input,
            text_rare_term_first, text_filter_is_prefilter, text_never_stale,
            text_unicode_and_bm25_order, tenants_keep_contexts_apart, tenants_keep_memories_apart,
            api_keys_roundtrip, audit_log_pages, memory_ids_never_move_between_tenants,
            events_record_every_write,
            events_expire_and_prune, jobs_claim_lease_and_finish, jobs_claim_in_batches_by_kind,
            webhooks_dispatch_each_event_once);
    };
}

/// Runs the [`VectorIndex`](crate::index::VectorIndex) suite; the factory takes the dimension.
#[macro_export]
macro_rules! index_conformance {
    ($make:expr) => {
        $crate::__conformance!(index, ($make)(16);
            nearest_first, update_never_stale, delete_removes, filter_is_prefilter,
            filter_by_namespace_and_metadata, filter_by_tenant, expired_excluded, min_score_applied,
            dimension_mismatch_is_invalid_input, clear_and_len);
        $crate::__conformance!(index, ($make)(64); matches_exact);
    };
}

/// Runs the keyword-search contracts of [`VectorIndex`](crate::index::VectorIndex),
/// for an index with the `keyword` capability; the factory takes the dimension.
#[macro_export]
macro_rules! index_text_conformance {
    ($make:expr) => {
        $crate::__conformance!(index, ($make)(16);
            text_rare_term_first_within_filter, text_never_stale);
    };
}

/// Runs the [`Embedder`](crate::embed::Embedder) suite.
#[macro_export]
macro_rules! embed_conformance {
    ($make:expr) => {
        $crate::__conformance!(embed, $make;
            unit_vectors_of_the_dimension, batch_matches_single, empty_inputs, meaning_orders_similarity);
    };
}

/// Runs the [`Cache`](crate::cache::Cache) suite.
#[macro_export]
macro_rules! cache_conformance {
    ($make:expr) => {
        $crate::__conformance!(cache, $make; set_get_delete, ttl_expires, overwrite);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance {
    ($suite:ident, $make:expr; $($t:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        // A skipped suite says so on the test output.
        #[allow(clippy::disallowed_macros)]
        async fn $t() {
            let Some(backend) = $make.await else {
                eprintln!("SKIPPED {}::{}: backend not configured here", stringify!($suite), stringify!($t));
                return;
            };
            $crate::conformance::$suite::$t(&backend).await;
        }
    )+};
}
