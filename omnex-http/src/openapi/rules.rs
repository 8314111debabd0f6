//! The input rules the derives cannot state: rules that span several fields of a body
//! (added to its schema as an `anyOf`), a query parameter sent as JSON, and what a
//! served document says about its own server (the vector dimension, the search modes
//! its embedder and text index allow).

use omnex_core::{
    model::{JobKind, SearchMode},
    validate::{self, schema},
};
use utoipa::{
    openapi::{
        path::Operation,
        schema::{
            AllOfBuilder, AnyOfBuilder, ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type,
        },
        Components, OpenApi, Ref, RefOr,
    },
    Modify,
};

/// Registers the rule components of [`schema`] and adds the rules that span fields.
pub(super) struct InputRules;

impl Modify for InputRules {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.schemas.extend(schema::all());
        for body in ["PutContextBody", "NewMemoryBody", "MemoryUpdate"] {
            add_rule(components, body, one_expiry());
        }
        add_rule(components, "BatchBody", batch_sizes());
        add_rule(components, "StartJob", job_records());
        search_modes(doc, Search::default());
        if let Some(op) = doc
            .paths
            .paths
            .get_mut("/api/v1/memories")
            .and_then(|item| item.get.as_mut())
        {
            json_query_parameter(op, "filter", metadata_filter_or_null());
        }
    }
}

/// What a server's search accepts, which the search rules depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Search {
    /// The server has an embedder (a query text can be embedded).
    pub(super) embedder: bool,
    /// The store has a full-text index (a default search with a text is hybrid).
    pub(super) keyword: bool,
}

impl Default for Search {
    /// The default server: the local embedder and a store with full-text search.
    fn default() -> Self {
        Self {
            embedder: true,
            keyword: true,
        }
    }
}

/// States the search modes (and their score ranges) a server with `search` accepts.
pub(super) fn search_modes(doc: &mut OpenApi, search: Search) {
    let components = doc.components.get_or_insert_with(Default::default);
    add_rule(components, "SearchBody", search_rule(search));
}

/// States the index's dimension: the length of every vector.
pub(super) fn dimension(doc: &mut OpenApi, dimension: usize) {
    let embedding = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("Embedding"));
    if let Some(RefOr::T(Schema::Array(array))) = embedding {
        array.min_items = Some(dimension);
        array.max_items = Some(dimension);
    }
}

/// `name`'s schema, and also `rule` (replacing the rule added before, if any).
fn add_rule(components: &mut Components, name: &str, rule: Schema) {
    let Some(base) = components.schemas.remove(name) else {
        return;
    };
    let base = match base {
        RefOr::T(Schema::AllOf(mut all)) if !all.items.is_empty() => all.items.swap_remove(0),
        other => other,
    };
    let both = AllOfBuilder::new().item(base).item(rule).build();
    components
        .schemas
        .insert(name.to_owned(), RefOr::T(Schema::AllOf(both)));
}

/// A schema of only these keywords (no `type`).
fn keywords() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::AnyValue)
}

/// Absent, or null.
fn null() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Null)
}

/// Exactly this string.
fn constant(value: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([value]))
}

/// `expires_at` or `ttl_seconds`, not both (`validate::expiry`).
fn one_expiry() -> Schema {
    AnyOfBuilder::new()
        .item(keywords().property("expires_at", null()))
        .item(keywords().property("ttl_seconds", null()))
        .description(Some("`expires_at` or `ttl_seconds`, not both."))
        .build()
        .into()
}

/// At most 1000 memories, or 100,000 with `async` (`validate::batch_len`).
fn batch_sizes() -> Schema {
    let sized = |max: usize| {
        ArrayBuilder::new()
            .max_items(Some(max))
            .description(Some(format!("At most {max} memories.")))
    };
    AnyOfBuilder::new()
        .item(
            keywords()
                .property(
                    "async",
                    ObjectBuilder::new()
                        .schema_type(Type::Boolean)
                        .enum_values(Some([false])),
                )
                .property("memories", sized(validate::MAX_BATCH)),
        )
        .item(
            keywords()
                .required("async")
                .property(
                    "async",
                    ObjectBuilder::new()
                        .schema_type(Type::Boolean)
                        .enum_values(Some([true])),
                )
                .property("memories", sized(validate::MAX_ASYNC_BATCH)),
        )
        .description(Some(format!(
            "At most {} memories, or {} with `async`.",
            validate::MAX_BATCH,
            validate::MAX_ASYNC_BATCH
        )))
        .build()
        .into()
}

