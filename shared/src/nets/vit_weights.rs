//! Loading ViT / DeiT checkpoints in the timm layout (`model.safetensors`) into [`Vit`] (spec A2:
//! AMVLM starts its image encoder from DeiT-B/16).

use super::safetensors_reader::{SafetensorsError, SafetensorsReader};
use super::vit::Vit;
use burn::nn::Linear;
use burn::tensor::{backend::Backend, Tensor, TensorData};
use std::collections::BTreeMap;

/// The key every timm ViT has; what precedes it is the checkpoint's prefix.
const PATCH_WEIGHT: &str = "patch_embed.proj.weight";

/// Why a ViT checkpoint could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum VitWeightsError {
    #[error(
        "not a timm ViT/DeiT checkpoint: no tensor ends in `{PATCH_WEIGHT}` (it has e.g. {0})"
    )]
    NotVit(String),
    #[error("distilled DeiT checkpoints (with `dist_token`) have two class tokens; use the non-distilled DeiT/ViT weights")]
    Distilled,
    #[error("the checkpoint has {found} blocks, the configuration {wanted}; set the depth to at most {found}")]
    TooFewBlocks { found: usize, wanted: usize },
    #[error(transparent)]
    Weights(#[from] SafetensorsError),
}

impl<B: Backend> Vit<B> {
    /// Replace every weight by the checkpoint's. Name mapping (`P` = prefix before
    /// `patch_embed.proj.weight`, e.g. empty for timm, `visual_encoder.` for BLIP; `i` = block):
    ///
    /// | timm key | here |
    /// |---|---|
    /// | `P patch_embed.proj.{weight,bias}` (W, 3, p, p) | patch embedding conv |
    /// | `P cls_token` (1, 1, W), `P pos_embed` (1, N+1, W) | CLS token, position embedding |
    /// | `P blocks.i.norm1.*`, `P blocks.i.norm2.*` | block LayerNorms |
    /// | `P blocks.i.attn.qkv.{weight,bias}` (3W, W) | split into query, key, value Linear |
    /// | `P blocks.i.attn.proj.*` | attention output Linear |
    /// | `P blocks.i.mlp.fc1.*`, `P blocks.i.mlp.fc2.*` | MLP |
    /// | `P norm.{weight,bias}` | final LayerNorm |
    ///
    /// The classifier head is ignored; extra blocks beyond the configured depth are ignored.
    /// Position embeddings must match the configured image and patch size (no interpolation).
    pub fn load_safetensors(self, bytes: &[u8]) -> Result<Self, VitWeightsError> {
        let r = SafetensorsReader::from_bytes(bytes)?;
        self.load_from(&r)
    }

    /// [`Vit::load_safetensors`] from an opened file.
    pub fn load_from(mut self, r: &SafetensorsReader<'_>) -> Result<Self, VitWeightsError> {
        let p = r
            .prefix_of(PATCH_WEIGHT)
            .ok_or_else(|| VitWeightsError::NotVit(r.example_names()))?;
        if r.contains(&format!("{p}dist_token")) {
            return Err(VitWeightsError::Distilled);
        }
        let found = (0..)
            .take_while(|i| r.contains(&format!("{p}blocks.{i}.norm1.weight")))
            .count();
        if found < self.blocks.len() {
            return Err(VitWeightsError::TooFewBlocks {
                found,
                wanted: self.blocks.len(),
            });
        }
        self.patch_embed.weight = r.load_param(
            &format!("{p}patch_embed.proj.weight"),
            self.patch_embed.weight,
            false,
        )?;
        if let Some(b) = self.patch_embed.bias.take() {
            self.patch_embed.bias =
                Some(r.load_param(&format!("{p}patch_embed.proj.bias"), b, false)?);
        }
        self.cls_token = r.load_param(&format!("{p}cls_token"), self.cls_token, false)?;
        self.pos_embed = r.load_param(&format!("{p}pos_embed"), self.pos_embed, false)?;
        for (i, block) in self.blocks.iter_mut().enumerate() {
            let b = format!("{p}blocks.{i}.");
            block.norm1 = r.load_layer_norm(&format!("{b}norm1"), block.norm1.clone())?;
            block.norm2 = r.load_layer_norm(&format!("{b}norm2"), block.norm2.clone())?;
            let att = &mut block.attn;
            let [q, k, v] = split_qkv(
                r,
                &format!("{b}attn.qkv"),
                [att.query.clone(), att.key.clone(), att.value.clone()],
            )?;
            (att.query, att.key, att.value) = (q, k, v);
            att.output = r.load_linear(&format!("{b}attn.proj"), att.output.clone())?;
            block.fc1 = r.load_linear(&format!("{b}mlp.fc1"), block.fc1.clone())?;
            block.fc2 = r.load_linear(&format!("{b}mlp.fc2"), block.fc2.clone())?;
        }
        self.norm = r.load_layer_norm(&format!("{p}norm"), self.norm)?;
        Ok(self)
    }
}

