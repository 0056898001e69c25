//! Model bundles: one file that carries a trained model's weights and its model card (what it is,
//! what it was trained on, how well it did), written by `semiseg export` and read by
//! `semiseg predict` and the browser app, so a trained run can be shared and tried by anyone.
//! Two kinds, named by the card's `architecture`: `vnet` (SimCVD's 3D V-Net) and `amvlm-seg` (a
//! 2D text-guided model: the frozen encoders with their vocabulary, the Text Mask Generator and
//! the student UNet, spec A6; its card's `image2d` section says how to build them).
//!
//! Layout (all integers little-endian):
//! `b"SEMISEG\0"` · u32 format (1) · u32 card length · card (UTF-8 JSON) · weights.
//! The weights are burn's named MessagePack record of the model, in the card's precision (f16
//! halves the download); the card holds their length and SHA-256, so a cut or altered file is
//! refused before anything is decoded.

use super::text_guided::{TextGuidedModel, TextGuidedNets};
use crate::amvlm::{AmvlmConfig, PromptEmbedding, TextMaskConfig, TextMaskForm};
use crate::nets::{UNet2dConfig, VNet, VNetConfig};
use crate::text::TextTokenizer;
use burn::module::{Module, ModuleVisitor, Param};
use burn::record::{
    FullPrecisionSettings, HalfPrecisionSettings, NamedMpkBytesRecorder, PrecisionSettings,
    Recorder,
};
use burn::tensor::{backend::Backend, Tensor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"SEMISEG\0";
/// The layout written: `MAGIC`, the format (u32 LE), the card's length (u32 LE), the card's
/// SHA-256 (32 bytes), the card (JSON), the weights (their length and SHA-256 are on the card).
/// Format 1 (read, never written) had no card hash, so an edited card went unnoticed.
const FORMAT: u32 = 2;
const CARD_HASH_LEN: usize = 32;
/// A card larger than this is not a card (guards the length field of a corrupt file).
const MAX_CARD: usize = 1 << 20;
/// The largest V-Net a card may describe: the papers' has 16 filters, 2 classes, 112×112×80.
const MAX_FILTERS: usize = 64;
const MAX_CLASSES: usize = 16;
const MAX_PATCH: usize = 256;
/// A stride below 1/32 of the patch side (B6's 18×18×4 of 112×112×80 is 1/6 to 1/20) would
/// evaluate each voxel thousands of times.
const MAX_WINDOW_OVERLAP: usize = 32;

/// How the weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F16,
    F32,
}

/// Test-set scores recorded on the card (Dice and Jaccard as fractions, distances in voxels, spec
/// B7), the mean row of `semiseg eval-model`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardMetrics {
    pub dice: f64,
    pub jaccard: f64,
    pub hd95: f64,
    pub asd: f64,
    /// How many test cases these are the mean of.
    pub cases: usize,
}

/// Test-split scores of a 2D model (fractions): the student at threshold 0.5, and its text mask
/// of each image's own description alone (spec A6 "Evaluation").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Card2dMetrics {
    pub dice: f64,
    pub iou: f64,
    pub text_dice: Option<f64>,
    pub text_iou: Option<f64>,
    /// How many test images these are the mean of.
    pub images: usize,
}

/// The 2D text-guided part of a card (architecture `amvlm-seg`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image2dCard {
    /// The pre-trained encoders' configuration (image size, widths, text length, lower-casing).
    pub vlm: AmvlmConfig,
    /// The vocabulary (`vocab.txt`'s lines).
    pub vocab: String,
    /// The student UNet's width.
    pub unet_width: usize,
    /// Whether the bundle has a Text Mask Generator (the baselines train none).
    pub has_tmg: bool,
    pub text_mask: TextMaskForm,
    /// The prompt's vector in the TMG (`global` on cards written before this field).
    #[serde(default)]
    pub prompt_embedding: PromptEmbedding,
    /// κ and θ of the text logit and mask.
    pub kappa: f64,
    pub theta: f64,
    pub metrics: Option<Card2dMetrics>,
    /// The whole TMG configuration (A8's additions included); cards written before it build
    /// A6's generator from `kappa`, `theta` and `prompt_embedding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmg: Option<TextMaskConfig>,
}

