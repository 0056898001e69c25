//! Which vector of a text the Text Mask Generator compares with its dense features (spec A6
//! step 4, `t` of `Mₛ = ⟨V, t⟩`).
//!
//! - `global` (A6, the default): the text's global embedding `t_g` (A2), the one the pre-training's
//!   global contrast (A5 (i)) aligns with the whole image.
//! - `words` (our option [P]): the L2-normalised sum of the text's word slots `W` (A2's local
//!   head), the vectors that the word-patch terms (CSS, ICL, and L_wp of `word_patch.rs`) align
//!   with image *regions*. A global embedding is trained to say which image a text belongs to, not
//!   where in it each phrase is; the words carry the where (docs/results.md, "Our addition L_wp").
//!   Only the text's own words count ([`content_slots`]): not `[SEP]`, `[UNK]`, punctuation, or
//!   the `EOF XXX` padding that A1 appends to short texts, whose twelve words (or more slots)
//!   would otherwise outweigh a three-word prompt's. A text with no word of its own (only padding or
//!   unknown words; prompts like that are refused before they get here) falls back to `global`.

use super::model::TextEmbeddings;
use crate::nets::l2_normalize;
use crate::text::SPECIAL_TOKENS;
use burn::tensor::{backend::Backend, Tensor, TensorData};

/// The text vector `t` of the TMG's similarity map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PromptEmbedding {
    /// The global text embedding `t_g` (A6).
    #[default]
    Global,
    /// `normalize(Σ_k c_k · W_k)`, c the text's own words ([`content_slots`]; ours [P]).
    Words,
}

impl PromptEmbedding {
    pub fn name(self) -> &'static str {
        match self {
            PromptEmbedding::Global => "global",
            PromptEmbedding::Words => "words",
        }
    }

    /// Parse `global` or `words`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s.trim() {
            "global" => Ok(PromptEmbedding::Global),
            "words" => Ok(PromptEmbedding::Words),
            other => Err(format!(
                "{other:?}: the prompt embedding is `global` (the text's global embedding, A6) or \
                 `words` (the sum of its own words' embeddings)"
            )),
        }
    }

    /// The unit vectors `t` `[B, D]` of a batch of encoded texts.
    pub fn vectors<B: Backend>(self, text: &TextEmbeddings<B>) -> Tensor<B, 2> {
        match self {
            PromptEmbedding::Global => text.global.clone(),
            PromptEmbedding::Words => {
                let [b, k, d] = text.words.dims();
                let mut c = Vec::with_capacity(b * k);
                for i in 0..b {
                    let strings = text.strings.get(i).map_or(&[][..], |s| &s[..]);
                    let filled = text.filled.get(i).copied().unwrap_or(false);
                    let mut keep = content_slots(strings, filled);
                    keep.resize(k, false);
                    c.extend(keep.iter().map(|&x| x as u8 as f32));
                }
                let c =
                    Tensor::<B, 3>::from_data(TensorData::new(c, [b, k, 1]), &text.words.device());
                let none = c.clone().sum_dim(1).reshape([b, 1]).equal_elem(0.0).float();
                let words = l2_normalize((text.words.clone() * c).sum_dim(1).reshape([b, d]));
                // a text without a word of its own: its global embedding
                words * (none.clone().neg() + 1.0) + text.global.clone() * none
            }
        }
    }
}

