//! A user's prompt for a text-guided model (spec A6 at test time), prepared the one way the CLI
//! (`semiseg predict --prompt`) and the browser page share: refused when empty or when the model's
//! vocabulary knows none of its words, padded as the training texts were (spec A1, when the
//! model's configuration says so) and tokenised; the words the vocabulary does not know are named
//! so the page can mark them, and so are the words past the encoder's length (`max_text_len`
//! tokens, 20 in A2), which it never reads.

use crate::amvlm::AmvlmConfig;
use crate::data::pad_description;
use crate::text::{Encoded, TextTokenizer, UNK};

/// A prompt ready for the text encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub encoded: Encoded,
    /// The prompt's words (runs of letters and digits), in order.
    pub words: Vec<String>,
    /// Those of `words` that the vocabulary cannot spell (they reach the encoder as `[UNK]`).
    pub unknown: Vec<String>,
    /// Those of `words` that the vocabulary has not as a whole word but spells in pieces: the
    /// model may never have read them (a vocabulary trained on a small corpus spells any word
    /// of the letters it saw).
    pub spelt: Vec<String>,
    /// The last words of `words` that the encoder does not read (wholly or in part): the text
    /// is longer than its `max_len` tokens (`[CLS]` and `[SEP]` included).
    pub cut: Vec<String>,
}

/// Why a prompt cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PromptError {
    #[error("the prompt is empty: describe what to find, e.g. \"lesion in the lower left lung\"")]
    Empty,
    #[error(
        "none of the prompt's words ({}) is in this model's vocabulary: use the words its training \
         descriptions used (the model card names what it was trained on)",
        .0.join(", ")
    )]
    NoKnownWord(Vec<String>),
    #[error("the prompt could not be tokenised: {0}")]
    Tokenizer(String),
}

/// The text the encoder sees for `description`: LViT/AMVLM's padding of short texts when the
/// model was trained with it (`pad_short_text`, spec A1), else the text itself.
pub fn model_text(description: &str, cfg: &AmvlmConfig) -> String {
    if cfg.pad_short_text {
        pad_description(description)
    } else {
        description.to_string()
    }
}

/// The words of `text`: maximal runs of letters and digits (punctuation and spaces split them).
fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The byte offset just past each word of `text` ([`words_of`]'s words, in order).
fn word_ends(text: &str) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut inside = false;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() {
            inside = true;
        } else if inside {
            ends.push(i);
            inside = false;
        }
    }
    if inside {
        ends.push(text.len());
    }
    ends
}

/// How many of `text`'s words the encoder reads whole: the longest run of words whose text (up to
/// the word's end) tokenises into at most `max_len − 2` tokens.
fn words_read(text: &str, tok: &TextTokenizer) -> Result<usize, crate::text::TokenizerError> {
    let ends = word_ends(text);
    let room = tok.max_len().saturating_sub(2);
    // the same vocabulary without the length limit (one token a byte is the most there can be)
    let long = tok.clone().with_max_len(text.len() + 3)?;
    let mut read = 0;
    for end in ends {
        let e = long.encode(&text[..end])?;
        let tokens = e.mask.iter().filter(|&&m| m == 1).count().saturating_sub(2);
        if tokens > room {
            break;
        }
        read += 1;
    }
    Ok(read)
}

