//! A BERT encoder forward pass for inference, on candle tensors.
//!
//! Weights of every dense layer are transposed once at load time (and Q, K, V
//! fused into one matrix), so each forward pass multiplies by contiguous matrices
//! instead of re-packing transposed views; this dominates the cost of short inputs.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{LayerNorm, VarBuilder};
use serde::Deserialize;

/// The parts of a Hugging Face `config.json` this encoder needs.
#[derive(Clone, Debug, Deserialize)]
pub(super) struct BertConfig {
    pub(super) vocab_size: usize,
    pub(super) hidden_size: usize,
    pub(super) num_hidden_layers: usize,
    pub(super) num_attention_heads: usize,
    pub(super) intermediate_size: usize,
    pub(super) max_position_embeddings: usize,
    #[serde(default = "two")]
    pub(super) type_vocab_size: usize,
    #[serde(default = "eps")]
    pub(super) layer_norm_eps: f64,
    #[serde(default = "gelu")]
    pub(super) hidden_act: String,
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

/// `x · W + b` with `W` stored as `[in, out]`, contiguous.
struct Dense {
    weight: Tensor,
    bias: Tensor,
}

impl Dense {
    fn load(vb: &VarBuilder<'_>, inputs: usize, outputs: usize) -> Result<Self> {
        let weight = vb.get((outputs, inputs), "weight")?.t()?.contiguous()?;
        let bias = vb.get(outputs, "bias")?;
        Ok(Self { weight, bias })
    }

    fn fused(parts: &[Self]) -> Result<Self> {
        let weights: Vec<&Tensor> = parts.iter().map(|p| &p.weight).collect();
        let biases: Vec<&Tensor> = parts.iter().map(|p| &p.bias).collect();
        Ok(Self {
            weight: Tensor::cat(&weights, 1)?.contiguous()?,
            bias: Tensor::cat(&biases, 0)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.weight)?.broadcast_add(&self.bias)
    }
}

fn layer_norm(vb: VarBuilder<'_>, size: usize, eps: f64) -> Result<LayerNorm> {
    let weight = vb.get(size, "weight").or_else(|_| vb.get(size, "gamma"))?;
    let bias = vb.get(size, "bias").or_else(|_| vb.get(size, "beta"))?;
    Ok(LayerNorm::new(weight, bias, eps))
}

struct Layer {
    qkv: Dense,
    attention_out: Dense,
    attention_norm: LayerNorm,
    intermediate: Dense,
    output: Dense,
    output_norm: LayerNorm,
}

/// The encoder: embeddings and transformer layers.
pub(super) struct Bert {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    hidden: usize,
}

impl Bert {
    pub(super) fn load(vb: VarBuilder<'_>, c: &BertConfig) -> Result<Self> {
        if c.hidden_act != "gelu" {
            candle_core::bail!("unsupported hidden_act {:?} (only gelu)", c.hidden_act);
        }
        let vb = if vb.contains_tensor("embeddings.word_embeddings.weight") {
            vb
        } else {
            vb.pp("bert")
        };
        let h = c.hidden_size;
        let e = vb.pp("embeddings");
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let a = l.pp("attention");
            let parts = [
                Dense::load(&a.pp("self.query"), h, h)?,
                Dense::load(&a.pp("self.key"), h, h)?,
                Dense::load(&a.pp("self.value"), h, h)?,
            ];
            layers.push(Layer {
                qkv: Dense::fused(&parts)?,
                attention_out: Dense::load(&a.pp("output.dense"), h, h)?,
                attention_norm: layer_norm(a.pp("output.LayerNorm"), h, c.layer_norm_eps)?,
                intermediate: Dense::load(&l.pp("intermediate.dense"), h, c.intermediate_size)?,
                output: Dense::load(&l.pp("output.dense"), c.intermediate_size, h)?,
                output_norm: layer_norm(l.pp("output.LayerNorm"), h, c.layer_norm_eps)?,
            });
        }
        Ok(Self {
            word: e.get((c.vocab_size, h), "word_embeddings.weight")?,
            position: e.get((c.max_position_embeddings, h), "position_embeddings.weight")?,
            token_type: e.get((c.type_vocab_size, h), "token_type_embeddings.weight")?,
            embedding_norm: layer_norm(e.pp("LayerNorm"), h, c.layer_norm_eps)?,
            layers,
            heads: c.num_attention_heads,
            hidden: h,
        })
    }

    /// Token vectors `[batch, len, hidden]` for `ids` and `mask` (both `[batch, len]`, u32).
    pub(super) fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, l) = ids.dims2()?;
        let (h, nh) = (self.hidden, self.heads);
        let d = h / nh;
        let device = ids.device();
        let positions = Tensor::arange(0u32, l as u32, device)?;
        let x = self
            .word
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, l, h))?
            .broadcast_add(&self.position.index_select(&positions, 0)?)?
            .broadcast_add(&self.token_type.get(0)?)?;
        let mut x = self.embedding_norm.forward(&x)?.reshape((b * l, h))?;
        // 0 for real tokens, a large negative number for padding: [b, 1, 1, l].
        let bias = ((mask.to_dtype(DType::F32)? - 1.0)? * 1e9)?.reshape((b, 1, 1, l))?;
        let scale = 1.0 / (d as f64).sqrt();
        for layer in &self.layers {
            let qkv = layer
                .qkv
                .forward(&x)?
                .reshape((b, l, 3, nh, d))?
                .permute((2, 0, 3, 1, 4))?
                .contiguous()?;
            let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&bias)?;
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let context = probs
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((b * l, h))?;
            let attended = layer
                .attention_norm
                .forward(&(layer.attention_out.forward(&context)? + &x)?)?;
            let inner = layer.intermediate.forward(&attended)?.gelu_erf()?;
            x = layer
                .output_norm
                .forward(&(layer.output.forward(&inner)? + &attended)?)?;
        }
        x.reshape((b, l, h))
    }
}

/// The device inference runs on.
pub(super) fn device() -> Device {
    Device::Cpu
}
