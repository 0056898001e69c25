//! BERT, the AMVLM text encoder E_t (spec A2), written out as Hugging Face's `BertModel` computes
//! it so that its checkpoints load unchanged ([`Bert::load_safetensors`]) and the last layer's
//! attention probabilities can be returned:
//!
//! - embeddings: word + position + token type 0, LayerNorm, dropout;
//! - each layer (post-LN): multi-head self-attention (q, k, v, out Linear; scores `QKᵀ/√d`, an
//!   additive −10000 on padded keys, softmax, dropout), residual + LayerNorm, then a Linear,
//!   exact (erf) GELU, Linear, dropout, residual + LayerNorm.
//!
//! Dropout is active only on an autodiff backend; run on the inner backend for evaluation. The
//! pooler is not part of it (AMVLM uses the `[CLS]` hidden state, slot 0).

use super::attention::{attend, merge_heads, split_heads};
use burn::config::Config;
use burn::module::{Initializer, Module};
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear,
    LinearConfig,
};
use burn::tensor::{activation::gelu, backend::Backend, Int, Tensor};

/// Added to the attention scores of padded keys (HF BERT's extended attention mask; spec A3).
pub const MASKED_SCORE: f32 = -10000.0;

/// Configuration of [`Bert`]; the defaults are AMVLM's text encoder (spec A2): Bio_ClinicalBERT
/// cut to 6 layers, as MGCA's `bert_config.json`.
#[derive(Config, Debug)]
pub struct BertConfig {
    /// Rows of the word-embedding table (28996: Bio_ClinicalBERT's cased vocabulary).
    #[config(default = 28996)]
    pub vocab_size: usize,
    /// Width of every token vector.
    #[config(default = 768)]
    pub hidden_size: usize,
    /// Encoder layers (6 in AMVLM; the checkpoint's first layers are loaded).
    #[config(default = 6)]
    pub num_layers: usize,
    /// Attention heads; must divide `hidden_size`.
    #[config(default = 12)]
    pub num_heads: usize,
    /// Width of the feed-forward layer.
    #[config(default = 3072)]
    pub intermediate_size: usize,
    /// Longest sequence (rows of the position-embedding table).
    #[config(default = 512)]
    pub max_position: usize,
    /// Rows of the token-type table (only type 0 is used).
    #[config(default = 2)]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    #[config(default = 1e-12)]
    pub layer_norm_eps: f64,
    /// Dropout on the embeddings and on each sub-layer's output (HF `hidden_dropout_prob`).
    #[config(default = 0.1)]
    pub dropout: f64,
    /// Dropout on the attention probabilities (HF `attention_probs_dropout_prob`).
    #[config(default = 0.1)]
    pub attention_dropout: f64,
}

/// What can go wrong configuring or loading a [`Bert`].
#[derive(Debug, thiserror::Error)]
pub enum BertError {
    #[error("config.json is not valid JSON: {0}")]
    ConfigJson(String),
    #[error("config.json: `{field}` {problem}")]
    ConfigField {
        field: &'static str,
        problem: String,
    },
    #[error(
        "hidden_size {hidden} is not a multiple of num_heads {heads}; pick widths that divide"
    )]
    Heads { hidden: usize, heads: usize },
    #[error("not a BERT checkpoint: no tensor ends in `embeddings.word_embeddings.weight` (it has e.g. {0}); give a Hugging Face BertModel / BertForMaskedLM safetensors file")]
    NotBert(String),
    #[error("the checkpoint has {found} encoder layers but the configuration asks for {wanted}; lower num_layers (the first layers are loaded)")]
    TooFewLayers { found: usize, wanted: usize },
    #[error(transparent)]
    Weights(#[from] crate::nets::SafetensorsError),
}

impl BertConfig {
    /// AMVLM's text encoder (spec A2): 6 layers, 768 wide, 12 heads, 3072, vocabulary 28996.
    pub fn paper() -> Self {
        Self::new()
    }

