//! BERT sentence encoders on the CPU, in Rust: loads a Hugging Face BERT (such as
//! sentence-transformers/all-MiniLM-L6-v2) from `config.json` and
//! `model.safetensors`, and turns token ids into mean-pooled, L2-normalised
//! sentence vectors in f32.
//!
//! Sequences of one call are laid end to end with no padding; every dense layer is
//! one matrix multiply over all their tokens against weights packed once at load,
//! and attention runs per sequence and head. Work is spread over rayon's threads.

mod kernels;
mod math;
mod safetensors;

use kernels::NR;
use rayon::prelude::*;
use serde::Deserialize;

/// The model could not be loaded: what was wrong with its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError(String);

impl LoadError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

/// The parts of a Hugging Face `config.json` the encoder needs.
#[derive(Clone, Debug, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    #[serde(default = "eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "gelu")]
    pub hidden_act: String,
}

fn two() -> usize {
    2
}
fn eps() -> f64 {
    1e-12
}
fn gelu() -> String {
    "gelu".into()
}

/// A dense layer `y = x·Wᵀ + b`, with `W` packed into panels of `NR` output
/// columns, each `[inputs][NR]`, zero-padded.
struct Dense {
    inputs: usize,
    outputs: usize,
    panels: Vec<f32>,
    bias: Vec<f32>,
}

impl Dense {
    /// From PyTorch's layout: `weight` is `[outputs][inputs]`.
    fn new(weight: &[f32], bias: &[f32], inputs: usize, outputs: usize) -> Self {
        let count = outputs.div_ceil(NR);
        let mut panels = vec![0.0; count * inputs * NR];
        for o in 0..outputs {
            let (p, j) = (o / NR, o % NR);
            let row = &weight[o * inputs..(o + 1) * inputs];
            for (i, &w) in row.iter().enumerate() {
                panels[(p * inputs + i) * NR + j] = w;
            }
        }
        let mut padded = bias.to_vec();
        padded.resize(count * NR, 0.0);
        Self {
            inputs,
            outputs,
            panels,
            bias: padded,
        }
    }

    fn load(
        t: &safetensors::Tensors,
        name: &str,
        inputs: usize,
        outputs: usize,
    ) -> Result<Self, LoadError> {
        let w = t.get(&format!("{name}.weight"), &[outputs, inputs])?;
        let b = t.get(&format!("{name}.bias"), &[outputs])?;
        Ok(Self::new(&w, &b, inputs, outputs))
    }

    /// Q, K and V as one layer of three times the outputs.
    fn fused(parts: [(Vec<f32>, Vec<f32>); 3], inputs: usize, outputs: usize) -> Self {
        let mut w = Vec::with_capacity(3 * inputs * outputs);
        let mut b = Vec::with_capacity(3 * outputs);
        for (pw, pb) in parts {
            w.extend(pw);
            b.extend(pb);
        }
        Self::new(&w, &b, inputs, 3 * outputs)
    }

    /// `out = x·Wᵀ + b` for the rows of `x`, spread over rayon's threads.
    fn forward(&self, x: &[f32], out: &mut [f32]) {
        let (k, n) = (self.inputs, self.outputs);
        let m = x.len() / k;
        debug_assert_eq!(out.len(), m * n);
        let mr = kernels::max_rows();
        let threads = rayon::current_num_threads().max(1);
        if m >= 2 * mr * threads {
            // Rows split between threads: in chunks of 4 blocks, or fewer so that
            // every thread gets a share.
            let rows = (4 * mr).min(m.div_ceil(threads).div_ceil(mr) * mr);
            out.par_chunks_mut(rows * n)
                .zip(x.par_chunks(rows * k))
                .for_each_init(Vec::new, |scratch, (out, x)| {
                    let m = x.len() / k;
                    kernels::matmul(
                        x,
                        k,
                        m,
                        k,
                        &self.panels,
                        n,
                        Some(&self.bias),
                        out,
                        n,
                        scratch,
                    );
                });
            return;
        }
        // Few rows: the columns split between threads, each writing its own block,
        // then the blocks copied into place.
        let count = n.div_ceil(NR);
        let per = count.div_ceil(threads);
        let starts: Vec<usize> = (0..count).step_by(per).collect();
        let blocks: Vec<(usize, usize, Vec<f32>)> = starts
            .into_par_iter()
            .map(|p0| {
                let p1 = (p0 + per).min(count);
                let cols = (p1 * NR).min(n) - p0 * NR;
                let mut block = vec![0.0; m * cols];
                let panels = &self.panels[p0 * k * NR..p1 * k * NR];
                let bias = &self.bias[p0 * NR..p1 * NR];
                kernels::matmul(
                    x,
                    k,
                    m,
                    k,
                    panels,
                    cols,
                    Some(bias),
                    &mut block,
                    cols,
                    &mut Vec::new(),
                );
                (p0 * NR, cols, block)
            })
            .collect();
        for (c0, cols, block) in blocks {
            for (r, row) in block.chunks_exact(cols).enumerate() {
                out[r * n + c0..r * n + c0 + cols].copy_from_slice(row);
            }
        }
    }
}

struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl Norm {
    fn load(t: &safetensors::Tensors, name: &str, size: usize) -> Result<Self, LoadError> {
        Ok(Self {
            gamma: t.get_any(
                &[&format!("{name}.weight"), &format!("{name}.gamma")],
                &[size],
            )?,
            beta: t.get_any(&[&format!("{name}.bias"), &format!("{name}.beta")], &[size])?,
        })
    }
}

struct Layer {
    qkv: Dense,
    attention_out: Dense,
    attention_norm: Norm,
    intermediate: Dense,
    output: Dense,
    output_norm: Norm,
}

/// A BERT encoder with sentence pooling.
pub struct Bert {
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    config: BertConfig,
    eps: f32,
}

impl Bert {
    /// Loads the weights from the bytes of a `model.safetensors` file (f32 tensors,
    /// Hugging Face names, with or without a `bert.` prefix).
    pub fn load(config: BertConfig, safetensors: Vec<u8>) -> Result<Self, LoadError> {
        if config.hidden_act != "gelu" {
            return Err(LoadError::new(format!(
                "unsupported hidden_act {:?} (only gelu)",
                config.hidden_act
            )));
        }
        let (h, heads) = (config.hidden_size, config.num_attention_heads);
        if heads == 0 || h % heads != 0 || h == 0 {
            return Err(LoadError::new(format!(
                "hidden_size {h} is not a multiple of num_attention_heads {heads}"
            )));
        }
        let t = safetensors::Tensors::parse(safetensors)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let l = format!("encoder.layer.{i}");
            let part = |name: &str| -> Result<(Vec<f32>, Vec<f32>), LoadError> {
                let n = format!("{l}.attention.self.{name}");
                Ok((
                    t.get(&format!("{n}.weight"), &[h, h])?,
                    t.get(&format!("{n}.bias"), &[h])?,
                ))
            };
            layers.push(Layer {
                qkv: Dense::fused([part("query")?, part("key")?, part("value")?], h, h),
                attention_out: Dense::load(&t, &format!("{l}.attention.output.dense"), h, h)?,
                attention_norm: Norm::load(&t, &format!("{l}.attention.output.LayerNorm"), h)?,
                intermediate: Dense::load(
                    &t,
                    &format!("{l}.intermediate.dense"),
                    h,
                    config.intermediate_size,
                )?,
                output: Dense::load(
                    &t,
                    &format!("{l}.output.dense"),
                    config.intermediate_size,
                    h,
                )?,
                output_norm: Norm::load(&t, &format!("{l}.output.LayerNorm"), h)?,
            });
        }
        Ok(Self {
            word: t.get("embeddings.word_embeddings.weight", &[config.vocab_size, h])?,
            position: t.get(
                "embeddings.position_embeddings.weight",
                &[config.max_position_embeddings, h],
            )?,
            token_type: t.get(
                "embeddings.token_type_embeddings.weight",
                &[config.type_vocab_size, h],
            )?,
            embedding_norm: Norm::load(&t, "embeddings.LayerNorm", h)?,
            layers,
            eps: config.layer_norm_eps as f32,
            config,
        })
    }

    /// The width of the sentence vectors.
    pub fn dimension(&self) -> usize {
        self.config.hidden_size
    }

    /// The longest sequence the position table allows.
    pub fn max_tokens(&self) -> usize {
        self.config.max_position_embeddings
    }

    /// One unit-length sentence vector per sequence of token ids (token ids outside
    /// the vocabulary are read as id 0, sequences are cut at [`max_tokens`](Self::max_tokens);
    /// an empty sequence gives the zero vector).
    pub fn embed(&self, sequences: &[&[u32]]) -> Vec<Vec<f32>> {
        let h = self.config.hidden_size;
        let seqs: Vec<&[u32]> = sequences
            .iter()
            .map(|s| &s[..s.len().min(self.max_tokens())])
            .collect();
        let mut spans = Vec::with_capacity(seqs.len());
        let mut m = 0;
        for s in &seqs {
            spans.push((m, s.len()));
            m += s.len();
        }
        let x = self.encode(&seqs, &spans, m);
        spans
            .iter()
            .map(|&(start, len)| {
                let mut v = vec![0.0f32; h];
                for row in x[start * h..(start + len) * h].chunks_exact(h) {
                    for (a, b) in v.iter_mut().zip(row) {
                        *a += b;
                    }
                }
                let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
                if norm > 0.0 {
                    // The mean's 1/len cancels in the normalisation.
                    for a in &mut v {
                        *a /= norm;
                    }
                }
                v
            })
            .collect()
    }

    /// Token vectors `[m][hidden]` of the sequences laid end to end.
    fn encode(&self, seqs: &[&[u32]], spans: &[(usize, usize)], m: usize) -> Vec<f32> {
        let c = &self.config;
        let (h, inner) = (c.hidden_size, c.intermediate_size);
        let mut x = vec![0.0f32; m * h];
        let rows: Vec<(usize, u32)> = seqs
            .iter()
            .flat_map(|s| s.iter().enumerate().map(|(pos, &id)| (pos, id)))
            .collect();
        x.par_chunks_mut(h)
            .zip(rows.par_iter())
            .for_each(|(row, &(pos, id))| {
                let id = if (id as usize) < c.vocab_size {
                    id as usize
                } else {
                    0
                };
                let w = &self.word[id * h..(id + 1) * h];
                let p = &self.position[pos * h..(pos + 1) * h];
                for (((o, a), b), t) in row.iter_mut().zip(w).zip(p).zip(&self.token_type[..h]) {
                    *o = a + b + t;
                }
                kernels::add_norm(
                    row,
                    None,
                    &self.embedding_norm.gamma,
                    &self.embedding_norm.beta,
                    self.eps,
                );
            });
        let mut qkv = vec![0.0f32; m * 3 * h];
        let mut context = vec![0.0f32; m * h];
        let mut attended = vec![0.0f32; m * h];
        let mut up = vec![0.0f32; m * inner];
        for layer in &self.layers {
            layer.qkv.forward(&x, &mut qkv);
            self.attention(&qkv, spans, &mut context);
            layer.attention_out.forward(&context, &mut attended);
            norm_rows(&mut attended, &x, &layer.attention_norm, h, self.eps);
            layer.intermediate.forward(&attended, &mut up);
            up.par_chunks_mut(inner * 16).for_each(kernels::gelu);
            layer.output.forward(&up, &mut x);
            norm_rows(&mut x, &attended, &layer.output_norm, h, self.eps);
        }
        x
    }

    /// Multi-head self-attention of each sequence over itself.
    fn attention(&self, qkv: &[f32], spans: &[(usize, usize)], out: &mut [f32]) {
        let h = self.config.hidden_size;
        let heads = self.config.num_attention_heads;
        let d = h / heads;
        let tasks: Vec<(usize, usize)> = spans
            .iter()
            .enumerate()
            .filter(|(_, s)| s.1 > 0)
            .flat_map(|(s, _)| (0..heads).map(move |head| (s, head)))
            .collect();
        let results: Vec<Vec<f32>> = tasks
            .par_iter()
            .map(|&(s, head)| {
                let (start, len) = spans[s];
                attend(qkv, h, start, len, head * d, d)
            })
            .collect();
        for (&(s, head), block) in tasks.iter().zip(results) {
            let (start, len) = spans[s];
            for (i, row) in block.chunks_exact(d).enumerate().take(len) {
                let o = (start + i) * h + head * d;
                out[o..o + d].copy_from_slice(row);
            }
        }
    }
}

