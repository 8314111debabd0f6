//! The input rules of [`crate::validate`] as JSON Schemas: the components the HTTP
//! API's OpenAPI document refers to, built from the same constants as the rules, so
//! the document cannot drift from what the server checks.
//!
//! Each type here only names a component (`#[schema(value_type = Namespace)]` on a
//! field); none is ever built. Where JSON Schema cannot say a rule exactly, the
//! component's description says it in words:
//!
//! - lengths: the rules count UTF-8 bytes, `minLength`/`maxLength` count characters
//!   (the same for ASCII, fewer for other text);
//! - sizes of serialized JSON (metadata, a context's value);
//! - a vector's dimension, which is the index's: the document a server serves states
//!   it (`minItems`/`maxItems` of [`Embedding`]), the committed one cannot;
//! - time: an `expires_at` must be in the future.

use std::borrow::Cow;

use utoipa::{
    openapi::{
        extensions::Extensions,
        schema::{
            AnyOfBuilder, ArrayBuilder, Object, ObjectBuilder, Schema, SchemaFormat, SchemaType,
            Type,
        },
        Ref, RefOr,
    },
    PartialSchema, ToSchema,
};

use super::{
    HALF_LIFE_SECS, MAX_BATCH, MAX_CONTENT_LEN, MAX_FILTER_KEY_LEN, MAX_KEY_LEN, MAX_NAMESPACE_LEN,
    MAX_PAGE, MAX_SCOPE_ID_LEN, MAX_SEARCH_LIMIT, MAX_TAG_LEN, MAX_TENANT_LEN, MAX_TTL_SECONDS,
    MAX_WEBHOOK_URL_LEN, NAMESPACE_SYMBOLS, TENANT_SYMBOLS, WEBHOOK_SECRET_LEN,
};
use crate::model::EventKind;

/// The characters `str::trim` removes (Unicode `White_Space`), as a class body.
const WHITESPACE: &str = r"\t-\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// The control characters (`char::is_control`, category Cc), as a class body.
const CONTROL: &str = r"\u0000-\u001F\u007F-\u009F";
/// Text without control characters.
const PRINTABLE: &str = r"^[^\u0000-\u001F\u007F-\u009F]+$";
/// Text without the NUL character.
const NO_NUL: &str = r"^[^\u0000]*$";

