//! MGCA-style word aggregation (spec A2 "Word aggregation"): the hidden vectors of a word's
//! WordPiece pieces (`pne`, `##um`, `##onia`) are summed into one word vector, and so are their
//! last-layer `[CLS]` attention weights. `[CLS]` is slot 0, each word one slot, `[SEP]` its own
//! slot, then aggregation stops; the remaining slots are zero vectors named "[PAD]".
//!
//! It is one batched matrix product, so gradients flow to the encoder: a 0/1 grouping matrix
//! `G (B, L, L)`, with `G[b, slot, token] = 1` when the token belongs to the slot, is built from
//! the token strings, then `words = G @ hidden` and `weights = G @ attention`.
//!
//! MGCA's released code (and AMVLM's copy) zips the L tokens with the L-1 attention values
//! `attn[:, :, 0, 1:]`, so each token gets its right neighbour's weight and `[SEP]` the first
//! pad's (spec A5 "Other code quirks"). Here token `i`'s weight is `[CLS]`'s attention to token
//! `i`: the alignment the method intends.

use super::tokenizer::{CONTINUATION, PAD, SEP};
use burn::tensor::{backend::Backend, Tensor, TensorData};

/// Aggregated words of a batch (L = tokens per text).
#[derive(Debug, Clone)]
pub struct Words<B: Backend> {
    /// Slot 0 (`[CLS]`): the sentence feature, `(B, H)`.
    pub sentence: Tensor<B, 2>,
    /// Slots 1..L: the words, then `[SEP]`, then zero vectors, `(B, L-1, H)`.
    pub words: Tensor<B, 3>,
    /// Summed `[CLS]` attention of each word slot (0 for padding), `(B, L-1)`.
    pub weights: Tensor<B, 2>,
    /// 1 for real slots (the words and `[SEP]`), 0 for padding, `(B, L-1)`.
    pub valid: Tensor<B, 2>,
    /// The strings of slots 1..L (pieces joined without `##`, `"[SEP]"`, then `"[PAD]"`).
    pub strings: Vec<Vec<String>>,
}

/// Which slot each token of one text goes to (`None`: after `[SEP]`) and the strings of the
/// real slots (slot 0 first). Token 0 (`[CLS]`) is slot 0 alone; a `##` piece joins the word
/// before it; `[SEP]` takes its own slot and ends the text, as does a `[PAD]`.
pub fn word_slots(tokens: &[String]) -> (Vec<Option<usize>>, Vec<String>) {
    let mut slot_of = vec![None; tokens.len()];
    let mut strings: Vec<String> = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if i == 0 {
            slot_of[0] = Some(0);
            strings.push(token.clone());
            continue;
        }
        if token == PAD {
            break;
        }
        let piece = token.strip_prefix(CONTINUATION);
        match piece {
            // A continuation joins the current word (never [CLS], slot 0).
            Some(rest) if strings.len() > 1 => {
                strings.last_mut().unwrap().push_str(rest);
            }
            _ => strings.push(piece.unwrap_or(token).to_string()),
        }
        slot_of[i] = Some(strings.len() - 1);
        if token == SEP {
            break;
        }
    }
    (slot_of, strings)
}