/// Which word slots are the text's own words: letters or digits, not a special token (`[SEP]`,
/// `[PAD]`, `[UNK]`: a vocabulary without an `x` reads `XXX` as `[UNK]`), and not the trailing
/// `EOF XXX` padding of A1 (compared without case). The tokenizer's length limit may cut the
/// last padding word short ("e", "eo", "x"): such a final word goes too when a whole padding word
/// precedes it or when the text `filled` the tokenizer's length (`TextEmbeddings::filled`).
pub fn content_slots(strings: &[String], filled: bool) -> Vec<bool> {
    let mut keep: Vec<bool> = strings
        .iter()
        .map(|w| !SPECIAL_TOKENS.contains(&w.as_str()) && w.chars().any(char::is_alphanumeric))
        .collect();
    let words: Vec<usize> = (0..strings.len()).filter(|&i| keep[i]).collect();
    let is_pad = |i: usize| {
        let w = strings[i].to_lowercase();
        w == "eof" || w == "xxx"
    };
    let mut end = words.len();
    if end >= 2 && (is_pad(words[end - 2]) || filled) {
        let w = strings[words[end - 1]].to_lowercase();
        if "eof".starts_with(&w) || "xxx".starts_with(&w) {
            keep[words[end - 1]] = false;
            end -= 1;
        }
    }
    while end >= 1 && is_pad(words[end - 1]) {
        keep[words[end - 1]] = false;
        end -= 1;
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    type F = Flex;

    fn strings(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    /// Three texts, three slots of width 2: `words` sums each text's own words and normalises
    /// (hand values), falling back to the global embedding for a text of padding only; `global`
    /// passes the global embedding through.
    #[test]
    fn vectors_against_hand_values() {
        let dev = Default::default();
        let words = vec![
            1.0f32, 0.0, 0.0, 1.0, 5.0, 5.0, // "upper left [SEP]"
            0.6, 0.8, -1.0, 0.0, 0.0, -1.0, // "lung eof xxx"
            3.0, 0.0, 0.0, 4.0, 9.0, 9.0, // "eof xxx [PAD]", the last slot not valid
        ];
        let t = TextEmbeddings::<F> {
            global: Tensor::from_data(
                TensorData::new(vec![0.0f32, 1., 1., 0., 0., 1.], [3, 2]),
                &dev,
            ),
            words: Tensor::from_data(TensorData::new(words, [3, 3, 2]), &dev),
            valid: Tensor::from_data(
                TensorData::new(vec![1.0f32, 1., 1., 1., 1., 1., 1., 1., 0.], [3, 3]),
                &dev,
            ),
            attention: Tensor::zeros([3, 3], &dev),
            strings: vec![
                strings("upper left [SEP]"),
                strings("lung eof xxx"),
                strings("eof xxx [PAD]"),
            ],
            filled: vec![false; 3],
        };
        let got: Vec<f32> = PromptEmbedding::Words
            .vectors(&t)
            .into_data()
            .to_vec()
            .unwrap();
        // (1, 1)/√2; (0.6, 0.8); no word of its own: the global embedding (0, 1)
        let h = 0.5f32.sqrt();
        let want = [h, h, 0.6, 0.8, 0.0, 1.0];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?}");
        }
        let global: Vec<f32> = PromptEmbedding::Global
            .vectors(&t)
            .into_data()
            .to_vec()
            .unwrap();
        assert_eq!(global, vec![0.0, 1.0, 1.0, 0.0, 0.0, 1.0]);
        assert_eq!(PromptEmbedding::parse("words"), Ok(PromptEmbedding::Words));
        assert!(PromptEmbedding::parse("mean")
            .unwrap_err()
            .contains("global"));
    }

    /// The text's own words, without `[SEP]`, punctuation and A1's trailing padding (whole, or
    /// cut short at the end), whatever the case.
    #[test]
    fn content_slots_are_the_texts_own_words() {
        // word slots as `aggregate_words` gives them: whole words, `[SEP]`, then `[PAD]` up to
        // the slot count (a word of several pieces frees slots, so a cut text has `[PAD]`s too)
        let c = |s: &str, filled: bool| content_slots(&strings(s), filled);
        assert_eq!(c("upper left lung [SEP]", false), [true, true, true, false]);
        assert_eq!(
            c("lower , right lung eof xxx eof xx [SEP] [PAD]", true),
            [true, false, true, true, false, false, false, false, false, false]
        );
        assert_eq!(
            c("lung EOF XXX e [SEP] [PAD]", true),
            [true, false, false, false, false, false]
        );
        // a vocabulary without an "x": "middle right lung" padded and cut at 20 tokens
        assert_eq!(
            c(
                "middle right lung eof [UNK] eof [UNK] eof [UNK] eof [SEP] [PAD] [PAD]",
                true
            ),
            [
                true, true, true, false, false, false, false, false, false, false, false, false,
                false
            ]
        );
        // the padding's first word cut short right after the text's own words (the text filled
        // the tokenizer's length); the same "e" in a text that did not fill it is a word
        assert_eq!(
            c("upper left lung eo [SEP] [PAD]", true),
            [true, true, true, false, false, false]
        );
        assert_eq!(
            c("vitamin e [SEP] [PAD]", false),
            [true, true, false, false]
        );
        // padding words inside a text stay
        assert_eq!(c("eof lung [SEP] [PAD]", false), [true, true, false, false]);
    }
}
