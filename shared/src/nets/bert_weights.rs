//! Loading Hugging Face BERT checkpoints (`model.safetensors`) into [`Bert`] (spec C
//! "Pretrained weights": Bio_ClinicalBERT for AMVLM; all-MiniLM-L6-v2 in the tests).

use super::bert::{Bert, BertError};
use super::safetensors_reader::SafetensorsReader;
use burn::tensor::backend::Backend;

/// The key every BERT checkpoint has; what precedes it is the checkpoint's prefix.
const WORD_EMBEDDINGS: &str = "embeddings.word_embeddings.weight";

impl<B: Backend> Bert<B> {
    /// Replace every weight by the checkpoint's. Tensors are made on each parameter's device.
    ///
    /// Name mapping (`P` = the prefix before `embeddings.word_embeddings.weight`: empty for
    /// `BertModel`, `bert.` for `BertForMaskedLM` and friends; `i` = layer):
    ///
    /// | Hugging Face key | here |
    /// |---|---|
    /// | `P embeddings.word_embeddings.weight` (vocab, H) | word embeddings |
    /// | `P embeddings.position_embeddings.weight` (max_position, H) | position embeddings |
    /// | `P embeddings.token_type_embeddings.weight` (types, H) | token-type embeddings |
    /// | `P embeddings.LayerNorm.{weight,bias}` (or `{gamma,beta}`) | embedding LayerNorm |
    /// | `P encoder.layer.i.attention.self.{query,key,value}.{weight,bias}` | q, k, v Linear |
    /// | `P encoder.layer.i.attention.output.dense.{weight,bias}` | attention output Linear |
    /// | `P encoder.layer.i.attention.output.LayerNorm.*` | attention LayerNorm |
    /// | `P encoder.layer.i.intermediate.dense.{weight,bias}` | feed-forward Linear H→I |
    /// | `P encoder.layer.i.output.dense.{weight,bias}` | feed-forward Linear I→H |
    /// | `P encoder.layer.i.output.LayerNorm.*` | output LayerNorm |
    ///
    /// Linear weights are stored `(out, in)` by PyTorch and transposed to burn's `(in, out)`.
    /// Ignored: the pooler, MLM/NSP heads, `embeddings.position_ids`, and layers beyond
    /// `num_layers` (a 12-layer checkpoint fills a 6-layer model with its first 6 layers, as
    /// `from_pretrained(num_hidden_layers=6)` does for AMVLM). Every shape is checked against
    /// the configuration; a mismatch names the key.
    pub fn load_safetensors(self, bytes: &[u8]) -> Result<Self, BertError> {
        let reader = SafetensorsReader::from_bytes(bytes)?;
        self.load_from(&reader)
    }

