//! Reading pretrained weights from safetensors files (spec C "Pretrained weights"), the format
//! Hugging Face checkpoints ship in: an 8-byte little-endian header length, a JSON header giving
//! each tensor's dtype, shape and byte range, then the raw little-endian data.
//!
//! [`SafetensorsReader`] gives any tensor as an f32 burn tensor (F32, F16, BF16 and F64 stored
//! values are converted) and loads PyTorch-layout parameters into burn modules: `nn.Linear`
//! weights are `(out, in)` in PyTorch and `(in, out)` in burn, so they are transposed;
//! LayerNorm's `weight`/`bias` (or the older `gamma`/`beta`) and Embedding tables are copied.
//! Every shape is checked against the module, and errors name the key. The BERT and ViT
//! importers use it.

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::{backend::Backend, bf16, f16, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

/// What can go wrong reading a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum SafetensorsError {
    #[error("not a readable safetensors file ({0}); expected an 8-byte header length, a JSON header and the tensor data, as `safetensors.torch.save_file` writes (convert .bin/.pth checkpoints first)")]
    Format(String),
    #[error("the checkpoint has no tensor `{name}` (it has {count} tensors, e.g. {examples}); check that it is the right model and its key prefix")]
    Missing {
        name: String,
        count: usize,
        examples: String,
    },
    #[error("tensor `{name}` has shape {found:?} but the model expects {expected:?}; the checkpoint does not match the model configuration")]
    Shape {
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    #[error("tensor `{name}` has shape {found:?}, not the {expected} dimensions asked for")]
    Rank {
        name: String,
        found: Vec<usize>,
        expected: usize,
    },
    #[error("tensor `{name}` is stored as {dtype}; only F32, F16, BF16 and F64 can be read as floats (convert the checkpoint)")]
    Dtype { name: String, dtype: String },
}

/// A parsed safetensors file, borrowing its bytes.
pub struct SafetensorsReader<'a> {
    tensors: SafeTensors<'a>,
}