impl Image2dCard {
    /// The configuration of the card's Text Mask Generator.
    pub fn tmg_config(&self) -> TextMaskConfig {
        self.tmg.clone().unwrap_or_else(|| {
            TextMaskConfig::new(self.vlm.embed_dim)
                .with_kappa(self.kappa)
                .with_theta(self.theta)
                .with_prompt(self.prompt_embedding)
        })
    }
}

/// What a model is, what it was trained on and how well it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// Short name shown to users, e.g. "V-Net light (4 filters), LA, 16 labeled".
    pub name: String,
    /// "vnet" (3D) or "amvlm-seg" (2D, with `image2d`).
    pub architecture: String,
    /// The V-Net's width, classes and SDM head (3D; 0 for a 2D model).
    #[serde(default)]
    pub n_filters: usize,
    #[serde(default)]
    pub n_classes: usize,
    #[serde(default)]
    pub sdm_head: bool,
    /// Sliding-window patch and stride (spec B6) the model was evaluated with (3D).
    #[serde(default)]
    pub patch: [usize; 3],
    #[serde(default)]
    pub stride: [usize; 3],
    pub precision: Precision,
    /// Training method and data, in words (e.g. "supervised, 16 labeled LA2018 cases").
    pub trained_on: String,
    pub method: String,
    pub steps: usize,
    /// Which of the run's weights these are: "the last checkpoint" (what papers report) or "the
    /// best on the validation cases" (empty on cards written before this field).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub weights: String,
    /// Scores on the test cases, when the run was evaluated.
    pub metrics: Option<CardMetrics>,
    /// Anything a user should know (e.g. "trained on a CPU for 700 of the paper's 6000 steps").
    pub notes: String,
    pub semiseg_version: String,
    /// Length and SHA-256 (hex) of the weights.
    pub weights_len: usize,
    pub weights_sha256: String,
    /// The 2D text-guided model (architecture "amvlm-seg").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image2d: Option<Image2dCard>,
}

/// The two architectures a bundle can hold.
pub const VNET: &str = "vnet";
pub const AMVLM_SEG: &str = "amvlm-seg";

impl ModelCard {
    /// The V-Net this card describes (inference: dropout is off in eval mode anyway).
    pub fn vnet(&self) -> VNetConfig {
        VNetConfig::new()
            .with_n_filters(self.n_filters)
            .with_n_classes(self.n_classes)
            .with_sdm_head(self.sdm_head)
    }
}

/// Everything that can be wrong with a bundle, said so a user knows what to do.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("not a semiseg model bundle (it should start with \"SEMISEG\"); export one with `semiseg export`")]
    NotABundle,
    #[error("the model bundle is truncated ({0}); download or copy it again")]
    Truncated(String),
    #[error(
        "model bundle format {0} is newer than this semiseg understands (1 and 2); update semiseg"
    )]
    Format(u32),
    #[error("the model card is not valid: {0}")]
    Card(String),
    #[error("the model weights do not match their card ({0}); the file is corrupt or was edited")]
    Corrupt(String),
    #[error("the weights do not fit the architecture on the card ({0})")]
    Mismatch(String),
}

/// A model card and its weights.
#[derive(Debug, Clone)]
pub struct ModelBundle {
    pub card: ModelCard,
    pub weights: Vec<u8>,
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Shapes of every float parameter, in visiting order.
struct Shapes(Vec<Vec<usize>>);

impl<B: Backend> ModuleVisitor<B> for Shapes {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.0.push(param.shape().to_vec());
    }
}

fn shapes<B: Backend, M: Module<B>>(net: &M) -> Vec<Vec<usize>> {
    let mut v = Shapes(Vec::new());
    net.visit(&mut v);
    v.0
}