/// Check, pad and tokenise `text` for a model with this tokenizer and configuration.
pub fn prepare_prompt(
    text: &str,
    tok: &TextTokenizer,
    cfg: &AmvlmConfig,
) -> Result<Prompt, PromptError> {
    let words = words_of(text);
    if words.is_empty() {
        return Err(PromptError::Empty);
    }
    let err = |e: crate::text::TokenizerError| PromptError::Tokenizer(e.to_string());
    let (mut unknown, mut spelt) = (Vec::new(), Vec::new());
    for w in &words {
        let e = tok.encode(w).map_err(err)?;
        // [CLS] the pieces [SEP] [PAD]…
        let pieces = e.mask.iter().filter(|&&m| m == 1).count().saturating_sub(2);
        if e.tokens.iter().any(|t| t == UNK) {
            unknown.push(w.clone());
        } else if pieces > 1 {
            spelt.push(w.clone());
        }
    }
    if unknown.len() == words.len() {
        return Err(PromptError::NoKnownWord(words));
    }
    let encoded = tok.encode(&model_text(text, cfg)).map_err(err)?;
    let read = words_read(text, tok).map_err(err)?;
    Ok(Prompt {
        encoded,
        cut: words[read.min(words.len())..].to_vec(),
        words,
        unknown,
        spelt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok() -> TextTokenizer {
        TextTokenizer::from_vocab_text(
            "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nlower\nleft\nlung\nlesion\neof\nxxx\n,\n-\nl\n##u\n##n\n##g\n##s\n",
            true,
        )
        .unwrap()
        .with_max_len(24)
        .unwrap()
    }

    #[test]
    fn pads_short_prompts_as_training_did_and_names_unknown_words() {
        let cfg = AmvlmConfig::default();
        assert!(cfg.pad_short_text);
        let p = prepare_prompt("Lesion, lower-left zebra lungs", &tok(), &cfg).unwrap();
        assert_eq!(p.words, ["Lesion", "lower", "left", "zebra", "lungs"]);
        assert_eq!(p.unknown, ["zebra"]);
        // "lungs" is not a vocabulary word: l ##u ##n ##g ##s
        assert_eq!(p.spelt, ["lungs"]);
        // padding counts whitespace-separated words (4 here): 9 - 4 = 5 × " EOF XXX"
        let expected = tok()
            .encode(&format!(
                "Lesion, lower-left zebra lungs{}",
                " EOF XXX".repeat(5)
            ))
            .unwrap();
        assert_eq!(p.encoded, expected);
        assert_eq!(p.encoded.tokens[1..4], ["lesion", ",", "lower"]);
        let unpadded = AmvlmConfig {
            pad_short_text: false,
            ..AmvlmConfig::default()
        };
        let q = prepare_prompt("left lung", &tok(), &unpadded).unwrap();
        assert_eq!(q.encoded.tokens[..4], ["[CLS]", "left", "lung", "[SEP]"]);
    }

    /// A text longer than the encoder's length: the words past it are named (a word split by the
    /// limit counts as cut); a text that fits has none.
    #[test]
    fn names_the_words_past_the_encoders_length() {
        let cfg = AmvlmConfig::default();
        let short = tok().with_max_len(8).unwrap();
        // [CLS] lesion lower left lung , left l ##u … : 6 tokens fit after [CLS]
        let p = prepare_prompt("lesion lower left lung, left lungs lower", &short, &cfg).unwrap();
        assert_eq!(p.words.len(), 7);
        // lesion lower left lung , left = 6 tokens; "lungs" (5 pieces) does not fit
        assert_eq!(p.cut, ["lungs", "lower"]);
        assert_eq!(p.encoded.tokens.len(), 8);
        let p = prepare_prompt("lower left lung", &short, &cfg).unwrap();
        assert!(p.cut.is_empty(), "{:?}", p.cut);
        assert_eq!(word_ends("a, bc  d"), vec![1, 5, 8]);
    }

    #[test]
    fn refuses_empty_prompts_and_prompts_without_a_known_word() {
        let cfg = AmvlmConfig::default();
        for empty in ["", "   ", " ,. ;"] {
            assert_eq!(
                prepare_prompt(empty, &tok(), &cfg),
                Err(PromptError::Empty),
                "{empty:?}"
            );
        }
        let e = prepare_prompt("zebra crossing", &tok(), &cfg).unwrap_err();
        assert_eq!(
            e,
            PromptError::NoKnownWord(vec!["zebra".into(), "crossing".into()])
        );
        assert!(e.to_string().contains("zebra, crossing"), "{e}");
    }
}
