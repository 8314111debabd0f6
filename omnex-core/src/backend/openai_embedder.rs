//! Embeddings from any OpenAI-compatible server (`POST {base_url}/v1/embeddings`):
//! OpenAI, Ollama, vLLM, LM Studio, text-embeddings-inference and others.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{config::Config, embed::Embedder, Error, Result};

const BACKEND: &str = "openai-compatible embedder";

/// How to reach an OpenAI-compatible embedding server.
#[derive(Clone)]
pub struct OpenAiConfig {
    /// Server root, e.g. `https://api.openai.com` (a trailing `/v1` is accepted).
    pub base_url: String,
    /// Model name sent with every request.
    pub model: String,
    /// Bearer token, if the server wants one.
    pub api_key: Option<String>,
    /// Expected dimension; learned from the first answer when `None`.
    pub dimension: Option<usize>,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Retries on 429, 5xx and connection errors.
    pub max_retries: u32,
    /// Inputs per request.
    pub batch_size: usize,
}

impl std::fmt::Debug for OpenAiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("dimension", &self.dimension)
            .finish_non_exhaustive()
    }
}

impl OpenAiConfig {
    /// A config for `base_url` and `model` with default timeouts and retries.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        let mut base_url: String = base_url.into();
        while base_url.ends_with('/') {
            base_url.pop();
        }
        if let Some(stripped) = base_url.strip_suffix("/v1") {
            base_url = stripped.to_owned();
        }
        Self {
            base_url,
            model: model.into(),
            api_key: None,
            dimension: None,
            timeout: Duration::from_secs(30),
            max_retries: 4,
            batch_size: 128,
        }
    }

    /// OpenAI itself: `embedder_model` (default `text-embedding-3-small`), key from
    /// `embedder_api_key` or `OPENAI_API_KEY`.
    pub fn openai(config: &Config) -> Self {
        let mut c = Self::new(
            "https://api.openai.com",
            config
                .embedder_model
                .clone()
                .unwrap_or_else(|| "text-embedding-3-small".into()),
        );
        c.api_key = config
            .embedder_api_key
            .clone()
            .or_else(|| std::env::var("OPENAI_API_KEY").ok());
        c.dimension = config.embedder_dimension;
        c
    }

    /// From a URL such as `http://127.0.0.1:11434/v1?model=nomic-embed-text&dimension=768`.
    pub fn from_url(url: &str, config: &Config) -> Result<Self> {
        let parsed = url::Url::parse(url)
            .map_err(|e| Error::invalid_input("embedder", format!("{url:?} is not a URL: {e}")))?;
        let mut model = config.embedder_model.clone();
        let mut dimension = config.embedder_dimension;
        for (k, v) in parsed.query_pairs() {
            match k.as_ref() {
                "model" => model = Some(v.into_owned()),
                "dimension" => {
                    dimension = Some(v.parse().map_err(|_| {
                        Error::invalid_input("embedder", format!("dimension {v:?} is not a number"))
                    })?)
                }
                _ => {}
            }
        }
        let model = model.ok_or_else(|| {
            Error::invalid_input(
                "embedder",
                "name the model: add ?model=NAME to the URL or set OMNEX_EMBEDDER_MODEL",
            )
        })?;
        let mut base = parsed;
        base.set_query(None);
        let mut c = Self::new(base.as_str(), model);
        c.api_key = config
            .embedder_api_key
            .clone()
            .or_else(|| std::env::var("OPENAI_API_KEY").ok());
        c.dimension = dimension;
        Ok(c)
    }
}

/// The OpenAI-compatible embedder.
#[derive(Debug, Clone)]
pub struct OpenAiEmbedder {
    client: reqwest::Client,
    config: OpenAiConfig,
    dimension: usize,
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'a str,
    input: &'a [String],
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Datum>,
}

#[derive(Deserialize)]
struct Datum {
    embedding: Vec<f32>,
    #[serde(default)]
    index: Option<usize>,
}