/// `records` for an import and only for it; the kinds `POST /jobs` starts.
fn job_records() -> Schema {
    let kinds = |kinds: &[JobKind]| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(kinds.iter().map(|k| k.as_str())))
    };
    AnyOfBuilder::new()
        .item(
            keywords()
                .required("records")
                .property("kind", kinds(&[JobKind::Import]))
                .property("records", Ref::from_schema_name("NonBlankText")),
        )
        .item(
            keywords()
                .property(
                    "kind",
                    kinds(&[JobKind::Export, JobKind::Reindex, JobKind::Cleanup]),
                )
                .property("records", null()),
        )
        .description(Some(
            "`import` with its `records`; or `export`, `reindex` or `cleanup`, without.",
        ))
        .build()
        .into()
}

/// The score range of a mode (`validate::min_score`), or null.
fn score_range(mode: SearchMode) -> ObjectBuilder {
    let (min, max) = match mode {
        SearchMode::Semantic => (-1.0, 1.0),
        SearchMode::Keyword => (0.0, f32::MAX),
        SearchMode::Hybrid => (0.0, 1.0),
    };
    schema::f32_range(min, max).schema_type(SchemaType::Array(vec![Type::Number, Type::Null]))
}

/// One accepted form of a search: its mode (`None`: left to the server), the fields it
/// needs and the ones it must not have, and the mode that runs (for the score range).
fn search_form(
    mode: Option<SearchMode>,
    needs: &[&str],
    lacks: &[&str],
    runs: SearchMode,
) -> ObjectBuilder {
    let mut form = match mode {
        Some(m) => keywords()
            .required("mode")
            .property("mode", constant(m.as_str())),
        None => keywords().property("mode", null()),
    };
    for field in needs {
        form = if *field == "vector" {
            form.property(*field, ArrayBuilder::new())
        } else {
            form.property(*field, ObjectBuilder::new().schema_type(Type::String))
        }
        .required(*field);
    }
    for field in lacks {
        form = form.property(*field, null());
    }
    form.property("min_score", score_range(runs))
}

/// The forms of a search the server's `plan` accepts: a `query` or a `vector`; the
/// `keyword` and `hybrid` modes need a query, `semantic` and `hybrid` something to
/// embed (a vector, or a query and an embedder); `min_score` in the range of the mode
/// that runs, which is the default one when `mode` is left out.
fn search_rule(search: Search) -> Schema {
    use SearchMode::{Hybrid, Keyword, Semantic};
    let with_query = |vector: bool| match (vector || search.embedder, search.keyword) {
        (true, true) => Hybrid,
        (true, false) => Semantic,
        (false, _) => Keyword,
    };
    let mut forms = vec![
        search_form(Some(Semantic), &["vector"], &[], Semantic),
        search_form(Some(Keyword), &["query"], &[], Keyword),
        search_form(Some(Hybrid), &["query", "vector"], &[], Hybrid),
        search_form(None, &["vector"], &["query"], Semantic),
        search_form(None, &["query", "vector"], &[], with_query(true)),
    ];
    if search.embedder {
        forms.push(search_form(Some(Semantic), &["query"], &[], Semantic));
        forms.push(search_form(Some(Hybrid), &["query"], &[], Hybrid));
        forms.push(search_form(None, &["query"], &[], with_query(false)));
    } else {
        forms.push(search_form(
            None,
            &["query"],
            &["vector"],
            with_query(false),
        ));
    }
    let mut any = AnyOfBuilder::new().description(Some(
        "A `query`, a `vector` or both; `keyword` and `hybrid` need a query, and `semantic` \
         and `hybrid` something to embed; `min_score` in the range of the mode that runs.",
    ));
    for form in forms {
        any = any.item(form);
    }
    any.build().into()
}

/// A metadata filter, or null (`validate::filter_json`).
fn metadata_filter_or_null() -> RefOr<Schema> {
    AnyOfBuilder::new()
        .item(Ref::from_schema_name("MetadataFilter"))
        .item(null())
        .into()
}

/// Makes query parameter `name` of `op` a JSON value of `schema` (`content`, where a
/// derive can only give a `schema`).
fn json_query_parameter(op: &mut Operation, name: &str, schema: RefOr<Schema>) {
    let Some(param) = op.parameters.iter_mut().flatten().find(|p| p.name == name) else {
        return;
    };
    param.schema = None;
    let content = serde_json::json!({ "application/json": { "schema": schema } });
    // utoipa's `Parameter` has no `content`; extensions serialize flattened.
    param
        .extensions
        .get_or_insert_with(Default::default)
        .insert("content".to_owned(), content);
}
