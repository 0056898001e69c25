//! The text side of AMVLM (spec A2): report sentences -> WordPiece tokens ([`TextTokenizer`]) ->
//! id and mask tensors ([`to_tensors`]) -> BERT ([`crate::nets::Bert`]) -> sentence and word
//! features ([`aggregate_words`]).

mod tokenizer;
mod words;

pub use tokenizer::{
    Encoded, TextTokenizer, TokenizerError, CLS, CONTINUATION, DEFAULT_MAX_LEN, MASK, PAD, SEP,
    SPECIAL_TOKENS, UNK,
};
pub use words::{aggregate_words, word_slots, Words};

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};

/// A batch of encoded texts as the encoder's inputs: ids `(B, L)` and the float mask `(B, L)`
/// (1 real token, 0 padding). Every text has the tokenizer's `max_len` tokens, so L is shared.
///
/// # Panics
/// If the texts do not all have the same length (they come from different tokenizers).
pub fn to_tensors<B: Backend>(
    batch: &[Encoded],
    device: &B::Device,
) -> (Tensor<B, 2, Int>, Tensor<B, 2>) {
    let l = batch.first().map_or(0, |e| e.ids.len());
    assert!(
        batch.iter().all(|e| e.ids.len() == l && e.mask.len() == l),
        "to_tensors: texts of different lengths (encode them with one tokenizer)"
    );
    let ids: Vec<i64> = batch
        .iter()
        .flat_map(|e| e.ids.iter().map(|&i| i as i64))
        .collect();
    let mask: Vec<f32> = batch
        .iter()
        .flat_map(|e| e.mask.iter().map(|&m| m as f32))
        .collect();
    (
        Tensor::from_data(TensorData::new(ids, [batch.len(), l]), device),
        Tensor::from_data(TensorData::new(mask, [batch.len(), l]), device),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn batch_to_tensors() {
        let tok = TextTokenizer::from_vocab_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nlung\n", true)
            .unwrap()
            .with_max_len(4)
            .unwrap();
        let batch = tok.encode_batch(&["lung", "lung lung lung"]).unwrap();
        let (ids, mask) = to_tensors::<Flex>(&batch, &Default::default());
        let ids: Vec<i64> = ids.into_data().convert::<i64>().to_vec().unwrap();
        assert_eq!(ids, [2, 4, 3, 0, 2, 4, 4, 3]);
        let mask: Vec<f32> = mask.into_data().to_vec().unwrap();
        assert_eq!(mask, [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
    }
}