impl<B: Backend> Vit<B> {
    /// This ViT's weights as a timm checkpoint (the names and layouts of the table above, with
    /// `prefix` before them; fused `qkv`), as safetensors bytes: the inverse of
    /// [`Vit::load_safetensors`], for tests and for sharing an encoder with timm.
    pub fn to_timm_safetensors(&self, prefix: &str) -> Vec<u8> {
        let vit = self;
        let mut t: BTreeMap<String, (Vec<f32>, Vec<usize>)> = BTreeMap::new();
        let mut put = |name: String, x: Tensor<B, 2>| {
            let dims = x.dims().to_vec();
            t.insert(name, (x.into_data().to_vec().unwrap(), dims));
        };
        let lin = |l: &Linear<B>| (l.weight.val().transpose(), l.bias.as_ref().map(|b| b.val()));
        let w = vit.pos_embed.val().dims()[2];
        let mut raw: Vec<(String, Vec<f32>, Vec<usize>)> = vec![];
        let pw = vit.patch_embed.weight.val();
        raw.push((
            format!("{prefix}patch_embed.proj.weight"),
            pw.clone().into_data().to_vec().unwrap(),
            pw.dims().to_vec(),
        ));
        raw.push((
            format!("{prefix}patch_embed.proj.bias"),
            vit.patch_embed
                .bias
                .as_ref()
                .unwrap()
                .val()
                .into_data()
                .to_vec()
                .unwrap(),
            vec![w],
        ));
        raw.push((
            format!("{prefix}cls_token"),
            vit.cls_token.val().into_data().to_vec().unwrap(),
            vec![1, 1, w],
        ));
        let pe = vit.pos_embed.val();
        raw.push((
            format!("{prefix}pos_embed"),
            pe.clone().into_data().to_vec().unwrap(),
            pe.dims().to_vec(),
        ));
        let ln = |raw: &mut Vec<(String, Vec<f32>, Vec<usize>)>,
                  name: String,
                  n: &burn::nn::LayerNorm<B>| {
            raw.push((
                format!("{name}.weight"),
                n.gamma.val().into_data().to_vec().unwrap(),
                vec![w],
            ));
            raw.push((
                format!("{name}.bias"),
                n.beta.as_ref().unwrap().val().into_data().to_vec().unwrap(),
                vec![w],
            ));
        };
        for (i, b) in vit.blocks.iter().enumerate() {
            let pre = format!("{prefix}blocks.{i}.");
            ln(&mut raw, format!("{pre}norm1"), &b.norm1);
            ln(&mut raw, format!("{pre}norm2"), &b.norm2);
            let (qw, qb) = lin(&b.attn.query);
            let (kw, kb) = lin(&b.attn.key);
            let (vw, vb) = lin(&b.attn.value);
            put(
                format!("{pre}attn.qkv.weight"),
                Tensor::cat(vec![qw, kw, vw], 0),
            );
            let bias = Tensor::cat(vec![qb.unwrap(), kb.unwrap(), vb.unwrap()], 0);
            raw.push((
                format!("{pre}attn.qkv.bias"),
                bias.into_data().to_vec().unwrap(),
                vec![3 * w],
            ));
            for (name, l) in [
                ("attn.proj", &b.attn.output),
                ("mlp.fc1", &b.fc1),
                ("mlp.fc2", &b.fc2),
            ] {
                let (lw, lb) = lin(l);
                let n = lw.dims()[0];
                put(format!("{pre}{name}.weight"), lw);
                raw.push((
                    format!("{pre}{name}.bias"),
                    lb.unwrap().into_data().to_vec().unwrap(),
                    vec![n],
                ));
            }
        }
        ln(&mut raw, format!("{prefix}norm"), &vit.norm);
        for (n, v, s) in raw {
            t.insert(n, (v, s));
        }
        let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = t
            .into_iter()
            .map(|(n, (v, s))| (n, v.iter().flat_map(|x| x.to_le_bytes()).collect(), s))
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
            .iter()
            .map(|(n, b, s)| {
                (
                    n.clone(),
                    safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                        .unwrap(),
                )
            })
            .collect();
        safetensors::serialize(views, None).unwrap()
    }
}