impl OpenAiEmbedder {
    /// Connects and learns (or checks) the model's dimension with one request.
    pub async fn connect(config: OpenAiConfig) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| Error::internal(BACKEND, e))?;
        let mut this = Self {
            client,
            dimension: 0, // learned from the probe below, then checked against the config
            config,
        };
        let probe = this.request(&["dimension probe".to_owned()]).await?;
        let learned = probe.first().map(Vec::len).unwrap_or(0);
        if learned == 0 {
            return Err(Error::unavailable(
                BACKEND,
                "the server returned an empty embedding",
            ));
        }
        match this.config.dimension {
            Some(d) if d != learned => {
                return Err(Error::invalid_input(
                    "embedder_dimension",
                    format!(
                        "configured as {d} but model {:?} returns {learned}-dimensional vectors",
                        this.config.model
                    ),
                ))
            }
            _ => this.dimension = learned,
        }
        Ok(this)
    }

    async fn request(&self, input: &[String]) -> Result<Vec<Vec<f32>>> {
        let url = format!("{}/v1/embeddings", self.config.base_url);
        let body = Request {
            model: &self.config.model,
            input,
        };
        let mut attempt = 0;
        loop {
            let mut req = self.client.post(&url).json(&body);
            if let Some(key) = &self.config.api_key {
                req = req.bearer_auth(key);
            }
            let retry_in = match req.send().await {
                Ok(resp) if resp.status().is_success() => {
                    let parsed: Response = resp.json().await.map_err(|e| {
                        Error::unavailable(BACKEND, format!("unreadable answer from {url}: {e}"))
                    })?;
                    return self.collect(parsed, input.len());
                }
                Ok(resp) => {
                    let status = resp.status();
                    let after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = resp.text().await.unwrap_or_default();
                    let text: String = text.chars().take(500).collect();
                    if status.as_u16() == 429 || status.is_server_error() {
                        if attempt >= self.config.max_retries {
                            return Err(Error::unavailable(
                                BACKEND,
                                format!("{url} answered {status} after {attempt} retries: {text}"),
                            ));
                        }
                        after
                    } else if matches!(status.as_u16(), 400 | 413 | 422) {
                        return Err(Error::invalid_input(
                            "content",
                            format!("the embedding server rejected the input ({status}): {text}"),
                        ));
                    } else {
                        return Err(Error::unavailable(
                            BACKEND,
                            format!("{url} answered {status}: {text}"),
                        ));
                    }
                }
                Err(e) => {
                    if attempt >= self.config.max_retries {
                        return Err(Error::unavailable(
                            BACKEND,
                            format!("{url} unreachable after {attempt} retries: {e}"),
                        ));
                    }
                    None
                }
            };
            let backoff =
                Duration::from_millis(200 * 2u64.pow(attempt)).min(Duration::from_secs(10));
            tokio::time::sleep(retry_in.unwrap_or(backoff).min(Duration::from_secs(30))).await;
            attempt += 1;
        }
    }

    fn collect(&self, resp: Response, expected: usize) -> Result<Vec<Vec<f32>>> {
        if resp.data.len() != expected {
            return Err(Error::unavailable(
                BACKEND,
                format!("asked for {expected} embeddings, got {}", resp.data.len()),
            ));
        }
        let mut out = vec![Vec::new(); expected];
        for (pos, d) in resp.data.into_iter().enumerate() {
            let i = d.index.unwrap_or(pos);
            if i >= expected {
                return Err(Error::unavailable(
                    BACKEND,
                    format!("answer index {i} out of range"),
                ));
            }
            if self.dimension != 0 && d.embedding.len() != self.dimension {
                return Err(Error::unavailable(
                    BACKEND,
                    format!(
                        "model returned a {}-dimensional vector; this index holds {}",
                        d.embedding.len(),
                        self.dimension
                    ),
                ));
            }
            out[i] = crate::vector::normalized(&d.embedding);
        }
        Ok(out)
    }
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model_id(&self) -> &str {
        &self.config.model
    }

    fn dimension(&self) -> usize {
        self.dimension
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.config.batch_size.max(1)) {
            // Most servers reject empty strings; a space embeds the same "nothing".
            let chunk: Vec<String> = chunk
                .iter()
                .map(|t| {
                    if t.is_empty() {
                        " ".to_owned()
                    } else {
                        t.clone()
                    }
                })
                .collect();
            out.extend(self.request(&chunk).await?);
        }
        Ok(out)
    }
}
