//! The text encoder's tokenizer (spec A2 "Tokenisation"): BERT's WordPiece pipeline, built in code
//! with the `tokenizers` crate: BertNormalizer (clean text, Chinese characters, optional lower
//! casing, accents stripped when lower casing, as HF's `BertTokenizer`), BertPreTokenizer
//! (whitespace and punctuation), WordPiece (`##` continuation, `[UNK]`), `[CLS] … [SEP]`, then
//! truncation and padding to `max_len` (20 in AMVLM).
//!
//! Encoding runs one text at a time on the calling thread (the crate's batch paths use rayon,
//! and a browser has no threads).

use std::collections::HashMap;
use std::path::Path;
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{
    AddedToken, ModelWrapper, PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer,
    TruncationDirection, TruncationParams, TruncationStrategy,
};

/// The padding token; its id is the padding id.
pub const PAD: &str = "[PAD]";
/// The unknown-word token.
pub const UNK: &str = "[UNK]";
/// The sentence token put first; its hidden state is the sentence feature (spec A2).
pub const CLS: &str = "[CLS]";
/// The separator put after the text.
pub const SEP: &str = "[SEP]";
/// The masked-language-model token (in BERT vocabularies; not used for encoding).
pub const MASK: &str = "[MASK]";
/// BERT's special tokens in the order [`TextTokenizer::train`] gives them ids 0..5.
pub const SPECIAL_TOKENS: [&str; 5] = [PAD, UNK, CLS, SEP, MASK];
/// The prefix of a WordPiece continuation piece ("pneumonia" -> "pne", "##um", "##onia").
pub const CONTINUATION: &str = "##";
/// AMVLM's `max_length` (spec A2).
pub const DEFAULT_MAX_LEN: usize = 20;

/// What can go wrong building or using a [`TextTokenizer`].
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("cannot read the vocabulary {path}: {cause}")]
    Io { path: String, cause: std::io::Error },
    #[error("the vocabulary is empty; a BERT vocab.txt has one token per line, [PAD] [UNK] [CLS] [SEP] among them")]
    EmptyVocab,
    #[error("the vocabulary has no `{0}` token; a BERT vocabulary needs [PAD], [UNK], [CLS] and [SEP] (train one with `TextTokenizer::train` or use the checkpoint's vocab.txt)")]
    MissingSpecialToken(&'static str),
    #[error("tokenizer.json is not a Hugging Face tokenizer file: {0}")]
    BadTokenizerJson(String),
    #[error("tokenizer.json holds a {0} model; the text encoder needs a WordPiece (BERT) tokenizer, whose `##` pieces the word aggregation relies on")]
    NotWordPiece(&'static str),
    #[error("tokenizer.json's WordPiece marks continuation pieces with {0:?}; the word aggregation expects \"##\" (BERT's)")]
    Prefix(String),
    #[error("max_len {0} is too small: it must leave room for [CLS], [SEP] and at least one token (3 or more)")]
    MaxLenTooSmall(usize),
    #[error("no texts to train the vocabulary on; give at least one report sentence")]
    NoTrainingTexts,
    #[error("vocabulary size {0} is too small: it must exceed the 5 special tokens [PAD] [UNK] [CLS] [SEP] [MASK]")]
    VocabTooSmall(usize),
    #[error("the tokenizers crate failed: {0}")]
    Tokenizers(String),
}

fn tk_err(e: tokenizers::Error) -> TokenizerError {
    TokenizerError::Tokenizers(e.to_string())
}

/// One encoded text, always `max_len` long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Token ids: `[CLS]`, the pieces, `[SEP]`, then `[PAD]`s.
    pub ids: Vec<u32>,
    /// Attention mask: 1 for real tokens (`[CLS]` and `[SEP]` included), 0 for padding.
    pub mask: Vec<u32>,
    /// The token strings (continuation pieces keep their `##`).
    pub tokens: Vec<String>,
}

/// A BERT WordPiece tokenizer that always gives `max_len` tokens.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    max_len: usize,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("vocab_size", &self.vocab_size())
            .field("max_len", &self.max_len)
            .finish()
    }
}