    /// [`Bert::load_safetensors`] from an opened file.
    pub fn load_from(mut self, r: &SafetensorsReader<'_>) -> Result<Self, BertError> {
        let names = r.names();
        let p = r
            .prefix_of(WORD_EMBEDDINGS)
            .ok_or_else(|| BertError::NotBert(r.example_names()))?;
        let layer_prefix = format!("{p}encoder.layer.");
        let found = names
            .iter()
            .filter_map(|n| {
                n.strip_prefix(&layer_prefix)?
                    .split('.')
                    .next()?
                    .parse::<usize>()
                    .ok()
            })
            .max()
            .map_or(0, |i| i + 1);
        if found < self.layers.len() {
            return Err(BertError::TooFewLayers {
                found,
                wanted: self.layers.len(),
            });
        }

        let e = format!("{p}embeddings");
        self.word_embeddings =
            r.load_embedding(&format!("{e}.word_embeddings.weight"), self.word_embeddings)?;
        self.position_embeddings = r.load_embedding(
            &format!("{e}.position_embeddings.weight"),
            self.position_embeddings,
        )?;
        self.token_type_embeddings = r.load_embedding(
            &format!("{e}.token_type_embeddings.weight"),
            self.token_type_embeddings,
        )?;
        self.embeddings_norm =
            r.load_layer_norm(&format!("{e}.LayerNorm"), self.embeddings_norm)?;

        let layers = std::mem::take(&mut self.layers);
        for (i, mut layer) in layers.into_iter().enumerate() {
            let l = format!("{layer_prefix}{i}");
            layer.query = r.load_linear(&format!("{l}.attention.self.query"), layer.query)?;
            layer.key = r.load_linear(&format!("{l}.attention.self.key"), layer.key)?;
            layer.value = r.load_linear(&format!("{l}.attention.self.value"), layer.value)?;
            layer.attention_out =
                r.load_linear(&format!("{l}.attention.output.dense"), layer.attention_out)?;
            layer.attention_norm = r.load_layer_norm(
                &format!("{l}.attention.output.LayerNorm"),
                layer.attention_norm,
            )?;
            layer.intermediate =
                r.load_linear(&format!("{l}.intermediate.dense"), layer.intermediate)?;
            layer.output = r.load_linear(&format!("{l}.output.dense"), layer.output)?;
            layer.output_norm =
                r.load_layer_norm(&format!("{l}.output.LayerNorm"), layer.output_norm)?;
            self.layers.push(layer);
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::{BertConfig, SafetensorsError};
    use burn::backend::Flex;
    use burn::module::Module;
    use burn::tensor::{Int, Tensor};
    use safetensors::tensor::TensorView;
    use safetensors::Dtype;

    /// A checkpoint of `model`'s own weights under HF names (with `prefix`), PyTorch layout.
    fn checkpoint(model: &Bert<Flex>, prefix: &str, layers: usize, skip: &str) -> Vec<u8> {
        let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
        let mut put2 = |name: String, t: Tensor<Flex, 2>, transpose: bool| {
            let t = if transpose { t.transpose() } else { t };
            tensors.push((name, t.dims().to_vec(), t.into_data().to_vec().unwrap()));
        };
        let e = format!("{prefix}embeddings");
        put2(
            format!("{e}.word_embeddings.weight"),
            model.word_embeddings.weight.val(),
            false,
        );
        put2(
            format!("{e}.position_embeddings.weight"),
            model.position_embeddings.weight.val(),
            false,
        );
        put2(
            format!("{e}.token_type_embeddings.weight"),
            model.token_type_embeddings.weight.val(),
            false,
        );
        let mut vecs: Vec<(String, Tensor<Flex, 1>)> = vec![
            (
                format!("{e}.LayerNorm.gamma"),
                model.embeddings_norm.gamma.val(),
            ),
            (
                format!("{e}.LayerNorm.beta"),
                model.embeddings_norm.beta.as_ref().unwrap().val(),
            ),
        ];
        for i in 0..layers {
            let layer = &model.layers[i % model.layers.len()];
            let l = format!("{prefix}encoder.layer.{i}");
            let lins = [
                ("attention.self.query", &layer.query),
                ("attention.self.key", &layer.key),
                ("attention.self.value", &layer.value),
                ("attention.output.dense", &layer.attention_out),
                ("intermediate.dense", &layer.intermediate),
                ("output.dense", &layer.output),
            ];
            for (n, lin) in lins {
                put2(format!("{l}.{n}.weight"), lin.weight.val(), true);
                vecs.push((format!("{l}.{n}.bias"), lin.bias.as_ref().unwrap().val()));
            }
            for (n, ln) in [
                ("attention.output.LayerNorm", &layer.attention_norm),
                ("output.LayerNorm", &layer.output_norm),
            ] {
                vecs.push((format!("{l}.{n}.weight"), ln.gamma.val()));
                vecs.push((format!("{l}.{n}.bias"), ln.beta.as_ref().unwrap().val()));
            }
        }
        for (n, t) in vecs {
            tensors.push((n, t.dims().to_vec(), t.into_data().to_vec().unwrap()));
        }
        tensors.push((format!("{prefix}pooler.dense.bias"), vec![1], vec![0.0]));
        tensors.retain(|(n, ..)| n != skip);
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
            .into_iter()
            .map(|(n, s, v)| (n, s, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
            .collect();
        let views: Vec<(String, TensorView<'_>)> = bytes
            .iter()
            .map(|(n, s, b)| {
                (
                    n.clone(),
                    TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
                )
            })
            .collect();
        safetensors::serialize(views, None).unwrap()
    }

    fn run(model: &Bert<Flex>) -> Vec<f32> {
        let dev = Default::default();
        let ids = Tensor::<Flex, 2, Int>::from_data([[2, 7, 4, 3, 0]], &dev);
        let mask = Tensor::<Flex, 2>::from_data([[1.0, 1.0, 1.0, 1.0, 0.0]], &dev);
        model
            .forward(ids, mask)
            .hidden
            .into_data()
            .to_vec()
            .unwrap()
    }

    #[test]
    fn round_trip_through_hf_names() {
        let dev = Default::default();
        let source: Bert<Flex> = BertConfig::tiny(11).init(&dev);
        let expected = run(&source);
        for prefix in ["", "bert."] {
            let bytes = checkpoint(&source, prefix, 2, "");
            let fresh: Bert<Flex> = BertConfig::tiny(11).init(&dev);
            assert_ne!(run(&fresh), expected);
            let loaded = fresh.load_safetensors(&bytes).unwrap();
            assert_eq!(run(&loaded), expected, "prefix {prefix:?}");
        }
        // A deeper checkpoint fills a shallower model with its first layers.
        let bytes = checkpoint(&source, "", 4, "");
        let loaded = BertConfig::tiny(11)
            .init::<Flex>(&dev)
            .load_safetensors(&bytes)
            .unwrap();
        assert_eq!(run(&loaded), expected);
        assert_eq!(loaded.num_params(), source.num_params());
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let dev = Default::default();
        let source: Bert<Flex> = BertConfig::tiny(11).init(&dev);
        let load = |bytes: &[u8], vocab: usize, layers: usize| {
            BertConfig::tiny(vocab)
                .with_num_layers(layers)
                .init::<Flex>(&dev)
                .load_safetensors(bytes)
                .unwrap_err()
        };
        let ok = checkpoint(&source, "bert.", 2, "");
        let err = load(&ok, 12, 2);
        assert!(
            matches!(&err, BertError::Weights(SafetensorsError::Shape { name, found, expected })
                if name == "bert.embeddings.word_embeddings.weight" && found == &[11, 32] && expected == &[12, 32]),
            "{err}"
        );
        assert!(matches!(
            load(&ok, 11, 3),
            BertError::TooFewLayers {
                found: 2,
                wanted: 3
            }
        ));
        let missing = checkpoint(&source, "", 2, "encoder.layer.1.output.dense.bias");
        let err = load(&missing, 11, 2);
        assert!(
            err.to_string()
                .contains("`encoder.layer.1.output.dense.bias`"),
            "{err}"
        );
        let not_bert = checkpoint(&source, "", 2, "embeddings.word_embeddings.weight");
        assert!(matches!(load(&not_bert, 11, 2), BertError::NotBert(_)));
        assert!(matches!(
            load(b"garbage", 11, 2),
            BertError::Weights(SafetensorsError::Format(_))
        ));
    }
}