macro_rules! components {
    ($($(#[$doc:meta])* $name:ident => $schema:expr;)+) => {
        $(
            $(#[$doc])*
            #[derive(Debug)]
            pub struct $name;

            impl PartialSchema for $name {
                fn schema() -> RefOr<Schema> {
                    RefOr::T(Schema::from($schema))
                }
            }

            impl ToSchema for $name {
                fn name() -> Cow<'static, str> {
                    Cow::Borrowed(stringify!($name))
                }
            }
        )+

        /// Every component of this module, by name, for a document to register.
        pub fn all() -> Vec<(String, RefOr<Schema>)> {
            vec![$((stringify!($name).to_owned(), $name::schema())),+]
        }
    };
}

components! {
    /// A namespace ([`super::namespace`]).
    Namespace => text(1, MAX_NAMESPACE_LEN, &format!("^{}+$", namespace_class()))
        .description(Some(format!(
            "1 to {MAX_NAMESPACE_LEN} ASCII letters, digits and `{NAMESPACE_SYMBOLS}`."
        )))
        .build();
    /// A context key ([`super::key`]).
    ContextKey => text(1, MAX_KEY_LEN, PRINTABLE)
        .description(Some(format!(
            "1 to {MAX_KEY_LEN} bytes of text without control characters; may hold `/`."
        )))
        .build();
    /// A user, agent or session id ([`super::scope`]).
    ScopeId => text(1, MAX_SCOPE_ID_LEN, PRINTABLE)
        .description(Some(format!(
            "1 to {MAX_SCOPE_ID_LEN} bytes of text without control characters."
        )))
        .build();
    /// A tag of a context ([`super::tags`]).
    Tag => text(1, MAX_TAG_LEN, PRINTABLE)
        .description(Some(format!(
            "1 to {MAX_TAG_LEN} bytes of text without control characters."
        )))
        .build();
    /// The tags of a context ([`super::tags`]).
    Tags => ArrayBuilder::new()
        .items(Ref::from_schema_name("Tag"))
        .max_items(Some(super::MAX_TAGS))
        .description(Some(format!("At most {} tags.", super::MAX_TAGS)))
        .build();
    /// The text of a memory, or a query ([`super::content`]).
    Content => text(1, MAX_CONTENT_LEN, &format!("^[{WHITESPACE}]*[^\\u0000{WHITESPACE}][^\\u0000]*$"))
        .description(Some(format!(
            "Text that is not blank, at most {MAX_CONTENT_LEN} bytes, without NUL characters."
        )))
        .build();
    /// Text with something besides white space in it (the records of an import).
    NonBlankText => ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("[^{WHITESPACE}]")))
        .description(Some("Text that is not blank."))
        .build();
    /// Caller metadata ([`super::metadata`]).
    Metadata => ObjectBuilder::new()
        .property_names(Some(no_nul_text()))
        .additional_properties(Some(RefOr::<Schema>::Ref(Ref::from_schema_name("JsonValue"))))
        .description(Some(format!(
            "A JSON object of at most {} bytes serialized, without NUL characters in its \
             strings or keys.",
            super::MAX_METADATA_LEN
        )))
        .build();
    /// Any JSON value without NUL characters ([`super::value`]).
    JsonValue => AnyOfBuilder::new()
        .item(json_scalar())
        .item(no_nul_text())
        .item(ArrayBuilder::new().items(RefOr::<Schema>::Ref(Ref::from_schema_name("JsonValue"))))
        .item(
            ObjectBuilder::new()
                .property_names(Some(no_nul_text()))
                .additional_properties(Some(RefOr::<Schema>::Ref(Ref::from_schema_name("JsonValue")))),
        )
        .description(Some("Any JSON value without NUL characters in its strings or keys."))
        .build();
    /// A metadata filter ([`super::filter`]).
    MetadataFilter => ObjectBuilder::new()
        .property_names(Some(
            text(1, MAX_FILTER_KEY_LEN, &format!("^[^\"\\\\{CONTROL}]+$")).build(),
        ))
        .additional_properties(Some(RefOr::T(Schema::from(
            AnyOfBuilder::new().item(json_scalar()).item(no_nul_text()).build(),
        ))))
        .description(Some(format!(
            "Metadata equality: each key (1 to {MAX_FILTER_KEY_LEN} bytes without quotes, \
             backslashes or control characters) must be present with an equal scalar value \
             (a string without NUL, a number, a boolean or null)."
        )))
        .build();
    /// A vector of the index's dimension ([`super::vector`]).
    Embedding => {
        let mut contains = Extensions::default();
        // utoipa has no `contains`; extensions serialize flattened, so it goes there.
        let nonzero = f32_nonzero();
        contains.insert(
            "contains".to_owned(),
            serde_json::json!({"anyOf": [{"exclusiveMinimum": nonzero}, {"exclusiveMaximum": -nonzero}]}),
        );
        ArrayBuilder::new()
            .items(
                f32_range(f32::MIN, f32::MAX).build(),
            )
            .extensions(Some(contains))
            .description(Some(
                "Exactly as many numbers as the index's dimension (the document a server serves \
                 states it), each a finite 32-bit float, not all zero.",
            ))
            .build()
    };
    /// A minimum score of a search ([`super::min_score`]): its range depends on the mode.
    MinScore => f32_range(-1.0, f32::MAX)
        .description(Some(
            "-1 to 1 for `semantic` (cosine similarity), 0 to 1 for `hybrid` (the fused \
             score), 0 or more for `keyword` (BM25).",
        ))
        .build();
    /// The reciprocal-rank fusion constant ([`super::rrf_k`]).
    RrfK => f32_range(0.0, super::MAX_RRF_K)
        .description(Some(format!("0 to {} (default 10).", super::MAX_RRF_K)))
        .build();
    /// The weight of a search leg ([`super::leg_weight`]).
    LegWeight => f32_range(0.0, super::MAX_LEG_WEIGHT)
        .description(Some(format!("0 to {} (default 1).", super::MAX_LEG_WEIGHT)))
        .build();
    /// A time to live ([`super::expiry`]).
    TtlSeconds => ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(MAX_TTL_SECONDS))
        .description(Some(format!("1 to {MAX_TTL_SECONDS} seconds (100 years).")))
        .build();
    /// A version of a context, for a precondition (any unsigned 64-bit integer).
    Version => ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(0))
        .maximum(Some(u64::MAX))
        .description(Some("A version: 0 to 2^64 - 1."))
        .build();
    /// A page size ([`super::page_limit`], [`super::event_limit`]).
    PageLimit => ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(MAX_PAGE))
        .build();
    /// A number of search hits ([`super::search_limit`]).
    SearchLimit => ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(MAX_SEARCH_LIMIT))
        .build();
    /// A batch of memories ([`super::batch_len`]): how many it holds.
    BatchLen => ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(MAX_BATCH))
        .build();
    /// The name of an API key (may be empty).
    KeyName => ObjectBuilder::new()
        .schema_type(Type::String)
        .max_length(Some(super::MAX_KEY_NAME_LEN))
        .pattern(Some(format!("^[^{CONTROL}]*$")))
        .description(Some(format!(
            "At most {} bytes of text without control characters.",
            super::MAX_KEY_NAME_LEN
        )))
        .build();
    /// A tenant ([`crate::model::Tenant::new`]).
    Tenant => text(1, MAX_TENANT_LEN, &format!("^[A-Za-z0-9{}]+$", class_escape(TENANT_SYMBOLS)))
        .description(Some(format!(
            "1 to {MAX_TENANT_LEN} ASCII letters, digits and `{TENANT_SYMBOLS}`."
        )))
        .build();
    /// A tenant, or `*` for every tenant.
    TenantOrAll => AnyOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["*"])))
        .item(RefOr::<Schema>::Ref(Ref::from_schema_name("Tenant")))
        .description(Some("A tenant, or `*` for every tenant."))
        .build();
    /// A webhook's address ([`super::webhook_url`]).
    WebhookUrl => text(1, MAX_WEBHOOK_URL_LEN, "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]")
        .format(Some(SchemaFormat::Custom("uri".to_owned())))
        .description(Some(format!(
            "An absolute `http` or `https` URL with a host, at most {MAX_WEBHOOK_URL_LEN} bytes."
        )))
        .build();
    /// A webhook's signing secret ([`super::webhook_secret`]).
    WebhookSecret => text(*WEBHOOK_SECRET_LEN.start(), *WEBHOOK_SECRET_LEN.end(), "^[!-~]+$")
        .description(Some(format!(
            "{} to {} printable ASCII characters without spaces.",
            WEBHOOK_SECRET_LEN.start(),
            WEBHOOK_SECRET_LEN.end()
        )))
        .build();
    /// An event kind, or a set of them ([`EventKind::parse_set`]).
    EventKindName => ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(event_kind_names()))
        .description(Some("An event kind, `memory.*` (or `memory`), `context.*` (or `context`), or `*`."))
        .build();
    /// Event kinds or sets of them, comma-separated (a query parameter).
    EventKindList => ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(comma_list(&format!("(?:{})", event_kind_names().iter().map(|k| regex_escape(k)).collect::<Vec<_>>().join("|")))))
        .description(Some("Comma-separated event kinds: kinds such as `memory.add`, `memory.*`, `context.*` or `*`."))
        .build();
    /// Namespaces, comma-separated (a query parameter).
    NamespaceList => ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(comma_list(&format!("{}{{1,{MAX_NAMESPACE_LEN}}}", namespace_class()))))
        .description(Some("Comma-separated namespaces."))
        .build();
    /// The name of a metadata field ([`super::boost_field`]).
    FieldName => ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_FILTER_KEY_LEN))
        .description(Some(format!("A metadata key: 1 to {MAX_FILTER_KEY_LEN} bytes.")))
        .build();
    /// A recency half-life ([`super::half_life`]).
    HalfLife => ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(half_life_pattern()))
        .examples(["30d", "12h", "2w"])
        .description(Some(
            "A positive number and a unit (`s`, `m`, `h`, `d`, `w`, or their names), from 1 \
             second to 100 years; the pattern admits the common part of that range (at least \
             1 of the unit, and at most 999999999 s, 9999999 m, 99999 h, 9999 d or 999 w).",
        ))
        .build();
    /// The cursor of a context listing: the last `namespace/key` of the page before.
    ContextCursor => ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!(
            "^{}{{1,{MAX_NAMESPACE_LEN}}}/[^{CONTROL}]+$",
            namespace_class()
        )))
        .description(Some("The `next_cursor` of the page before: `namespace/key`."))
        .build();
}