/// `x = LayerNorm(x + residual)` for every row, in parallel.
fn norm_rows(x: &mut [f32], residual: &[f32], norm: &Norm, h: usize, eps: f32) {
    x.par_chunks_mut(h * 16)
        .zip(residual.par_chunks(h * 16))
        .for_each(|(x, res)| {
            for (row, r) in x.chunks_exact_mut(h).zip(res.chunks_exact(h)) {
                kernels::add_norm(row, Some(r), &norm.gamma, &norm.beta, eps);
            }
        });
}

/// One head's attention for one sequence: `softmax(Q·Kᵀ/√d)·V` for the `len`
/// tokens from `start`, with the head's columns from `col` (Q), `h + col` (K) and
/// `2h + col` (V) of each `3h`-wide row of `qkv`. Returns `[len][d]`.
fn attend(qkv: &[f32], h: usize, start: usize, len: usize, col: usize, d: usize) -> Vec<f32> {
    let w = 3 * h;
    let rows = &qkv[start * w..(start + len) * w];
    // Kᵀ as panels of NR keys, each [d][NR].
    let mut keys = vec![0.0f32; len.div_ceil(NR) * d * NR];
    for (j, row) in rows.chunks_exact(w).enumerate() {
        let (p, jj) = (j / NR, j % NR);
        for (i, &v) in row[h + col..h + col + d].iter().enumerate() {
            keys[(p * d + i) * NR + jj] = v;
        }
    }
    // V as panels of NR of its d columns, each [len][NR].
    let mut values = vec![0.0f32; d.div_ceil(NR) * len * NR];
    for (j, row) in rows.chunks_exact(w).enumerate() {
        for (i, &v) in row[2 * h + col..2 * h + col + d].iter().enumerate() {
            let (p, ii) = (i / NR, i % NR);
            values[(p * len + j) * NR + ii] = v;
        }
    }
    let mut scratch = Vec::new();
    let mut scores = vec![0.0f32; len * len];
    kernels::matmul(
        &rows[col..],
        w,
        len,
        d,
        &keys,
        len,
        None,
        &mut scores,
        len,
        &mut scratch,
    );
    let scale = 1.0 / (d as f32).sqrt();
    for row in scores.chunks_exact_mut(len) {
        kernels::softmax(row, scale);
    }
    let mut out = vec![0.0f32; len * d];
    kernels::matmul(
        &scores,
        len,
        len,
        len,
        &values,
        d,
        None,
        &mut out,
        d,
        &mut scratch,
    );
    out
}