    /// A small BERT for tests and the browser: 2 layers, 32 wide, 4 heads, 64, 64 positions.
    pub fn tiny(vocab_size: usize) -> Self {
        Self::new()
            .with_vocab_size(vocab_size)
            .with_hidden_size(32)
            .with_num_layers(2)
            .with_num_heads(4)
            .with_intermediate_size(64)
            .with_max_position(64)
    }

    /// From a Hugging Face BERT `config.json` (missing fields take HF's `BertConfig` defaults).
    /// Only absolute positions and the exact `gelu` activation are supported.
    pub fn from_hf_config_json(json: &str) -> Result<Self, BertError> {
        let v: serde_json::Value =
            serde_json::from_str(json).map_err(|e| BertError::ConfigJson(e.to_string()))?;
        let field = |name: &'static str, problem: &str| BertError::ConfigField {
            field: name,
            problem: problem.to_string(),
        };
        let count = |name: &'static str, default: usize| -> Result<usize, BertError> {
            match v.get(name) {
                None => Ok(default),
                Some(x) => x
                    .as_u64()
                    .filter(|&n| n > 0)
                    .map(|n| n as usize)
                    .ok_or_else(|| field(name, &format!("must be a positive integer, not {x}"))),
            }
        };
        let real = |name: &'static str, default: f64| -> Result<f64, BertError> {
            match v.get(name) {
                None => Ok(default),
                Some(x) => x
                    .as_f64()
                    .filter(|p| p.is_finite() && *p >= 0.0)
                    .ok_or_else(|| field(name, &format!("must be a non-negative number, not {x}"))),
            }
        };
        if let Some(model) = v.get("model_type").and_then(|m| m.as_str()) {
            if model != "bert" {
                return Err(field(
                    "model_type",
                    &format!("is \"{model}\"; only \"bert\" is supported"),
                ));
            }
        }
        if let Some(act) = v.get("hidden_act") {
            if act.as_str() != Some("gelu") {
                return Err(field(
                    "hidden_act",
                    &format!("is {act}; only \"gelu\" (exact, erf) is implemented"),
                ));
            }
        }
        if let Some(pos) = v.get("position_embedding_type") {
            if pos.as_str() != Some("absolute") {
                return Err(field(
                    "position_embedding_type",
                    &format!("is {pos}; only \"absolute\" is implemented"),
                ));
            }
        }
        let config = Self::new()
            .with_vocab_size(count("vocab_size", 30522)?)
            .with_hidden_size(count("hidden_size", 768)?)
            .with_num_layers(count("num_hidden_layers", 12)?)
            .with_num_heads(count("num_attention_heads", 12)?)
            .with_intermediate_size(count("intermediate_size", 3072)?)
            .with_max_position(count("max_position_embeddings", 512)?)
            .with_type_vocab_size(count("type_vocab_size", 2)?)
            .with_layer_norm_eps(real("layer_norm_eps", 1e-12)?)
            .with_dropout(real("hidden_dropout_prob", 0.1)?)
            .with_attention_dropout(real("attention_probs_dropout_prob", 0.1)?);
        config.check()?;
        Ok(config)
    }

    /// Whether the widths fit together.
    pub fn check(&self) -> Result<(), BertError> {
        if self.num_heads == 0 || !self.hidden_size.is_multiple_of(self.num_heads) {
            return Err(BertError::Heads {
                hidden: self.hidden_size,
                heads: self.num_heads,
            });
        }
        Ok(())
    }

    /// Build the encoder with BERT's initialisation: N(0, 0.02) weights, LayerNorm 1 and 0.
    ///
    /// # Panics
    /// If `num_heads` does not divide `hidden_size` ([`BertConfig::check`] says so first).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Bert<B> {
        if let Err(e) = self.check() {
            panic!("{e}");
        }
        let init = Initializer::Normal {
            mean: 0.0,
            std: 0.02,
        };
        let h = self.hidden_size;
        let linear = |i: usize, o: usize| {
            LinearConfig::new(i, o)
                .with_initializer(init.clone())
                .init(device)
        };
        let embedding = |n: usize| {
            EmbeddingConfig::new(n, h)
                .with_initializer(init.clone())
                .init(device)
        };
        let norm = || {
            LayerNormConfig::new(h)
                .with_epsilon(self.layer_norm_eps)
                .init(device)
        };
        Bert {
            word_embeddings: embedding(self.vocab_size),
            position_embeddings: embedding(self.max_position),
            token_type_embeddings: embedding(self.type_vocab_size),
            embeddings_norm: norm(),
            layers: (0..self.num_layers)
                .map(|_| BertLayer {
                    query: linear(h, h),
                    key: linear(h, h),
                    value: linear(h, h),
                    attention_out: linear(h, h),
                    attention_norm: norm(),
                    intermediate: linear(h, self.intermediate_size),
                    output: linear(self.intermediate_size, h),
                    output_norm: norm(),
                    attention_dropout: DropoutConfig::new(self.attention_dropout).init(),
                    num_heads: self.num_heads,
                })
                .collect(),
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

/// One post-LN encoder layer (HF `BertLayer`).
#[derive(Module, Debug)]
pub struct BertLayer<B: Backend> {
    pub query: Linear<B>,
    pub key: Linear<B>,
    pub value: Linear<B>,
    pub attention_out: Linear<B>,
    pub attention_norm: LayerNorm<B>,
    pub intermediate: Linear<B>,
    pub output: Linear<B>,
    pub output_norm: LayerNorm<B>,
    attention_dropout: Dropout,
    num_heads: usize,
}

/// The BERT encoder (no pooler).
#[derive(Module, Debug)]
pub struct Bert<B: Backend> {
    pub word_embeddings: Embedding<B>,
    pub position_embeddings: Embedding<B>,
    pub token_type_embeddings: Embedding<B>,
    pub embeddings_norm: LayerNorm<B>,
    pub layers: Vec<BertLayer<B>>,
    dropout: Dropout,
}

/// What a forward pass gives.
#[derive(Debug, Clone)]
pub struct BertOutput<B: Backend> {
    /// Last hidden states `(B, L, H)`; `[CLS]` is position 0.
    pub hidden: Tensor<B, 3>,
    /// `[CLS]`'s attention to each token in the last layer, averaged over heads, `(B, L)`
    /// (before attention dropout; each row sums to 1 and is 0 on padding).
    pub cls_attention: Tensor<B, 2>,
    /// The last layer's attention probabilities `(B, heads, L, L)`, before dropout.
    pub attention: Tensor<B, 4>,
}

impl<B: Backend> BertLayer<B> {
    /// `x (B, L, H)`, `mask (B, L)` additive key mask -> new `x` and the attention
    /// probabilities `(B, heads, L, L)`.
    fn forward(
        &self,
        x: Tensor<B, 3>,
        mask: Tensor<B, 2>,
        dropout: &Dropout,
    ) -> (Tensor<B, 3>, Tensor<B, 4>) {
        let heads = |t: Tensor<B, 3>| split_heads(t, self.num_heads);
        let q = heads(self.query.forward(x.clone()));
        let k = heads(self.key.forward(x.clone()));
        let v = heads(self.value.forward(x.clone()));
        let (context, probs) = attend(q, k, v, Some(mask), &self.attention_dropout);
        let context = merge_heads(context);
        let x = self
            .attention_norm
            .forward(dropout.forward(self.attention_out.forward(context)) + x);
        let ff = self
            .output
            .forward(gelu(self.intermediate.forward(x.clone())));
        let x = self.output_norm.forward(dropout.forward(ff) + x);
        (x, probs)
    }
}

impl<B: Backend> Bert<B> {
    /// Encode token ids.
    ///
    /// - `ids`: `(B, L)` token ids, `[CLS]` first (from [`crate::text::to_tensors`]).
    /// - `mask`: `(B, L)`, 1 for real tokens and 0 for padding (padded keys get −10000).
    ///
    /// # Panics
    /// If the shapes differ, L exceeds `max_position`, or an id is outside the vocabulary (the tokenizer and the
    /// model must share a vocabulary).
    pub fn forward(&self, ids: Tensor<B, 2, Int>, mask: Tensor<B, 2>) -> BertOutput<B> {
        let [b, l] = ids.dims();
        assert_eq!(
            mask.dims(),
            [b, l],
            "Bert::forward: the mask must have the ids' shape"
        );
        let [n_pos, h] = self.position_embeddings.weight.dims();
        assert!(
            l <= n_pos,
            "Bert::forward: {l} tokens but only {n_pos} positions; encode with a smaller max_len"
        );
        let device = ids.device();
        let positions = Tensor::<B, 1, Int>::arange(0..l as i64, &device).reshape([1, l]);
        let token_type = self
            .token_type_embeddings
            .weight
            .val()
            .slice([0..1, 0..h])
            .reshape([1, 1, h]);
        let x = self.word_embeddings.forward(ids)
            + self.position_embeddings.forward(positions)
            + token_type;
        let mut x = self.dropout.forward(self.embeddings_norm.forward(x));
        let key_mask = (mask.neg() + 1.0) * MASKED_SCORE;
        let nh = self.layers.first().map_or(1, |layer| layer.num_heads);
        let mut attention = Tensor::zeros([b, nh, l, l], &device);
        for layer in &self.layers {
            let (y, probs) = layer.forward(x, key_mask.clone(), &self.dropout);
            x = y;
            attention = probs;
        }
        let cls_attention = attention
            .clone()
            .slice([0..b, 0..nh, 0..1, 0..l])
            .mean_dim(1)
            .reshape([b, l]);
        BertOutput {
            hidden: x,
            cls_attention,
            attention,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    #[test]
    fn shapes_and_attention_rows() {
        let dev = Default::default();
        let bert: Bert<Flex> = BertConfig::tiny(10).init(&dev);
        let ids = Tensor::<Flex, 2, Int>::from_data([[2, 5, 6, 3, 0], [2, 7, 3, 0, 0]], &dev);
        let mask = Tensor::<Flex, 2>::from_data(
            [[1.0, 1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0, 0.0]],
            &dev,
        );
        let out = bert.forward(ids, mask);
        assert_eq!(out.hidden.dims(), [2, 5, 32]);
        assert_eq!(out.attention.dims(), [2, 4, 5, 5]);
        let a: Vec<f32> = out.cls_attention.into_data().to_vec().unwrap();
        for (row, n_real) in a.chunks(5).zip([4, 3]) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "{row:?}");
            assert!(row[n_real..].iter().all(|&p| p < 1e-6), "{row:?}");
        }
    }

    #[test]
    fn padding_does_not_change_real_tokens() {
        // The same text with and without two more pads: real positions agree.
        let dev = Default::default();
        let bert: Bert<Flex> = BertConfig::tiny(10).init(&dev);
        let short = bert.forward(
            Tensor::from_data([[2, 5, 3]], &dev),
            Tensor::from_data([[1.0, 1.0, 1.0]], &dev),
        );
        let long = bert.forward(
            Tensor::from_data([[2, 5, 3, 0, 0]], &dev),
            Tensor::from_data([[1.0, 1.0, 1.0, 0.0, 0.0]], &dev),
        );
        let a: Vec<f32> = short.hidden.into_data().to_vec().unwrap();
        let b: Vec<f32> = long
            .hidden
            .slice([0..1, 0..3, 0..32])
            .into_data()
            .to_vec()
            .unwrap();
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-5));
    }

    #[test]
    fn one_layer_by_hand() {
        // H = 2, one head, weights chosen so the layer is computable by hand: every Linear is 0
        // except value and attention output (identity), so the scores are all 0 (uniform
        // attention) and the attention output is the mean of the two tokens' vectors.
        let dev = Default::default();
        let mut bert: Bert<Flex> = BertConfig::tiny(3)
            .with_hidden_size(2)
            .with_num_heads(1)
            .with_num_layers(1)
            .with_intermediate_size(2)
            .with_max_position(2)
            .with_layer_norm_eps(0.0)
            .init(&dev);
        let set2 = |rows: [[f32; 2]; 2]| {
            burn::module::Param::from_tensor(Tensor::<Flex, 2>::from_data(rows, &dev))
        };
        let zero1 = || burn::module::Param::from_tensor(Tensor::<Flex, 1>::zeros([2], &dev));
        bert.word_embeddings.weight = burn::module::Param::from_tensor(Tensor::from_data(
            [[1.0f32, 3.0], [5.0, 2.0], [0.0, 0.0]],
            &dev,
        ));
        bert.position_embeddings.weight = set2([[0.0, 0.0], [0.0, 0.0]]);
        bert.token_type_embeddings.weight = set2([[0.0, 0.0], [0.0, 0.0]]);
        let layer = &mut bert.layers[0];
        for lin in [
            &mut layer.query,
            &mut layer.key,
            &mut layer.intermediate,
            &mut layer.output,
        ] {
            lin.weight = set2([[0.0, 0.0], [0.0, 0.0]]);
            lin.bias = Some(zero1());
        }
        for lin in [&mut layer.value, &mut layer.attention_out] {
            lin.weight = set2([[1.0, 0.0], [0.0, 1.0]]);
            lin.bias = Some(zero1());
        }
        // Embedding LN: (1,3) -> (-1,1); (5,2) -> (1,-1). Attention: mean = (0,0), so the
        // residual gives (-1,1),(1,-1), LN keeps them; feed-forward adds gelu(0)·0 = 0.
        let ids = Tensor::<Flex, 2, Int>::from_data([[0, 1]], &dev);
        let out = bert.forward(ids, Tensor::from_data([[1.0, 1.0]], &dev));
        let h: Vec<f32> = out.hidden.into_data().to_vec().unwrap();
        assert_eq!(h, [-1.0, 1.0, 1.0, -1.0]);
        let a: Vec<f32> = out.cls_attention.into_data().to_vec().unwrap();
        assert_eq!(a, [0.5, 0.5]);
        // A masked second token: [CLS] attends only to itself.
        let ids = Tensor::<Flex, 2, Int>::from_data([[0, 1]], &dev);
        let out = bert.forward(
            ids,
            Tensor::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 2]), &dev),
        );
        let a: Vec<f32> = out.cls_attention.into_data().to_vec().unwrap();
        assert_eq!(a, [1.0, 0.0]);
    }

    #[test]
    fn hf_config() {
        let json = r#"{"model_type": "bert", "hidden_act": "gelu", "hidden_size": 384,
            "intermediate_size": 1536, "num_attention_heads": 12, "num_hidden_layers": 6,
            "vocab_size": 30522, "layer_norm_eps": 1e-12, "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.0, "position_embedding_type": "absolute"}"#;
        let c = BertConfig::from_hf_config_json(json).unwrap();
        assert_eq!(
            (
                c.vocab_size,
                c.hidden_size,
                c.num_layers,
                c.num_heads,
                c.intermediate_size
            ),
            (30522, 384, 6, 12, 1536)
        );
        assert_eq!((c.max_position, c.type_vocab_size), (512, 2));
        assert_eq!((c.dropout, c.attention_dropout), (0.1, 0.0));
        let p = BertConfig::paper();
        assert_eq!(
            (
                p.vocab_size,
                p.hidden_size,
                p.num_layers,
                p.num_heads,
                p.intermediate_size
            ),
            (28996, 768, 6, 12, 3072)
        );
        let bad = |j: &str| BertConfig::from_hf_config_json(j).unwrap_err().to_string();
        assert!(bad(r#"{"hidden_act": "relu"}"#).contains("hidden_act"));
        assert!(bad(r#"{"hidden_size": 100, "num_attention_heads": 12}"#).contains("multiple"));
        assert!(bad(r#"{"vocab_size": -3}"#).contains("vocab_size"));
        assert!(bad("{").contains("JSON"));
    }
}