impl std::fmt::Debug for SafetensorsReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetensorsReader")
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl<'a> SafetensorsReader<'a> {
    /// Parse the header of a safetensors file held in memory (no tensor is decoded yet).
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, SafetensorsError> {
        let tensors =
            SafeTensors::deserialize(bytes).map_err(|e| SafetensorsError::Format(e.to_string()))?;
        Ok(Self { tensors })
    }

    /// The tensor names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tensors.names().into_iter().map(String::from).collect();
        names.sort();
        names
    }

    /// Whether the file holds `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.tensor(name).is_ok()
    }

    fn missing(&self, name: &str) -> SafetensorsError {
        let names = self.names();
        let examples = names
            .iter()
            .take(3)
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        SafetensorsError::Missing {
            name: name.to_string(),
            count: names.len(),
            examples,
        }
    }

    /// The stored shape of `name`.
    pub fn shape(&self, name: &str) -> Result<Vec<usize>, SafetensorsError> {
        let view = self.tensors.tensor(name).map_err(|_| self.missing(name))?;
        Ok(view.shape().to_vec())
    }

    /// The values of `name` as f32, row-major, and its shape.
    pub fn values(&self, name: &str) -> Result<(Vec<f32>, Vec<usize>), SafetensorsError> {
        let view = self.tensors.tensor(name).map_err(|_| self.missing(name))?;
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => data
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::F64 => data
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().unwrap()) as f32)
                .collect(),
            other => {
                return Err(SafetensorsError::Dtype {
                    name: name.to_string(),
                    dtype: format!("{other:?}"),
                })
            }
        };
        Ok((values, view.shape().to_vec()))
    }

    /// The checkpoint's prefix: what stands before `suffix` in the shortest name ending with it
    /// (`""` for `embeddings.word_embeddings.weight`, `"bert."` for
    /// `bert.embeddings.word_embeddings.weight`); `None` when no name ends with it.
    pub fn prefix_of(&self, suffix: &str) -> Option<String> {
        self.names()
            .iter()
            .filter_map(|n| n.strip_suffix(suffix))
            .min_by_key(|p| p.len())
            .map(str::to_string)
    }

    /// A few of the checkpoint's names, quoted, for error messages.
    pub fn example_names(&self) -> String {
        self.names()
            .iter()
            .take(3)
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `name` as a `D`-dimensional f32 tensor (its rank must be `D`).
    pub fn tensor<B: Backend, const D: usize>(
        &self,
        name: &str,
        device: &B::Device,
    ) -> Result<Tensor<B, D>, SafetensorsError> {
        let (values, shape) = self.values(name)?;
        if shape.len() != D {
            return Err(SafetensorsError::Rank {
                name: name.to_string(),
                found: shape,
                expected: D,
            });
        }
        Ok(Tensor::from_data(TensorData::new(values, shape), device))
    }

    /// `name` as a tensor of exactly the shape `expected`.
    pub fn tensor_shaped<B: Backend, const D: usize>(
        &self,
        name: &str,
        expected: [usize; D],
        device: &B::Device,
    ) -> Result<Tensor<B, D>, SafetensorsError> {
        let found = self.shape(name)?;
        if found != expected {
            return Err(SafetensorsError::Shape {
                name: name.to_string(),
                found,
                expected: expected.to_vec(),
            });
        }
        self.tensor(name, device)
    }

    /// Replace `param`'s value by `name`, with its last two dimensions swapped first if
    /// `transpose` (PyTorch Linear weights); the stored shape must match. The parameter keeps
    /// its id, device and gradient setting.
    pub fn load_param<B: Backend, const D: usize>(
        &self,
        name: &str,
        param: Param<Tensor<B, D>>,
        transpose: bool,
    ) -> Result<Param<Tensor<B, D>>, SafetensorsError> {
        let mut expected = param.lazy_shape().dims::<D>().to_vec();
        if transpose && D >= 2 {
            expected.swap(D - 2, D - 1);
        }
        let found = self.shape(name)?;
        if found != expected {
            return Err(SafetensorsError::Shape {
                name: name.to_string(),
                found,
                expected,
            });
        }
        let mut value: Tensor<B, D> = self.tensor(name, &param.lazy_device())?;
        if transpose {
            value = value.transpose();
        }
        let id = param.id;
        Ok(param.transform_for_load(value, id))
    }

    /// A PyTorch `nn.Linear` saved under `prefix`: `{prefix}.weight` `(out, in)`, transposed, and
    /// `{prefix}.bias` `(out)` if the layer has a bias.
    pub fn load_linear<B: Backend>(
        &self,
        prefix: &str,
        mut linear: Linear<B>,
    ) -> Result<Linear<B>, SafetensorsError> {
        linear.weight = self.load_param(&format!("{prefix}.weight"), linear.weight, true)?;
        if let Some(bias) = linear.bias {
            linear.bias = Some(self.load_param(&format!("{prefix}.bias"), bias, false)?);
        }
        Ok(linear)
    }

    /// A PyTorch `nn.LayerNorm` saved under `prefix`: `{prefix}.weight` and `{prefix}.bias`, or
    /// the older TensorFlow-port names `{prefix}.gamma` and `{prefix}.beta`.
    pub fn load_layer_norm<B: Backend>(
        &self,
        prefix: &str,
        mut norm: LayerNorm<B>,
    ) -> Result<LayerNorm<B>, SafetensorsError> {
        let (w, b) = if !self.contains(&format!("{prefix}.weight"))
            && self.contains(&format!("{prefix}.gamma"))
        {
            ("gamma", "beta")
        } else {
            ("weight", "bias")
        };
        norm.gamma = self.load_param(&format!("{prefix}.{w}"), norm.gamma, false)?;
        if let Some(beta) = norm.beta {
            norm.beta = Some(self.load_param(&format!("{prefix}.{b}"), beta, false)?);
        }
        Ok(norm)
    }

    /// A PyTorch `nn.Embedding` table `(n, d)` saved as `name` (e.g. `….weight`).
    pub fn load_embedding<B: Backend>(
        &self,
        name: &str,
        mut embedding: Embedding<B>,
    ) -> Result<Embedding<B>, SafetensorsError> {
        embedding.weight = self.load_param(name, embedding.weight, false)?;
        Ok(embedding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::nn::{EmbeddingConfig, LayerNormConfig, LinearConfig};
    use safetensors::tensor::TensorView;

    /// A small file: a 2×3 f32 linear weight, its f16 bias, a bf16 vector and an i64 tensor.
    fn file() -> Vec<u8> {
        let w: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let b: Vec<u8> = [0.5f32, -1.5]
            .iter()
            .flat_map(|&x| f16::from_f32(x).to_le_bytes())
            .collect();
        let g: Vec<u8> = [0.25f32, 3.0, -2.0]
            .iter()
            .flat_map(|&x| bf16::from_f32(x).to_le_bytes())
            .collect();
        let i: Vec<u8> = [7i64].iter().flat_map(|x| x.to_le_bytes()).collect();
        let views = vec![
            (
                "lin.weight",
                TensorView::new(Dtype::F32, vec![2, 3], &w).unwrap(),
            ),
            (
                "lin.bias",
                TensorView::new(Dtype::F16, vec![2], &b).unwrap(),
            ),
            (
                "ln.gamma",
                TensorView::new(Dtype::BF16, vec![3], &g).unwrap(),
            ),
            (
                "ln.beta",
                TensorView::new(Dtype::BF16, vec![3], &g).unwrap(),
            ),
            ("ids", TensorView::new(Dtype::I64, vec![1], &i).unwrap()),
        ];
        safetensors::serialize(views, None).unwrap()
    }

    #[test]
    fn reads_and_converts_dtypes() {
        let bytes = file();
        let r = SafetensorsReader::from_bytes(&bytes).unwrap();
        assert_eq!(
            r.names(),
            ["ids", "lin.bias", "lin.weight", "ln.beta", "ln.gamma"]
        );
        assert_eq!(r.values("lin.bias").unwrap(), (vec![0.5, -1.5], vec![2]));
        assert_eq!(r.values("ln.gamma").unwrap().0, [0.25, 3.0, -2.0]);
        let t: Tensor<Flex, 2> = r.tensor("lin.weight", &Default::default()).unwrap();
        assert_eq!(t.dims(), [2, 3]);
        assert!(matches!(
            r.values("ids"),
            Err(SafetensorsError::Dtype { .. })
        ));
        assert!(matches!(
            SafetensorsReader::from_bytes(b"\x05\0\0\0\0\0\0\0{"),
            Err(SafetensorsError::Format(_))
        ));
    }

    #[test]
    fn errors_name_the_key() {
        let bytes = file();
        let r = SafetensorsReader::from_bytes(&bytes).unwrap();
        let dev = Default::default();
        let err = r.tensor::<Flex, 2>("lin.wieght", &dev).unwrap_err();
        assert!(err.to_string().contains("`lin.wieght`"), "{err}");
        let err = r
            .tensor_shaped::<Flex, 2>("lin.weight", [3, 2], &dev)
            .unwrap_err();
        assert!(matches!(&err, SafetensorsError::Shape { name, .. } if name == "lin.weight"));
        assert!(err.to_string().contains("[2, 3]"), "{err}");
        assert!(matches!(
            r.tensor::<Flex, 1>("lin.weight", &dev),
            Err(SafetensorsError::Rank { expected: 1, .. })
        ));
        // A Linear 2 -> 3 would need a (3, 2) PyTorch weight.
        let wrong = LinearConfig::new(2, 3).init::<Flex>(&dev);
        let err = r.load_linear("lin", wrong).unwrap_err();
        assert!(matches!(&err, SafetensorsError::Shape { expected, .. } if expected == &[3, 2]));
    }

    #[test]
    fn loads_modules_pytorch_layout() {
        let bytes = file();
        let r = SafetensorsReader::from_bytes(&bytes).unwrap();
        let dev = Default::default();
        // PyTorch y = x Wᵀ + b with W (out=2, in=3): x = (1, 0, -1) -> (1-3, 4-6) + b.
        let lin = r
            .load_linear("lin", LinearConfig::new(3, 2).init::<Flex>(&dev))
            .unwrap();
        let x = Tensor::<Flex, 2>::from_data([[1.0f32, 0.0, -1.0]], &dev);
        let y: Vec<f32> = lin.forward(x).into_data().to_vec().unwrap();
        assert_eq!(y, [-2.0 + 0.5, -2.0 - 1.5]);
        // gamma/beta names; LayerNorm of (1, 2, 3) = (-1.2247, 0, 1.2247) * g + g.
        let ln = r
            .load_layer_norm("ln", LayerNormConfig::new(3).init::<Flex>(&dev))
            .unwrap();
        let x = Tensor::<Flex, 2>::from_data([[1.0f32, 2.0, 3.0]], &dev);
        let y: Vec<f32> = ln.forward(x).into_data().to_vec().unwrap();
        let z = 1.224_744_9f32;
        let expected = [-z * 0.25 + 0.25, 3.0, z * -2.0 - 2.0];
        assert!(
            y.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-4),
            "{y:?}"
        );
        let emb = r
            .load_embedding("lin.weight", EmbeddingConfig::new(2, 3).init::<Flex>(&dev))
            .unwrap();
        let w: Vec<f32> = emb.weight.val().into_data().to_vec().unwrap();
        assert_eq!(w, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }
}