fn record_bytes<B: Backend, M: Module<B>, S: PrecisionSettings>(net: &M) -> Vec<u8> {
    NamedMpkBytesRecorder::<S>::new()
        .record(net.clone().into_record(), ())
        .expect("MessagePack encoding of a record cannot fail")
}

impl ModelBundle {
    /// Bundle `net` with `card` (its precision decides how the weights are stored; the weight
    /// length and hash fields are filled in here).
    pub fn new<B: Backend>(net: &VNet<B>, card: ModelCard) -> Self {
        Self::of_module(net, card)
    }

    /// Bundle a 2D text-guided model's networks with a card whose `image2d` describes them.
    pub fn new_text_guided<B: Backend>(nets: &TextGuidedNets<B>, card: ModelCard) -> Self {
        Self::of_module(nets, card)
    }

    fn of_module<B: Backend, M: Module<B>>(net: &M, mut card: ModelCard) -> Self {
        let weights = match card.precision {
            Precision::F16 => record_bytes::<B, M, HalfPrecisionSettings>(net),
            Precision::F32 => record_bytes::<B, M, FullPrecisionSettings>(net),
        };
        card.weights_len = weights.len();
        card.weights_sha256 = hex_sha256(&weights);
        ModelBundle { card, weights }
    }

    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let card = serde_json::to_vec_pretty(&self.card).expect("a card is plain data");
        let mut out = Vec::with_capacity(16 + CARD_HASH_LEN + card.len() + self.weights.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_le_bytes());
        out.extend_from_slice(&(card.len() as u32).to_le_bytes());
        out.extend_from_slice(&Sha256::digest(&card));
        out.extend_from_slice(&card);
        out.extend_from_slice(&self.weights);
        out
    }

    /// Read a bundle, checking its structure, the card's hash (format 2) and the weights' length
    /// and hash.
    pub fn decode(bytes: &[u8]) -> Result<Self, BundleError> {
        let (card, start) = Self::checked(bytes)?;
        Ok(ModelBundle {
            card,
            weights: bytes[start..].to_vec(),
        })
    }

    /// [`Self::decode`] of a file already in memory, whose buffer becomes the weights (the header
    /// and card are moved out in place): no second copy of a large model's bytes.
    pub fn decode_owned(mut bytes: Vec<u8>) -> Result<Self, BundleError> {
        let (card, start) = Self::checked(&bytes)?;
        bytes.drain(..start);
        Ok(ModelBundle {
            card,
            weights: bytes,
        })
    }

    /// The card of a bundle, after the checks of [`Self::decode`] (the weights' hash included),
    /// without copying the weights.
    pub fn read_card(bytes: &[u8]) -> Result<ModelCard, BundleError> {
        Self::checked(bytes).map(|(card, _)| card)
    }

    /// The checked card and where the weights start.
    fn checked(bytes: &[u8]) -> Result<(ModelCard, usize), BundleError> {
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(BundleError::NotABundle);
        }
        if bytes.len() < 16 {
            return Err(BundleError::Truncated(format!(
                "{} bytes, the header alone has 16",
                bytes.len()
            )));
        }
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let format = word(8);
        if format != FORMAT && format != 1 {
            return Err(BundleError::Format(format));
        }
        let card_len = word(12) as usize;
        if card_len > MAX_CARD {
            return Err(BundleError::Card(format!("{card_len} bytes long")));
        }
        let card_start = if format == 1 { 16 } else { 16 + CARD_HASH_LEN };
        let Some(card_bytes) = bytes.get(card_start..card_start + card_len) else {
            return Err(BundleError::Truncated(format!(
                "the card needs {card_len} bytes, {} are there",
                bytes.len().saturating_sub(card_start)
            )));
        };
        if format == FORMAT && Sha256::digest(card_bytes)[..] != bytes[16..card_start] {
            return Err(BundleError::Corrupt(
                "the model card does not match its SHA-256: it was edited or damaged".into(),
            ));
        }
        let card: ModelCard =
            serde_json::from_slice(card_bytes).map_err(|e| BundleError::Card(e.to_string()))?;
        match (card.architecture.as_str(), &card.image2d) {
            (VNET, _) => {}
            (AMVLM_SEG, Some(c)) => check_image2d(c)?,
            (AMVLM_SEG, None) => {
                return Err(BundleError::Card(
                    "architecture \"amvlm-seg\" without its image2d section".into(),
                ))
            }
            (other, _) => {
                return Err(BundleError::Card(format!(
                    "architecture \"{other}\"; this semiseg runs \"vnet\" and \"amvlm-seg\""
                )))
            }
        }
        // ranges, so a damaged or hand-edited card is refused before a model is built (an absurd
        // width or patch would abort on allocation; a stride of 1 would run for hours)
        if card.architecture == VNET
            && (!(1..=MAX_FILTERS).contains(&card.n_filters)
                || !(2..=MAX_CLASSES).contains(&card.n_classes)
                || card
                    .patch
                    .iter()
                    .any(|&p| p % 16 != 0 || !(16..=MAX_PATCH).contains(&p))
                || card
                    .stride
                    .iter()
                    .zip(card.patch)
                    .any(|(&s, p)| s == 0 || s > p || s * MAX_WINDOW_OVERLAP < p))
        {
            return Err(BundleError::Card(format!(
                "n_filters {}, n_classes {}, patch {:?}, stride {:?}: filters 1 to {MAX_FILTERS}, \
                 2 to {MAX_CLASSES} classes, patch sides multiples of 16 up to {MAX_PATCH}, each \
                 stride from 1/{MAX_WINDOW_OVERLAP} of the patch side to the side",
                card.n_filters, card.n_classes, card.patch, card.stride
            )));
        }
        let weights = &bytes[card_start + card_len..];
        if weights.len() < card.weights_len {
            return Err(BundleError::Truncated(format!(
                "the weights need {} bytes, {} are there",
                card.weights_len,
                weights.len()
            )));
        }
        if weights.len() > card.weights_len {
            return Err(BundleError::Corrupt(format!(
                "{} bytes more than the card says",
                weights.len() - card.weights_len
            )));
        }
        let hash = hex_sha256(weights);
        if hash != card.weights_sha256 {
            return Err(BundleError::Corrupt(format!(
                "SHA-256 {hash}, the card says {}",
                card.weights_sha256
            )));
        }
        Ok((card, card_start + card_len))
    }

    /// Whether this is a 2D text-guided model (else a 3D V-Net).
    pub fn is_2d(&self) -> bool {
        self.card.architecture == AMVLM_SEG
    }

    /// The V-Net with these weights on `device` (f16 weights are widened to the backend's floats).
    pub fn load_vnet<B: Backend>(&self, device: &B::Device) -> Result<VNet<B>, BundleError> {
        if self.is_2d() {
            return Err(BundleError::Mismatch(
                "this is a 2D text-guided model (an image and a prompt), not a 3D V-Net".into(),
            ));
        }
        let what = format!("the card's V-Net ({} filters)", self.card.n_filters);
        load_record(
            &self.card,
            self.weights.clone(),
            self.card.vnet().init(device),
            &what,
            device,
        )
    }

    /// The 2D text-guided model with these weights on `device`, and its tokenizer.
    pub fn load_text_guided<B: Backend>(
        &self,
        device: &B::Device,
    ) -> Result<(TextGuidedModel<B>, TextTokenizer), BundleError> {
        let (fresh, tok) = self.fresh_text_guided(device)?;
        let c = self
            .card
            .image2d
            .as_ref()
            .expect("fresh_text_guided checked it");
        let nets = load_record(
            &self.card,
            self.weights.clone(),
            fresh,
            "the card's 2D model",
            device,
        )?;
        Ok((
            TextGuidedModel {
                nets,
                text_mask: c.text_mask,
            },
            tok,
        ))
    }

    /// [`Self::load_text_guided`] that hands the weights to burn's record reader without copying
    /// them (the page's worker, where a large model's bytes count), returning the card.
    pub fn into_text_guided<B: Backend>(
        self,
        device: &B::Device,
    ) -> Result<(TextGuidedModel<B>, TextTokenizer, ModelCard), BundleError> {
        let (fresh, tok) = self.fresh_text_guided(device)?;
        let text_mask = self
            .card
            .image2d
            .as_ref()
            .expect("fresh_text_guided checked it")
            .text_mask;
        let nets = load_record(
            &self.card,
            self.weights,
            fresh,
            "the card's 2D model",
            device,
        )?;
        Ok((TextGuidedModel { nets, text_mask }, tok, self.card))
    }

    /// The card's 2D model freshly initialised (what the record is loaded into) and its tokenizer.
    fn fresh_text_guided<B: Backend>(
        &self,
        device: &B::Device,
    ) -> Result<(TextGuidedNets<B>, TextTokenizer), BundleError> {
        let c = self.card.image2d.as_ref().ok_or_else(|| {
            BundleError::Mismatch("this is a 3D V-Net (a scan), not a 2D text-guided model".into())
        })?;
        let tok = TextTokenizer::from_vocab_text(&c.vocab, c.vlm.lowercase)
            .and_then(|t| t.with_max_len(c.vlm.max_text_len))
            .map_err(|e| BundleError::Card(format!("its vocabulary: {e}")))?;
        let fresh = TextGuidedNets {
            encoders: c.vlm.init::<B>(tok.vocab_size(), device).encoders,
            tmg: c.has_tmg.then(|| c.tmg_config().init(device)),
            student: UNet2dConfig::new().with_width(c.unet_width).init(device),
        };
        Ok((fresh, tok))
    }
}