/// The ids of [PAD] [UNK] [CLS] [SEP], or which is missing.
fn special_ids(vocab: &HashMap<String, u32>) -> Result<[u32; 4], TokenizerError> {
    let mut ids = [0; 4];
    for (id, token) in ids.iter_mut().zip([PAD, UNK, CLS, SEP]) {
        *id = *vocab
            .get(token)
            .ok_or(TokenizerError::MissingSpecialToken(token))?;
    }
    Ok(ids)
}

/// BertNormalizer as HF's `BertTokenizer` sets it up (accents stripped iff lower casing).
fn normalizer(lowercase: bool) -> BertNormalizer {
    BertNormalizer::new(true, true, None, lowercase)
}

/// On wasm, keep the `tokenizers` crate off rayon (it would fall back to the calling thread
/// anyway; this makes it explicit and skips the pool set-up).
fn single_threaded() {
    #[cfg(target_arch = "wasm32")]
    tokenizers::utils::parallelism::set_parallelism(false);
}

impl TextTokenizer {
    /// From the text of a BERT `vocab.txt` (one token per line, the line number is the id).
    pub fn from_vocab_text(vocab: &str, lowercase: bool) -> Result<Self, TokenizerError> {
        let vocab = WordPiece::read_bytes(vocab.as_bytes()).map_err(tk_err)?;
        if vocab.is_empty() {
            return Err(TokenizerError::EmptyVocab);
        }
        let [_, _, cls, sep] = special_ids(&vocab.clone().into_iter().collect())?;
        let model = WordPiece::builder()
            .vocab(vocab)
            .unk_token(UNK.into())
            .continuing_subword_prefix(CONTINUATION.into())
            .build()
            .map_err(tk_err)?;
        let mut inner = Tokenizer::new(model);
        inner
            .with_normalizer(Some(normalizer(lowercase)))
            .with_pre_tokenizer(Some(BertPreTokenizer))
            .with_post_processor(Some(BertProcessing::new(
                (SEP.into(), sep),
                (CLS.into(), cls),
            )))
            .with_decoder(Some(WordPieceDecoder::new(CONTINUATION.into(), true)));
        // As HF's BertTokenizerFast: the special tokens are matched whole in the input text.
        let specials: Vec<AddedToken> = SPECIAL_TOKENS
            .iter()
            .filter(|t| inner.token_to_id(t).is_some())
            .map(|t| AddedToken::from(*t, true))
            .collect();
        inner.add_special_tokens(&specials);
        Self::wrap(inner, DEFAULT_MAX_LEN)
    }

