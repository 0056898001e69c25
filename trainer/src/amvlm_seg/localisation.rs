//! Does a prompt steer the text mask to what it names? On synthetic radiographs (`semiseg synth
//! 2d` writes where each lesion is), every test image with lesions in two or more zones is
//! prompted with each lesion's phrase ("upper left lung", padded as the descriptions are); a hit
//! when the text mask's mean over that lesion's pixels is above its mean over every other lesion
//! of the image. A prompt that ignored its words would hit 1/k of the time on an image with k
//! lesions (the chance reported beside it).

use crate::amvlm::data::{model_text, Region};
use burn::tensor::backend::Backend;
use semiseg::amvlm::AmvlmConfig;
use semiseg::data::Image2d;
use semiseg::infer::TextGuidedModel;
use semiseg::text::TextTokenizer;

/// Hit rate of lesion prompts.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PromptLocalisation {
    /// Prompts scored (lesions of images with two or more lesions).
    pub prompts: usize,
    pub hits: usize,
    pub hit_rate: f64,
    /// The hit rate of a prompt that does not steer: the mean of 1/k.
    pub chance: f64,
}

impl PromptLocalisation {
    pub fn line(&self) -> String {
        format!(
            "{:.1}% of {} lesion prompts put the text mask on the lesion they name (chance {:.1}%)",
            100.0 * self.hit_rate,
            self.prompts,
            100.0 * self.chance
        )
    }
}

/// The mean of `map` over a region's pixels.
fn mean_over(map: &[f32], region: &Region) -> f64 {
    let (mut sum, mut n) = (0.0f64, 0usize);
    for (v, &inside) in map.iter().zip(&region.pixels) {
        if inside {
            sum += *v as f64;
            n += 1;
        }
    }
    sum / n.max(1) as f64
}

/// Score `model` on `images` (RGB `[3, S, S]` in [0, 1], as `PairData` holds them) with their
/// lesions; `None` when no image has two lesions or the model has no TMG.
pub fn prompt_localisation<B: Backend>(
    model: &TextGuidedModel<B>,
    tok: &TextTokenizer,
    vlm: &AmvlmConfig,
    images: &[Image2d],
    regions: &[Vec<Region>],
    device: &B::Device,
) -> anyhow::Result<Option<PromptLocalisation>> {
    model.nets.tmg.as_ref().map_or(Ok(None), |_| {
        let (mut prompts, mut hits, mut chance) = (0usize, 0usize, 0.0f64);
        for (image, lesions) in images.iter().zip(regions) {
            if lesions.len() < 2 {
                continue;
            }
            let emb = model.embed(image, device);
            for (i, lesion) in lesions.iter().enumerate() {
                let prompt = format!("{} {} lung", lesion.zone, lesion.side);
                let encoded = tok.encode(&model_text(&prompt, vlm))?;
                let map = model
                    .text_mask(&emb, &encoded, device)
                    .expect("a model with a TMG");
                let own = mean_over(&map, lesion);
                let beats_all = lesions
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .all(|(_, other)| own > mean_over(&map, other));
                prompts += 1;
                hits += beats_all as usize;
                chance += 1.0 / lesions.len() as f64;
            }
        }
        Ok((prompts > 0).then(|| PromptLocalisation {
            prompts,
            hits,
            hit_rate: hits as f64 / prompts as f64,
            chance: chance / prompts as f64,
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_over_a_region() {
        let r = Region {
            zone: "upper".into(),
            side: "left".into(),
            pixels: vec![true, false, true, false],
        };
        assert!((mean_over(&[0.2, 0.9, 0.6, 0.0], &r) - 0.4).abs() < 1e-7);
    }
}