/// `weights` (a record in the card's precision) loaded into `fresh`, whose parameter shapes they
/// must have.
fn load_record<B: Backend, M: Module<B>>(
    card: &ModelCard,
    weights: Vec<u8>,
    fresh: M,
    what: &str,
    device: &B::Device,
) -> Result<M, BundleError> {
    let want = shapes(&fresh);
    // burn panics on some malformed records (a parameter id that does not decode, data that
    // does not fill its shape) where it could return an error; such weights only get here with
    // a matching SHA-256, i.e. made so on purpose, and are refused like any other mismatch
    // (native builds: caught; in the browser a panic ends the worker's call with an error)
    let load = std::panic::AssertUnwindSafe(|| {
        let record = match card.precision {
            Precision::F16 => {
                NamedMpkBytesRecorder::<HalfPrecisionSettings>::new().load(weights, device)
            }
            Precision::F32 => {
                NamedMpkBytesRecorder::<FullPrecisionSettings>::new().load(weights, device)
            }
        };
        record.map(|r| fresh.load_record(r))
    });
    let net = std::panic::catch_unwind(load)
        .map_err(|_| {
            BundleError::Mismatch("the weights hold a parameter burn cannot decode".into())
        })?
        .map_err(|e| BundleError::Mismatch(e.to_string()))?;
    let got = shapes(&net);
    if got != want {
        let first = want
            .iter()
            .zip(&got)
            .position(|(a, b)| a != b)
            .unwrap_or(want.len().min(got.len()));
        return Err(BundleError::Mismatch(format!(
            "parameter {first}: {what} expects {:?}, the weights have {:?}",
            want.get(first),
            got.get(first)
        )));
    }
    Ok(net)
}