    /// From a BERT `vocab.txt` file.
    pub fn from_vocab_file(
        path: impl AsRef<Path>,
        lowercase: bool,
    ) -> Result<Self, TokenizerError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|cause| TokenizerError::Io {
            path: path.display().to_string(),
            cause,
        })?;
        Self::from_vocab_text(&text, lowercase)
    }

    /// From a Hugging Face `tokenizer.json` (its normaliser, pre-tokeniser, WordPiece model and
    /// post-processor are kept; truncation and padding are replaced by `max_len`).
    pub fn from_tokenizer_json(bytes: &[u8]) -> Result<Self, TokenizerError> {
        let mut inner = Tokenizer::from_bytes(bytes)
            .map_err(|e| TokenizerError::BadTokenizerJson(e.to_string()))?;
        match inner.get_model() {
            ModelWrapper::WordPiece(wp) if wp.continuing_subword_prefix != CONTINUATION => {
                return Err(TokenizerError::Prefix(wp.continuing_subword_prefix.clone()))
            }
            ModelWrapper::WordPiece(_) => {}
            ModelWrapper::BPE(_) => return Err(TokenizerError::NotWordPiece("BPE")),
            ModelWrapper::WordLevel(_) => return Err(TokenizerError::NotWordPiece("WordLevel")),
            ModelWrapper::Unigram(_) => return Err(TokenizerError::NotWordPiece("Unigram")),
        }
        let [_, _, cls, sep] = special_ids(&inner.get_vocab(true))?;
        if inner.get_post_processor().is_none() {
            inner.with_post_processor(Some(BertProcessing::new(
                (SEP.into(), sep),
                (CLS.into(), cls),
            )));
        }
        Self::wrap(inner, DEFAULT_MAX_LEN)
    }

    /// Learn a vocabulary of at most `vocab_size` tokens from `texts`, deterministically: the
    /// texts are normalised and split exactly as they will be encoded (BERT normaliser and
    /// pre-tokenizer of the `tokenizers` crate); the vocabulary is the special tokens ([PAD] = 0,
    /// [UNK], [CLS], [SEP], [MASK]), every character seen (as a word start and as a `##`
    /// continuation, so any word of the training texts can be spelled), then whole words by
    /// decreasing frequency (ties alphabetical) until `vocab_size`. (The crate's own WordPiece
    /// trainer breaks ties by hash-map order, so two runs with one seed got different ids.)
    pub fn train<S: AsRef<str> + Send + Sync>(
        texts: &[S],
        vocab_size: usize,
        lowercase: bool,
    ) -> Result<Self, TokenizerError> {
        use std::collections::{BTreeMap, BTreeSet};
        use tokenizers::{
            NormalizedString, Normalizer, OffsetReferential, OffsetType, PreTokenizedString,
            PreTokenizer,
        };
        if texts.is_empty() {
            return Err(TokenizerError::NoTrainingTexts);
        }
        if vocab_size <= SPECIAL_TOKENS.len() {
            return Err(TokenizerError::VocabTooSmall(vocab_size));
        }
        let norm = normalizer(lowercase);
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut chars: BTreeSet<char> = BTreeSet::new();
        for text in texts {
            let mut n = NormalizedString::from(text.as_ref());
            norm.normalize(&mut n).map_err(tk_err)?;
            let mut p = PreTokenizedString::from(n);
            BertPreTokenizer.pre_tokenize(&mut p).map_err(tk_err)?;
            for (word, _, _) in p.get_splits(OffsetReferential::Original, OffsetType::Byte) {
                chars.extend(word.chars());
                *counts.entry(word.to_string()).or_default() += 1;
            }
        }
        let mut vocab: Vec<String> = SPECIAL_TOKENS.iter().map(|t| t.to_string()).collect();
        vocab.extend(chars.iter().map(|c| c.to_string()));
        vocab.extend(chars.iter().map(|c| format!("{CONTINUATION}{c}")));
        if vocab.len() > vocab_size {
            return Err(TokenizerError::VocabTooSmall(vocab_size));
        }
        let mut words: Vec<(&String, &usize)> = counts
            .iter()
            .filter(|(w, _)| w.chars().count() > 1)
            .collect();
        words.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let room = vocab_size - vocab.len();
        vocab.extend(words.into_iter().take(room).map(|(w, _)| w.clone()));
        Self::from_vocab_text(&(vocab.join("\n") + "\n"), lowercase)
    }

    /// Set truncation and padding to `max_len` and check the special tokens.
    fn wrap(mut inner: Tokenizer, max_len: usize) -> Result<Self, TokenizerError> {
        if max_len < 3 {
            return Err(TokenizerError::MaxLenTooSmall(max_len));
        }
        let [pad, ..] = special_ids(&inner.get_vocab(true))?;
        inner
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(tk_err)?;
        inner.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::Fixed(max_len),
            direction: PaddingDirection::Right,
            pad_to_multiple_of: None,
            pad_id: pad,
            pad_type_id: 0,
            pad_token: PAD.into(),
        }));
        single_threaded();
        Ok(Self { inner, max_len })
    }

    /// The same tokenizer with another length (at least 3).
    pub fn with_max_len(self, max_len: usize) -> Result<Self, TokenizerError> {
        Self::wrap(self.inner, max_len)
    }

    /// Tokens per encoded text.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Rows the word-embedding table needs: the largest id + 1.
    pub fn vocab_size(&self) -> usize {
        self.inner
            .get_vocab(true)
            .values()
            .max()
            .map_or(0, |&m| m as usize + 1)
    }

    /// The vocabulary as `vocab.txt` text: token `i` on line `i` (an empty line for an unused id).
    pub fn vocab_text(&self) -> String {
        vocab_text(&self.inner.get_vocab(true))
    }

    /// The id of a token string, if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The Hugging Face `tokenizer.json` text of this tokenizer (for the browser or a later run).
    pub fn to_json(&self) -> Result<String, TokenizerError> {
        self.inner.to_string(false).map_err(tk_err)
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }

    /// `[CLS] pieces… [SEP] [PAD]…`, exactly `max_len` tokens (long texts are cut before `[SEP]`).
    pub fn encode(&self, text: &str) -> Result<Encoded, TokenizerError> {
        let enc = self.inner.encode(text, true).map_err(tk_err)?;
        Ok(Encoded {
            ids: enc.get_ids().to_vec(),
            mask: enc.get_attention_mask().to_vec(),
            tokens: enc.get_tokens().to_vec(),
        })
    }

    /// [`TextTokenizer::encode`] for each text, in order, on this thread.
    pub fn encode_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Encoded>, TokenizerError> {
        texts.iter().map(|t| self.encode(t.as_ref())).collect()
    }
}

