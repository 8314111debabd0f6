#!/usr/bin/env python3
"""Reference embeddings for all-MiniLM-L6-v2, computed with a plain numpy forward pass.

This is an independent float64 re-implementation of the sentence-transformers model
`sentence-transformers/all-MiniLM-L6-v2` (BERT: 6 layers, hidden 384, 12 heads,
GELU erf form, LayerNorm eps 1e-12; mean pooling over the attention mask, then L2
normalisation; inputs truncated to 256 tokens including [CLS]/[SEP]). Its output is
the fixture the Rust implementation is tested against (cosine >= 0.9999).

Run from the repository root:

    python3 -m venv /tmp/parity-venv
    /tmp/parity-venv/bin/pip install -r scripts/parity/requirements.txt
    /tmp/parity-venv/bin/python scripts/parity/make_reference.py MODEL_DIR

MODEL_DIR is an unmodified sentence-transformers model directory (config.json,
tokenizer.json, model.safetensors). Reads omnex-core/tests/data/parity_sentences.json
(a JSON list of strings) and writes omnex-core/tests/data/parity_reference.json.
Empty or whitespace-only input tokenizes to [CLS][SEP] and is embedded like any other.
"""

import json
import math
import os
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MAX_TOKENS = 256
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SENTENCES = os.path.join(REPO_ROOT, "omnex-core", "tests", "data", "parity_sentences.json")
REFERENCE = os.path.join(REPO_ROOT, "omnex-core", "tests", "data", "parity_reference.json")

_erf = np.frompyfunc(math.erf, 1, 1)


def gelu(x):
    """Exact (erf) GELU, as BERT's "gelu" activation."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def layer_norm(x, gamma, beta, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


class MiniLM:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
            cfg = json.load(f)
        assert cfg.get("hidden_act", "gelu") == "gelu", cfg.get("hidden_act")
        self.hidden = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.layers = cfg["num_hidden_layers"]
        self.eps = cfg.get("layer_norm_eps", 1e-12)
        raw = load_file(os.path.join(model_dir, "model.safetensors"))
        self.w = {}
        for name, value in raw.items():
            if name.startswith("bert."):
                name = name[len("bert."):]
            # Old TF-style checkpoints name LayerNorm parameters gamma/beta.
            name = name.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
            self.w[name] = value.astype(np.float64) if value.dtype.kind == "f" else value

        self.tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        # tokenizer.json ships its own settings (truncation 128, fixed padding 128): override.
        self.tok.no_padding()
        self.tok.enable_truncation(max_length=MAX_TOKENS, strategy="longest_first", stride=0)

    def linear(self, x, prefix):
        return x @ self.w[prefix + ".weight"].T + self.w[prefix + ".bias"]

    def ln(self, x, prefix):
        return layer_norm(x, self.w[prefix + ".weight"], self.w[prefix + ".bias"], self.eps)

    def token_ids(self, text):
        enc = self.tok.encode(text, add_special_tokens=True)
        return np.array(enc.ids, dtype=np.int64), np.array(enc.type_ids, dtype=np.int64)

    def embed(self, text):
        ids, type_ids = self.token_ids(text)
        n = len(ids)
        assert 2 <= n <= MAX_TOKENS, n
        x = (self.w["embeddings.word_embeddings.weight"][ids]
             + self.w["embeddings.position_embeddings.weight"][np.arange(n)]
             + self.w["embeddings.token_type_embeddings.weight"][type_ids])
        x = self.ln(x, "embeddings.LayerNorm")
        hd = self.hidden // self.heads
        for i in range(self.layers):
            p = "encoder.layer.%d." % i
            q = self.linear(x, p + "attention.self.query").reshape(n, self.heads, hd).transpose(1, 0, 2)
            k = self.linear(x, p + "attention.self.key").reshape(n, self.heads, hd).transpose(1, 0, 2)
            v = self.linear(x, p + "attention.self.value").reshape(n, self.heads, hd).transpose(1, 0, 2)
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(hd)  # (heads, n, n); single sequence, no padding
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            ctx = (probs @ v).transpose(1, 0, 2).reshape(n, self.hidden)
            x = self.ln(self.linear(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            h = gelu(self.linear(x, p + "intermediate.dense"))
            x = self.ln(self.linear(h, p + "output.dense") + x, p + "output.LayerNorm")
        pooled = x.mean(axis=0)  # mean over all tokens: attention mask is all ones here
        return pooled / max(np.linalg.norm(pooled), 1e-12)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python3 scripts/parity/make_reference.py MODEL_DIR")
    model = MiniLM(sys.argv[1])
    with open(SENTENCES, encoding="utf-8") as f:
        sentences = json.load(f)
    assert isinstance(sentences, list) and all(isinstance(s, str) for s in sentences)
    vectors = []
    for s in sentences:
        v = model.embed(s)
        assert abs(np.linalg.norm(v) - 1.0) < 1e-9
        vectors.append([float("%.7g" % c) for c in v])
    out = {"model": MODEL_NAME, "max_tokens": MAX_TOKENS, "vectors": vectors}
    with open(REFERENCE, "w", encoding="utf-8") as f:
        json.dump(out, f)
        f.write("\n")
    print("wrote %d vectors to %s" % (len(vectors), os.path.relpath(REFERENCE, REPO_ROOT)))


if __name__ == "__main__":
    main()