/// A string of `min..=max` characters matching `pattern`.
fn text(min: usize, max: usize, pattern: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
}

/// A number that, read into an `f32`, is within `min..=max`.
pub fn f32_range(min: f32, max: f32) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Number)
        .minimum(Some(f32_min_bound(min)))
        .maximum(Some(f32_max_bound(max)))
}

/// A string without NUL.
fn no_nul_text() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(NO_NUL))
        .build()
}

/// null, a boolean, or a number JSON readers can hold (a finite 64-bit float).
fn json_scalar() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::Array(vec![
            Type::Null,
            Type::Boolean,
            Type::Number,
        ]))
        .minimum(Some(f64::MIN))
        .maximum(Some(f64::MAX))
        .build()
}

/// `[A-Za-z0-9…]`: the characters of a namespace.
fn namespace_class() -> String {
    format!("[A-Za-z0-9{}]", class_escape(NAMESPACE_SYMBOLS))
}

/// `chars` escaped for a character class (`-` taken literally).
fn class_escape(chars: &str) -> String {
    chars.replace('-', r"\-")
}

/// `text` escaped to match itself in a pattern.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if r"\^$.|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A comma-separated list of `item`s, each trimmed of white space, empty ones skipped.
fn comma_list(item: &str) -> String {
    let part = format!("[{WHITESPACE}]*(?:{item})?[{WHITESPACE}]*");
    format!("^{part}(?:,{part})*$")
}