/// `vocab.txt` text from a token -> id map.
fn vocab_text(vocab: &HashMap<String, u32>) -> String {
    let n = vocab.values().max().map_or(0, |&m| m as usize + 1);
    let mut lines = vec![""; n];
    for (token, &id) in vocab {
        lines[id as usize] = token;
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-made vocabulary: specials at 0..5, then words and pieces.
    const VOCAB: &str = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nlung\nis\nclear\npne\n##um\n##onia\n.\n,\nno\nleft\nLeft\n";

    fn tok(lowercase: bool) -> TextTokenizer {
        TextTokenizer::from_vocab_text(VOCAB, lowercase).unwrap()
    }

    #[test]
    fn splits_a_word_into_pieces_and_pads() {
        let e = tok(true).encode("Pneumonia, no.").unwrap();
        let real = ["[CLS]", "pne", "##um", "##onia", ",", "no", ".", "[SEP]"];
        assert_eq!(&e.tokens[..8], &real);
        assert_eq!(&e.ids[..8], &[2, 9, 10, 11, 13, 14, 12, 3]);
        assert_eq!(e.ids.len(), 20);
        assert!(e.ids[8..].iter().all(|&i| i == 0));
        assert!(e.tokens[8..].iter().all(|t| t == "[PAD]"));
        assert_eq!(e.mask, [vec![1; 8], vec![0; 12]].concat());
    }

    #[test]
    fn lowercase_flag() {
        // lower-cased: "Left" -> "left" (15); cased: "Left" stays (16), "Lung" is unknown.
        assert_eq!(
            &tok(true).encode("Left Lung").unwrap().ids[..4],
            &[2, 15, 6, 3]
        );
        assert_eq!(
            &tok(false).encode("Left Lung").unwrap().ids[..4],
            &[2, 16, 1, 3]
        );
    }

    #[test]
    fn truncates_to_max_len_keeping_sep() {
        let long = ["the lung is clear"; 10].join(" "); // 40 words
        let e = tok(true).encode(&long).unwrap();
        assert_eq!(e.ids.len(), 20);
        assert_eq!(e.mask, vec![1; 20]);
        assert_eq!(e.tokens[0], "[CLS]");
        assert_eq!(e.tokens[19], "[SEP]");
        assert_eq!(&e.ids[1..5], &[5, 6, 7, 8]);
        let short = tok(true).with_max_len(4).unwrap().encode(&long).unwrap();
        assert_eq!(short.tokens, ["[CLS]", "the", "lung", "[SEP]"]);
        assert!(matches!(
            tok(true).with_max_len(2),
            Err(TokenizerError::MaxLenTooSmall(2))
        ));
    }

    #[test]
    fn batch_and_special_tokens_in_text() {
        let t = tok(true);
        let b = t.encode_batch(&["no", "the lung [SEP]"]).unwrap();
        assert_eq!(&b[0].ids[..3], &[2, 14, 3]);
        assert_eq!(&b[1].ids[..5], &[2, 5, 6, 3, 3]);
        assert_eq!(&b[1].mask[..6], &[1, 1, 1, 1, 1, 0]);
    }

    #[test]
    fn vocab_round_trip_and_size() {
        let t = tok(true);
        assert_eq!(t.vocab_size(), 17);
        assert_eq!(t.vocab_text(), VOCAB);
        let json = t.to_json().unwrap();
        let back = TextTokenizer::from_tokenizer_json(json.as_bytes()).unwrap();
        let text = "Pneumonia in the left lung.";
        assert_eq!(back.encode(text).unwrap(), t.encode(text).unwrap());
        let other = json.replace(
            r###""continuing_subword_prefix":"##""###,
            r#""continuing_subword_prefix":"@@""#,
        );
        assert_ne!(other, json);
        assert!(matches!(
            TextTokenizer::from_tokenizer_json(other.as_bytes()),
            Err(TokenizerError::Prefix(p)) if p == "@@"
        ));
    }

    #[test]
    fn vocab_without_specials_is_refused() {
        let err = TextTokenizer::from_vocab_text("[PAD]\n[UNK]\n[SEP]\nlung\n", true).unwrap_err();
        assert!(
            matches!(err, TokenizerError::MissingSpecialToken("[CLS]")),
            "{err}"
        );
        assert!(err.to_string().contains("[CLS]"));
        assert!(matches!(
            TextTokenizer::from_vocab_text("", true),
            Err(TokenizerError::EmptyVocab)
        ));
        assert!(matches!(
            TextTokenizer::from_tokenizer_json(b"{not json"),
            Err(TokenizerError::BadTokenizerJson(_))
        ));
        assert!(matches!(
            TextTokenizer::from_vocab_file("/nonexistent/vocab.txt", true),
            Err(TokenizerError::Io { .. })
        ));
    }

    #[test]
    fn trains_a_vocabulary() {
        let texts = [
            "Pneumonia in the left lower lobe.",
            "No pneumonia, the lungs are clear.",
            "Small pleural effusion on the left.",
            "Pneumothorax on the right.",
        ];
        let t = TextTokenizer::train(&texts, 120, true).unwrap();
        let vocab = t.vocab_text();
        let lines: Vec<&str> = vocab.lines().collect();
        assert_eq!(&lines[..5], &SPECIAL_TOKENS);
        assert!(t.vocab_size() <= 120, "{}", t.vocab_size());
        // Deterministic: training again gives the same ids.
        for _ in 0..3 {
            assert_eq!(
                TextTokenizer::train(&texts, 120, true)
                    .unwrap()
                    .vocab_text(),
                vocab
            );
        }
        // Frequent whole words are single tokens.
        assert!(lines.contains(&"pneumonia") && lines.contains(&"left"));
        let e = t.encode("pneumonia on the left").unwrap();
        assert_eq!(e.tokens[0], "[CLS]");
        assert!(!e.tokens.iter().any(|s| s == "[UNK]"), "{:?}", e.tokens);
        let sep = e.tokens.iter().position(|s| s == "[SEP]").unwrap();
        // Every piece after a word's first is a continuation.
        let words: String = e.tokens[1..sep]
            .iter()
            .map(|s| match s.strip_prefix("##") {
                Some(rest) => rest.to_string(),
                None => format!(" {s}"),
            })
            .collect();
        assert_eq!(words, " pneumonia on the left");
        assert!(matches!(
            TextTokenizer::train::<&str>(&[], 100, true),
            Err(TokenizerError::NoTrainingTexts)
        ));
        assert!(matches!(
            TextTokenizer::train(&texts, 5, true),
            Err(TokenizerError::VocabTooSmall(5))
        ));
    }
}