/// Aggregate WordPiece tokens into words (spec A2).
///
/// - `hidden`: the encoder's last hidden states, `(B, L, H)`.
/// - `cls_attention`: `[CLS]`'s last-layer attention to each token, head-averaged, `(B, L)`.
/// - `tokens`: each text's `L` token strings, as [`super::Encoded::tokens`] gives them.
///
/// # Panics
/// If `tokens` does not have B lists of L strings (they must come from the same batch).
pub fn aggregate_words<B: Backend>(
    hidden: Tensor<B, 3>,
    cls_attention: Tensor<B, 2>,
    tokens: &[Vec<String>],
) -> Words<B> {
    let [b, l, h] = hidden.dims();
    assert_eq!(
        tokens.len(),
        b,
        "aggregate_words: {} token lists for a batch of {b}",
        tokens.len()
    );
    let device = hidden.device();
    let mut group = vec![0f32; b * l * l];
    let mut valid = vec![0f32; b * (l - 1)];
    let mut strings = Vec::with_capacity(b);
    for (n, toks) in tokens.iter().enumerate() {
        assert_eq!(
            toks.len(),
            l,
            "aggregate_words: text {n} has {} tokens, the hidden states {l}",
            toks.len()
        );
        let (slot_of, names) = word_slots(toks);
        for (t, slot) in slot_of.iter().enumerate() {
            if let Some(s) = slot {
                group[(n * l + s) * l + t] = 1.0;
            }
        }
        for v in &mut valid[n * (l - 1)..n * (l - 1) + names.len() - 1] {
            *v = 1.0;
        }
        let mut row: Vec<String> = names.into_iter().skip(1).collect();
        row.resize(l - 1, PAD.to_string());
        strings.push(row);
    }
    let group = Tensor::<B, 3>::from_data(TensorData::new(group, [b, l, l]), &device);
    let slots = group.clone().matmul(hidden); // (B, L, H)
    let weights = group
        .matmul(cls_attention.reshape([b, l, 1]))
        .reshape([b, l]);
    Words {
        sentence: slots.clone().slice([0..b, 0..1, 0..h]).reshape([b, h]),
        words: slots.slice([0..b, 1..l, 0..h]),
        weights: weights.slice([0..b, 1..l]),
        valid: Tensor::from_data(TensorData::new(valid, [b, l - 1]), &device),
        strings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::{Autodiff, Flex};

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn slots_follow_pieces_and_stop_at_sep() {
        let toks = strings(&["[CLS]", "pne", "##um", "##onia", "no", "[SEP]", "[PAD]"]);
        let (slot_of, names) = word_slots(&toks);
        let expected = [Some(0), Some(1), Some(1), Some(1), Some(2), Some(3), None];
        assert_eq!(slot_of, expected);
        assert_eq!(names, ["[CLS]", "pneumonia", "no", "[SEP]"]);
        // A stray piece right after [CLS] starts a word rather than joining [CLS].
        let (slot_of, names) = word_slots(&strings(&["[CLS]", "##s", "[SEP]"]));
        assert_eq!(slot_of, [Some(0), Some(1), Some(2)]);
        assert_eq!(names, ["[CLS]", "s", "[SEP]"]);
    }

    #[test]
    fn hand_computed_aggregation() {
        let _one = crate::testing::one_backward_at_a_time();
        type B = Autodiff<Flex>;
        let dev = Default::default();
        // Two texts, L = 5, H = 2; token t of text n has hidden (10n + t, -(10n + t)).
        let hv: Vec<f32> = (0..2)
            .flat_map(|n| (0..5).flat_map(move |t| [(10 * n + t) as f32, -((10 * n + t) as f32)]))
            .collect();
        let hidden = Tensor::<B, 3>::from_data(TensorData::new(hv, [2, 5, 2]), &dev).require_grad();
        let av = vec![0.5f32, 0.1, 0.2, 0.15, 0.05, 0.4, 0.3, 0.3, 0.0, 0.0];
        let attn = Tensor::<B, 2>::from_data(TensorData::new(av, [2, 5]), &dev).require_grad();
        let tokens = vec![
            strings(&["[CLS]", "pne", "##um", "no", "[SEP]"]),
            strings(&["[CLS]", "clear", "[SEP]", "[PAD]", "[PAD]"]),
        ];
        let w = aggregate_words(hidden.clone(), attn.clone(), &tokens);
        let v = |t: Tensor<B, 2>| t.into_data().to_vec::<f32>().unwrap();
        assert_eq!(v(w.sentence.clone()), [0.0, 0.0, 10.0, -10.0]);
        let words: Vec<f32> = w.words.clone().into_data().to_vec().unwrap();
        #[rustfmt::skip]
        let expected = [
            3.0, -3.0,  3.0, -3.0,  4.0, -4.0,  0.0, 0.0, // pne+##um = 1+2, no = 3, [SEP] = 4, pad
            11.0, -11.0,  12.0, -12.0,  0.0, 0.0,  0.0, 0.0, // clear, [SEP], pad, pad
        ];
        assert_eq!(words, expected);
        let weights = v(w.weights.clone());
        let expected = [0.3, 0.15, 0.05, 0.0, 0.3, 0.3, 0.0, 0.0];
        assert!(
            weights
                .iter()
                .zip(expected)
                .all(|(a, b)| (a - b).abs() < 1e-6),
            "{weights:?}"
        );
        assert_eq!(v(w.valid), [1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(w.strings[0], ["pneum", "no", "[SEP]", "[PAD]"]);
        assert_eq!(w.strings[1], ["clear", "[SEP]", "[PAD]", "[PAD]"]);

        // Differentiable: d(sum words)/d hidden is 1 on tokens in word slots, 0 on [CLS] and pads;
        // d(sum weights)/d attention likewise.
        let grads = (w.words.sum() + w.weights.sum()).backward();
        let gh: Vec<f32> = hidden.grad(&grads).unwrap().into_data().to_vec().unwrap();
        let on = [0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0];
        let expected: Vec<f32> = on.iter().flat_map(|&x| [x, x]).collect();
        assert_eq!(gh, expected);
        let ga: Vec<f32> = attn.grad(&grads).unwrap().into_data().to_vec().unwrap();
        assert_eq!(ga, on);
    }
}