/// Load a fused `qkv` Linear `(3W, W)` into three `(W → W)` Linears.
fn split_qkv<B: Backend>(
    r: &SafetensorsReader<'_>,
    prefix: &str,
    layers: [Linear<B>; 3],
) -> Result<[Linear<B>; 3], SafetensorsError> {
    let width = layers[0].weight.lazy_shape().dims::<2>()[0];
    let wname = format!("{prefix}.weight");
    let (w, shape) = r.values(&wname)?;
    if shape != [3 * width, width] {
        return Err(SafetensorsError::Shape {
            name: wname,
            found: shape,
            expected: vec![3 * width, width],
        });
    }
    let bname = format!("{prefix}.bias");
    let bias = if layers[0].bias.is_some() {
        let (b, shape) = r.values(&bname)?;
        if shape != [3 * width] {
            return Err(SafetensorsError::Shape {
                name: bname,
                found: shape,
                expected: vec![3 * width],
            });
        }
        Some(b)
    } else {
        None
    };
    let mut out = layers;
    for (part, layer) in out.iter_mut().enumerate() {
        let device = layer.weight.lazy_device();
        let rows = w[part * width * width..(part + 1) * width * width].to_vec();
        let value =
            Tensor::<B, 2>::from_data(TensorData::new(rows, [width, width]), &device).transpose();
        let id = layer.weight.id;
        layer.weight = layer.weight.clone().transform_for_load(value, id);
        if let (Some(b), Some(param)) = (&bias, layer.bias.take()) {
            let value = Tensor::<B, 1>::from_data(
                TensorData::new(b[part * width..(part + 1) * width].to_vec(), [width]),
                &device,
            );
            let id = param.id;
            layer.bias = Some(param.transform_for_load(value, id));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::vit::VitConfig;
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::Distribution;

    type B = Flex;

    #[test]
    fn a_timm_checkpoint_reproduces_the_model() {
        let dev = Default::default();
        let cfg = VitConfig::tiny(16, 8);
        let a = cfg.init::<B>(&dev);
        let x = Tensor::<B, 4>::random([2, 3, 16, 16], Distribution::Default, &dev);
        for prefix in ["", "visual_encoder."] {
            let bytes = Vit::to_timm_safetensors(&a, prefix);
            let b = cfg.init::<B>(&dev).load_safetensors(&bytes).unwrap();
            let (oa, ob) = (a.forward(x.clone()), b.forward(x.clone()));
            oa.patches
                .into_data()
                .assert_approx_eq::<f32>(&ob.patches.into_data(), Default::default());
            oa.cls_attention
                .into_data()
                .assert_approx_eq::<f32>(&ob.cls_attention.into_data(), Default::default());
        }
        // A deeper configuration than the checkpoint is refused with the counts.
        let deeper = VitConfig::tiny(16, 8).with_depth(3).init::<B>(&dev);
        let err = deeper
            .load_safetensors(&Vit::to_timm_safetensors(&a, ""))
            .unwrap_err();
        assert!(err.to_string().contains("2 blocks"), "{err}");
        // Another image size: the position embedding's shape is named.
        let other = VitConfig::tiny(32, 8).init::<B>(&dev);
        let err = other
            .load_safetensors(&Vit::to_timm_safetensors(&a, ""))
            .unwrap_err();
        assert!(err.to_string().contains("pos_embed"), "{err}");
    }
}
