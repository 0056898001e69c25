//! Multi-head self-attention that returns its attention probabilities (the ViT's last-block
//! CLS→patch attention and the PDT need them, spec A2/A3; burn's `MultiHeadAttention` hides the
//! scaling and mask conventions we need to match the released code).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{activation::softmax, backend::Backend, Tensor};

/// Configuration of [`SelfAttention`].
#[derive(Config, Debug)]
pub struct SelfAttentionConfig {
    /// Model width (input and output).
    pub width: usize,
    /// Number of heads; `width` must be divisible by it.
    pub heads: usize,
    /// Whether the query/key/value projections have a bias.
    #[config(default = true)]
    pub qkv_bias: bool,
    /// Dropout on the attention probabilities.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// `softmax(QKᵀ/√d + mask)·V` followed by an output projection.
#[derive(Module, Debug)]
pub struct SelfAttention<B: Backend> {
    pub query: Linear<B>,
    pub key: Linear<B>,
    pub value: Linear<B>,
    pub output: Linear<B>,
    dropout: Dropout,
    heads: usize,
}

/// What [`SelfAttention::forward`] returns.
pub struct AttentionOutput<B: Backend> {
    /// `[B, N, width]`.
    pub context: Tensor<B, 3>,
    /// Attention probabilities `[B, heads, N, N]` (before dropout).
    pub probs: Tensor<B, 4>,
}

impl SelfAttentionConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> SelfAttention<B> {
        assert_eq!(
            self.width % self.heads,
            0,
            "width must be divisible by heads"
        );
        let lin = |bias| {
            LinearConfig::new(self.width, self.width)
                .with_bias(bias)
                .init(device)
        };
        SelfAttention {
            query: lin(self.qkv_bias),
            key: lin(self.qkv_bias),
            value: lin(self.qkv_bias),
            output: lin(true),
            dropout: DropoutConfig::new(self.dropout).init(),
            heads: self.heads,
        }
    }
}

/// Split `[B, N, W]` into heads `[B, heads, N, W/heads]`.
pub fn split_heads<B: Backend>(x: Tensor<B, 3>, heads: usize) -> Tensor<B, 4> {
    let [b, n, w] = x.dims();
    x.reshape([b, n, heads, w / heads]).swap_dims(1, 2)
}

/// Merge heads `[B, heads, N, d]` back into `[B, N, heads·d]`.
pub fn merge_heads<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 3> {
    let [b, h, n, d] = x.dims();
    x.swap_dims(1, 2).reshape([b, n, h * d])
}

/// Scaled dot-product attention over heads. `mask`: additive `[B, N]` key mask (0 = attend,
/// large negative = ignore). Returns `(A·V, A)`, with dropout applied to `A` only in the product.
pub fn attend<B: Backend>(
    q: Tensor<B, 4>,
    k: Tensor<B, 4>,
    v: Tensor<B, 4>,
    mask: Option<Tensor<B, 2>>,
    dropout: &Dropout,
) -> (Tensor<B, 4>, Tensor<B, 4>) {
    let d = q.dims()[3];
    let mut scores = q.matmul(k.transpose()).div_scalar((d as f64).sqrt());
    if let Some(mask) = mask {
        let [b, n] = mask.dims();
        scores = scores + mask.reshape([b, 1, 1, n]);
    }
    let probs = softmax(scores, 3);
    let out = dropout.forward(probs.clone()).matmul(v);
    (out, probs)
}

impl<B: Backend> SelfAttention<B> {
    /// `x`: `[B, N, width]`; `mask`: optional additive key mask `[B, N]`.
    pub fn forward(&self, x: Tensor<B, 3>, mask: Option<Tensor<B, 2>>) -> AttentionOutput<B> {
        let q = split_heads(self.query.forward(x.clone()), self.heads);
        let k = split_heads(self.key.forward(x.clone()), self.heads);
        let v = split_heads(self.value.forward(x), self.heads);
        let (out, probs) = attend(q, k, v, mask, &self.dropout);
        AttentionOutput {
            context: self.output.forward(merge_heads(out)),
            probs,
        }
    }
}

/// Additive attention mask from a 0/1 validity mask `[B, N]`: 0 where valid, −10000 where padded
/// (the BERT convention; spec A3 uses binary validity [P]).
pub fn additive_mask<B: Backend>(valid: Tensor<B, 2>) -> Tensor<B, 2> {
    (valid.neg() + 1.0) * -10000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    type B = Flex;

    #[test]
    fn masked_keys_get_no_attention_and_rows_sum_to_one() {
        let dev = Default::default();
        let att = SelfAttentionConfig::new(8, 2).init::<B>(&dev);
        let x = Tensor::<B, 3>::random([2, 4, 8], burn::tensor::Distribution::Default, &dev);
        let valid = Tensor::<B, 2>::from_data(
            TensorData::from([[1.0f32, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]]),
            &dev,
        );
        let out = att.forward(x, Some(additive_mask(valid)));
        assert_eq!(out.context.dims(), [2, 4, 8]);
        let p = out.probs.into_data().to_vec::<f32>().unwrap();
        // [b, h, i, j] with N = 4.
        for b in 0..2 {
            for h in 0..2 {
                for i in 0..4 {
                    let row = &p[((b * 2 + h) * 4 + i) * 4..][..4];
                    assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
                    assert!(row[3] < 1e-4);
                    if b == 1 {
                        assert!(row[2] < 1e-4);
                    }
                }
            }
        }
    }

    #[test]
    fn attend_matches_hand_computation() {
        // One head, two tokens, d = 1: scores q·k = [[1·1, 1·2], [0, 0]] / 1.
        let dev = Default::default();
        let t = |v: [f32; 2]| {
            Tensor::<B, 4>::from_data(TensorData::new(v.to_vec(), [1, 1, 2, 1]), &dev)
        };
        let (out, probs) = attend(
            t([1.0, 0.0]),
            t([1.0, 2.0]),
            t([10.0, 20.0]),
            None,
            &DropoutConfig::new(0.0).init(),
        );
        let e = (1.0f32).exp();
        let p0 = e / (e + e * e);
        let p = probs.into_data().to_vec::<f32>().unwrap();
        assert!((p[0] - p0).abs() < 1e-6 && (p[2] - 0.5).abs() < 1e-6);
        let o = out.into_data().to_vec::<f32>().unwrap();
        assert!((o[0] - (10.0 * p0 + 20.0 * (1.0 - p0))).abs() < 1e-4);
        assert!((o[1] - 15.0).abs() < 1e-4);
    }
}