/// Every name [`EventKind::parse_set`] reads.
fn event_kind_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
    names.extend(["memory.*", "memory", "context.*", "context", "*"]);
    names
}

/// The half-lives of at least 1 of their unit and within 100 years, as a pattern.
fn half_life_pattern() -> String {
    // (unit names, most digits before the point so that the value stays below the
    // longest half-life)
    let units: [(&[&str], f64); 5] = [
        (&["s", "sec", "secs", "second", "seconds"], 1.0),
        (&["m", "min", "mins", "minute", "minutes"], 60.0),
        (&["h", "hour", "hours"], 3600.0),
        (&["d", "day", "days"], 86_400.0),
        (&["w", "week", "weeks"], 604_800.0),
    ];
    let ws = format!("[{WHITESPACE}]*");
    let alternatives: Vec<String> = units
        .iter()
        .map(|(names, secs)| {
            // The largest number of integer digits whose every value (fraction included)
            // stays within the longest half-life.
            let digits = (1..=12)
                .take_while(|d| 10f64.powi(*d) * secs <= *HALF_LIFE_SECS.end())
                .last()
                .unwrap_or(1);
            let mut names = names.to_vec();
            names.sort_by_key(|n| std::cmp::Reverse(n.len()));
            format!(
                r"[1-9][0-9]{{0,{}}}(?:\.[0-9]*)?{ws}(?:{})",
                digits - 1,
                names.join("|")
            )
        })
        .collect();
    format!(r"^{ws}\+?0*(?:{}){ws}$", alternatives.join("|"))
}

/// The largest `f64` that, read into an `f32` (rounding to nearest, ties to even), is
/// `max` or less: a JSON number just above an `f32` bound may round onto it.
pub fn f32_max_bound(max: f32) -> f64 {
    let up = if max == f32::MAX {
        2f64.powi(128)
    } else {
        f64::from(max.next_up())
    };
    // Exact: both are `f32`s.
    let mid = (f64::from(max) + up) / 2.0;
    if max.to_bits().is_multiple_of(2) {
        mid
    } else {
        mid.next_down()
    }
}

/// The smallest `f64` that, read into an `f32`, is `min` or more (`-0.0` counts as 0).
pub fn f32_min_bound(min: f32) -> f64 {
    -f32_max_bound(-min)
}

/// The smallest magnitude that is not zero once read into an `f32`.
fn f32_nonzero() -> f64 {
    f32_max_bound(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_bounds_are_where_rounding_turns() {
        for bound in [0.0f32, 1.0, 10_000.0, 1000.0, f32::MAX] {
            let hi = f32_max_bound(bound);
            assert!(hi as f32 <= bound, "{bound}: {hi} reads as {}", hi as f32);
            assert!(hi.next_up() as f32 > bound, "{bound}: {hi} is not the last");
            let lo = f32_min_bound(-bound);
            assert!(lo as f32 >= -bound, "{bound}: {lo}");
            assert!(
                (lo.next_down() as f32) < -bound,
                "{bound}: {lo} is not the last"
            );
        }
        assert!(f32_nonzero() as f32 == 0.0 && f32_nonzero().next_up() as f32 != 0.0);
    }

    #[test]
    fn every_component_has_a_schema() {
        let names: Vec<String> = all().into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"Namespace".to_owned()));
        assert!(names.contains(&"JsonValue".to_owned()));
    }

    #[test]
    fn half_life_digits_stay_in_range() {
        let pattern = half_life_pattern();
        assert!(
            pattern.contains(r"[1-9][0-9]{0,8}(?:\.[0-9]*)?"),
            "{pattern}"
        );
        assert!(
            pattern.contains(r"[1-9][0-9]{0,2}(?:\.[0-9]*)?"),
            "{pattern}"
        );
    }
}
