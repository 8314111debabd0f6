//! Text analysis for full-text search: how memory content and a query become terms.
//!
//! Every backend indexes the terms Omnex computes here (SQLite FTS5, PostgreSQL
//! `tsvector`), so a query matches the same way on each of them.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// At most this many distinct terms of a query are searched (the first ones).
pub const MAX_QUERY_TERMS: usize = 64;
/// Longer tokens (hashes, base64, run-on garbage) are not indexed.
const MAX_TERM_CHARS: usize = 64;

/// How text is split into searchable terms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Analyzer {
    /// Lower-cased words, English stop words removed, Snowball (Porter 2) stemming:
    /// "running" and "runs" both match "run".
    #[default]
    English,
    /// Lower-cased words, nothing removed or stemmed: for any language.
    Simple,
}

impl Analyzer {
    /// Every analyzer, for help texts.
    pub const ALL: [Analyzer; 2] = [Analyzer::English, Analyzer::Simple];

    /// The name used in configuration (`english`, `simple`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::English => "english",
            Self::Simple => "simple",
        }
    }

    /// The terms of `text`, in order, repeats kept (documents: term frequency counts).
    pub fn terms(self, text: &str) -> Vec<String> {
        let stemmer = match self {
            Self::English => Some(rust_stemmers::Stemmer::create(
                rust_stemmers::Algorithm::English,
            )),
            Self::Simple => None,
        };
        words(text)
            .filter_map(|w| {
                let w = w.to_lowercase();
                match &stemmer {
                    Some(_) if is_english_stop_word(&w) => None,
                    Some(s) => Some(s.stem(&w).into_owned()),
                    None => Some(w),
                }
            })
            .collect()
    }

    /// The distinct terms of a query, in order of first appearance, at most
    /// [`MAX_QUERY_TERMS`]. Empty when the query holds only stop words or punctuation.
    pub fn query_terms(self, query: &str) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        self.terms(query)
            .into_iter()
            .filter(|t| seen.insert(t.clone()))
            .take(MAX_QUERY_TERMS)
            .collect()
    }

    /// The terms of `text` joined by spaces: what a backend's full-text index stores.
    pub fn document(self, text: &str) -> String {
        self.terms(text).join(" ")
    }
}

impl fmt::Display for Analyzer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Analyzer {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                Error::invalid_input(
                    "analyzer",
                    format!("unknown analyzer {s:?}: use `english` or `simple`"),
                )
            })
    }
}

/// The words of `text`: maximal runs of letters and digits (any script), shorter than
/// [`MAX_TERM_CHARS`]. Apostrophes inside a word are dropped ("don't" is "dont").
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    let mut chars = text.chars().peekable();
    std::iter::from_fn(move || loop {
        // Skip separators.
        while chars.peek().is_some_and(|c| !c.is_alphanumeric()) {
            chars.next();
        }
        chars.peek()?;
        let mut word = String::new();
        let mut len = 0;
        while let Some(&c) = chars.peek() {
            if c.is_alphanumeric() {
                word.push(c);
                len += 1;
                chars.next();
            } else if matches!(c, '\'' | '’') && !word.is_empty() {
                chars.next();
                if !chars.peek().is_some_and(|c| c.is_alphanumeric()) {
                    break;
                }
            } else {
                break;
            }
        }
        if len <= MAX_TERM_CHARS {
            return Some(word);
        }
    })
}

/// The Snowball English stop words (the list PostgreSQL's `english` configuration uses),
/// with apostrophes removed as [`words`] removes them.
fn is_english_stop_word(w: &str) -> bool {
    ENGLISH_STOP_WORDS.binary_search(&w).is_ok()
}

const ENGLISH_STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "am",
    "an",
    "and",
    "any",
    "are",
    "arent",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "cannot",
    "cant",
    "could",
    "couldnt",
    "did",
    "didnt",
    "do",
    "does",
    "doesnt",
    "doing",
    "dont",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "hadnt",
    "has",
    "hasnt",
    "have",
    "havent",
    "having",
    "he",
    "hed",
    "hell",
    "her",
    "here",
    "heres",
    "hers",
    "herself",
    "hes",
    "him",
    "himself",
    "his",
    "how",
    "hows",
    "i",
    "id",
    "if",
    "ill",
    "im",
    "in",
    "into",
    "is",
    "isnt",
    "it",
    "its",
    "itself",
    "ive",
    "lets",
    "me",
    "more",
    "most",
    "mustnt",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "ought",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "shant",
    "she",
    "shed",
    "shell",
    "shes",
    "should",
    "shouldnt",
    "so",
    "some",
    "such",
    "than",
    "that",
    "thats",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "theres",
    "these",
    "they",
    "theyd",
    "theyll",
    "theyre",
    "theyve",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "very",
    "was",
    "wasnt",
    "we",
    "wed",
    "well",
    "were",
    "werent",
    "weve",
    "what",
    "whats",
    "when",
    "whens",
    "where",
    "wheres",
    "which",
    "while",
    "who",
    "whom",
    "whos",
    "why",
    "whys",
    "with",
    "wont",
    "would",
    "wouldnt",
    "you",
    "youd",
    "youll",
    "your",
    "youre",
    "yours",
    "yourself",
    "yourselves",
    "youve",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        let mut sorted = ENGLISH_STOP_WORDS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, ENGLISH_STOP_WORDS);
    }

    #[test]
    fn english_stems_and_drops_stop_words() {
        assert_eq!(
            Analyzer::English.terms("The runners were RUNNING to Zürich's café!"),
            ["runner", "run", "zürich", "café"]
        );
        assert_eq!(
            Analyzer::English.terms("What did you do?"),
            Vec::<String>::new()
        );
        assert_eq!(Analyzer::English.terms("I don't know"), ["know"]);
    }

    #[test]
    fn simple_keeps_every_word() {
        assert_eq!(
            Analyzer::Simple.terms("The runners, RUNNING 42x"),
            ["the", "runners", "running", "42x"]
        );
        assert_eq!(Analyzer::Simple.terms("東京 タワー"), ["東京", "タワー"]);
    }

    #[test]
    fn punctuation_and_overlong_tokens_give_no_terms() {
        assert!(Analyzer::Simple.terms("?!… -- ''").is_empty());
        assert!(Analyzer::Simple.terms(&"x".repeat(65)).is_empty());
        assert_eq!(Analyzer::Simple.terms(&"y".repeat(64)).len(), 1);
    }

    #[test]
    fn query_terms_are_distinct_and_bounded() {
        assert_eq!(Analyzer::Simple.query_terms("a b a c b"), ["a", "b", "c"]);
        let long: String = (0..500).map(|i| format!("w{i} ")).collect();
        assert_eq!(Analyzer::Simple.query_terms(&long).len(), MAX_QUERY_TERMS);
    }

    #[test]
    fn parses_names() {
        assert_eq!("English".parse::<Analyzer>().unwrap(), Analyzer::English);
        assert_eq!(
            "klingon".parse::<Analyzer>().unwrap_err().field(),
            Some("analyzer")
        );
    }
}