/// The 2D section's values must build a model before anything is allocated.
fn check_image2d(c: &Image2dCard) -> Result<(), BundleError> {
    c.vlm
        .validate()
        .map_err(|e| BundleError::Card(format!("image2d.vlm: {e}")))?;
    if c.unet_width == 0 || c.unet_width > 256 || !c.vlm.image_size.is_multiple_of(16) {
        return Err(BundleError::Card(format!(
            "image2d: unet_width {} must be in 1..=256 and the image size {} a multiple of 16",
            c.unet_width, c.vlm.image_size
        )));
    }
    if c.vocab.lines().count() < 5 {
        return Err(BundleError::Card("image2d: the vocabulary is empty".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    pub(crate) fn card(n_filters: usize, precision: Precision) -> ModelCard {
        ModelCard {
            name: "test".into(),
            architecture: "vnet".into(),
            n_filters,
            n_classes: 2,
            sdm_head: true,
            patch: [16, 16, 16],
            stride: [8, 8, 8],
            precision,
            trained_on: "nothing".into(),
            method: "none".into(),
            steps: 0,
            weights: String::new(),
            metrics: None,
            notes: String::new(),
            semiseg_version: "test".into(),
            weights_len: 0,
            weights_sha256: String::new(),
            image2d: None,
        }
    }

    fn seg(net: &VNet<Flex>) -> Vec<f32> {
        let dev = Default::default();
        let x: Vec<f32> = (0..16 * 16 * 16)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let x = Tensor::<Flex, 5>::from_data(TensorData::new(x, [1, 1, 16, 16, 16]), &dev);
        net.forward(x).seg.into_data().to_vec().unwrap()
    }

    #[test]
    fn f32_bundle_round_trips_exactly_and_f16_closely() {
        let dev = Default::default();
        let net: VNet<Flex> = card(2, Precision::F32).vnet().init(&dev);
        let want = seg(&net);
        for (precision, tol) in [(Precision::F32, 0.0), (Precision::F16, 2e-2)] {
            let bytes = ModelBundle::new(&net, card(2, precision)).encode();
            let back = ModelBundle::decode(&bytes).unwrap();
            assert_eq!(back.card.precision, precision);
            let got = seg(&back.load_vnet::<Flex>(&dev).unwrap());
            let err = want
                .iter()
                .zip(&got)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(err <= tol, "{precision:?}: max error {err}");
        }
        let f16 = ModelBundle::new(&net, card(2, Precision::F16))
            .weights
            .len();
        let f32 = ModelBundle::new(&net, card(2, Precision::F32))
            .weights
            .len();
        assert!(f16 * 10 < f32 * 6, "f16 {f16} vs f32 {f32} bytes");
    }

    /// A 2D text-guided bundle round-trips: the same student probabilities and text mask; a 3D
    /// loader refuses it, and a card whose 2D section cannot build a model is refused on decode.
    #[test]
    fn text_guided_bundles_round_trip() {
        use crate::data::Image2d;
        let dev = Default::default();
        let texts = ["upper left lung", "lower right lung", "bilateral infection"];
        let tok = TextTokenizer::train(&texts, 60, true)
            .unwrap()
            .with_max_len(8)
            .unwrap();
        let vlm = AmvlmConfig {
            image_size: 32,
            patch_size: 16,
            max_text_len: 8,
            ..AmvlmConfig::tiny()
        };
        let nets = TextGuidedNets::<Flex> {
            encoders: vlm.init::<Flex>(tok.vocab_size(), &dev).encoders,
            tmg: Some(
                TextMaskConfig::new(vlm.embed_dim)
                    .with_prompt(PromptEmbedding::Words)
                    .init(&dev),
            ),
            student: UNet2dConfig::new().with_width(2).init(&dev),
        };
        let mut c = card(0, Precision::F32);
        c.architecture = AMVLM_SEG.into();
        c.image2d = Some(Image2dCard {
            vlm: vlm.clone(),
            vocab: tok.vocab_text(),
            unet_width: 2,
            has_tmg: true,
            text_mask: TextMaskForm::Ours,
            prompt_embedding: PromptEmbedding::Words,
            kappa: 10.0,
            theta: 0.25,
            metrics: None,
            tmg: None,
        });
        let model = TextGuidedModel {
            nets,
            text_mask: TextMaskForm::Ours,
        };
        let pixels: Vec<u8> = (0..32 * 32).map(|i| (i * 7 % 251) as u8).collect();
        let image = Image2d::from_gray8(&pixels, 32, 32, 32).unwrap();
        let prompt = tok.encode("upper left lung").unwrap();
        let run = |m: &TextGuidedModel<Flex>| {
            let e = m.embed(&image, &dev);
            (m.probability(&e), m.text_mask(&e, &prompt, &dev).unwrap())
        };
        // (run first: burn initialises parameters lazily, on first use)
        let want = run(&model);
        let nets = &model.nets;
        let bytes = ModelBundle::new_text_guided(nets, c.clone()).encode();
        let back = ModelBundle::decode(&bytes).unwrap();
        assert!(back.is_2d());
        let (loaded, tok2) = back.load_text_guided::<Flex>(&dev).unwrap();
        assert_eq!(tok2.encode("upper left lung").unwrap().ids, prompt.ids);
        assert!(run(&loaded) == want, "the loaded model computes other maps");
        // the page's route: the file's buffer becomes the weights, consumed by the reader
        let owned = ModelBundle::decode_owned(bytes.clone()).unwrap();
        assert_eq!(owned.weights, back.weights);
        assert_eq!(owned.card.weights_sha256, back.card.weights_sha256);
        assert_eq!(
            serde_json::to_string(&ModelBundle::read_card(&bytes).unwrap()).unwrap(),
            serde_json::to_string(&back.card).unwrap()
        );
        let (moved, _, card) = owned.into_text_guided::<Flex>(&dev).unwrap();
        assert!(run(&moved) == want, "into_text_guided computes other maps");
        assert_eq!(card.name, back.card.name);
        // the card's prompt embedding reaches the loaded TMG: `global` gives another text mask
        let mut global = c.clone();
        global.image2d.as_mut().unwrap().prompt_embedding = PromptEmbedding::Global;
        let b = ModelBundle::new_text_guided(nets, global).encode();
        let (g, _) = ModelBundle::decode(&b)
            .unwrap()
            .load_text_guided::<Flex>(&dev)
            .unwrap();
        let got = run(&g);
        assert!(got.0 == want.0 && got.1 != want.1);
        // cards written before the field read as `global`
        let json = serde_json::to_string(&c)
            .unwrap()
            .replace("\"prompt_embedding\":\"words\",", "");
        assert!(!json.contains("prompt_embedding"));
        let old: ModelCard = serde_json::from_str(&json).unwrap();
        assert_eq!(
            old.image2d.unwrap().prompt_embedding,
            PromptEmbedding::Global
        );
        // A8's generator (calibration, adapter, image head, coordinates, trust) travels with its
        // configuration on the card: the same text mask and fused map, the same trust
        let a8 = TextMaskConfig::new(vlm.embed_dim)
            .with_prompt(PromptEmbedding::Words)
            .grounded();
        let grounded = TextGuidedModel {
            nets: TextGuidedNets {
                encoders: model.nets.encoders.clone(),
                tmg: Some(a8.init::<Flex>(&dev).with_trust(0.4)),
                student: model.nets.student.clone(),
            },
            text_mask: TextMaskForm::Ours,
        };
        let run8 = |m: &TextGuidedModel<Flex>| {
            let e = m.embed(&image, &dev);
            (
                m.text_mask(&e, &prompt, &dev).unwrap(),
                m.fused(&e, &prompt, &dev).unwrap(),
            )
        };
        let want8 = run8(&grounded);
        let mut c8 = c.clone();
        c8.image2d.as_mut().unwrap().tmg = Some(a8);
        let b = ModelBundle::new_text_guided(&grounded.nets, c8).encode();
        let (g8, _) = ModelBundle::decode(&b)
            .unwrap()
            .load_text_guided::<Flex>(&dev)
            .unwrap();
        assert!(
            run8(&g8) == want8,
            "A8's generator computes other maps once loaded"
        );
        assert!((g8.nets.tmg.as_ref().unwrap().trust_value() - 0.4).abs() < 1e-7);
        let e = back.load_vnet::<Flex>(&dev).unwrap_err().to_string();
        assert!(e.contains("2D text-guided model"), "{e}");
        // a 2D card without its section, or with a width that builds nothing
        let mut no_section = c.clone();
        no_section.image2d = None;
        let b = ModelBundle::new_text_guided(nets, no_section).encode();
        assert!(ModelBundle::decode(&b)
            .unwrap_err()
            .to_string()
            .contains("image2d"));
        let mut bad = c;
        bad.image2d.as_mut().unwrap().unet_width = 0;
        let b = ModelBundle::new_text_guided(nets, bad).encode();
        assert!(ModelBundle::decode(&b)
            .unwrap_err()
            .to_string()
            .contains("unet_width"));
    }

    #[test]
    fn damaged_or_mismatched_bundles_are_refused_with_a_reason() {
        let dev = Default::default();
        let net: VNet<Flex> = card(2, Precision::F16).vnet().init(&dev);
        let bytes = ModelBundle::new(&net, card(2, Precision::F16)).encode();
        // the owned route refuses what the borrowed one does, with the same reason
        let err = |b: &[u8]| {
            let e = ModelBundle::decode(b).unwrap_err().to_string();
            let owned = ModelBundle::decode_owned(b.to_vec())
                .unwrap_err()
                .to_string();
            assert_eq!(owned, e);
            e
        };
        assert!(err(b"\x89PNG....").contains("not a semiseg model bundle"));
        assert!(err(&bytes[..bytes.len() - 10]).contains("truncated"));
        assert!(err(&bytes[..20]).contains("truncated"));
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(err(&flipped).contains("SHA-256"));
        let mut newer = bytes.clone();
        newer[8] = 9;
        assert!(err(&newer).contains("format 9"));
        // the card is covered by its own hash: an edit of one digit is refused (before: a patch
        // of 32 edited to 96 was accepted and every mask came out empty)
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let at = text.find("\"patch\"").unwrap();
        let digit = at + text[at..].find(|c: char| c.is_ascii_digit()).unwrap();
        let mut edited = bytes.clone();
        edited[digit] = if edited[digit] == b'3' { b'9' } else { b'3' };
        assert!(err(&edited).contains("model card does not match its SHA-256"));
        // format 1 files (no card hash) are still read
        let b = ModelBundle::decode(&bytes).unwrap();
        let card_json = serde_json::to_vec_pretty(&b.card).unwrap();
        let mut v1 = MAGIC.to_vec();
        v1.extend(1u32.to_le_bytes());
        v1.extend((card_json.len() as u32).to_le_bytes());
        v1.extend(&card_json);
        v1.extend(&b.weights);
        assert_eq!(ModelBundle::decode(&v1).unwrap().card, b.card);
        // weights with a matching hash that burn cannot decode: an error, not a panic (a
        // parameter id made of characters outside base32)
        let mut bad = ModelBundle::decode(&bytes).unwrap();
        let id = bad
            .weights
            .windows(4)
            .position(|w| w == [0xa2, b'i', b'd', 0xad])
            .expect("a 13-character parameter id")
            + 4;
        bad.weights[id..id + 13].copy_from_slice(b"!!!!!!!!!!!!!");
        bad.card.weights_sha256 = hex_sha256(&bad.weights);
        let bad = ModelBundle::decode(&bad.encode()).unwrap();
        let e = bad.load_vnet::<Flex>(&dev).unwrap_err().to_string();
        assert!(e.contains("cannot decode"), "{e}");
        // absurd card values are refused on decode, before any model is built
        let edits: [fn(&mut ModelCard); 5] = [
            |c| c.n_filters = 1 << 30,
            |c| c.n_classes = 1 << 20,
            |c| c.patch = [1 << 20, 16, 16],
            |c| {
                c.patch = [64, 64, 64];
                c.stride = [1, 1, 1];
            },
            |c| c.stride = [32, 8, 8],
        ];
        for edit in edits {
            let mut c = card(2, Precision::F16);
            edit(&mut c);
            let b = ModelBundle::new(&net, c).encode();
            assert!(
                err(&b).contains("the model card is not valid"),
                "{}",
                err(&b)
            );
        }
        // a card claiming 4 filters over 2-filter weights: decodes, refuses to load
        let mut b = ModelBundle::decode(&bytes).unwrap();
        b.card.n_filters = 4;
        let e = b.load_vnet::<Flex>(&dev).unwrap_err().to_string();
        assert!(e.contains("expects"), "{e}");
    }
}
