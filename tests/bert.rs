//! The text encoder against a real checkpoint: all-MiniLM-L6-v2 (a 6-layer, 384-wide BERT) is
//! tokenised and encoded here and compared with an independent NumPy forward pass
//! (`fixtures/bert/make_minilm_reference.py`, whose token ids come from the Python `tokenizers`
//! package). Needs the checkpoint: `scripts/fetch_minilm.sh`.

use burn::backend::Flex;
use burn::tensor::Tensor;
use semiseg::nets::{Bert, BertConfig, BertOutput};
use semiseg::text::{aggregate_words, to_tensors, Encoded, TextTokenizer};
use semiseg_integration::{json, minilm, one_training_at_a_time};
use serde_json::Value;

/// Largest allowed |ours − reference| for hidden states, pooled embeddings and attention.
const TOL: f32 = 1e-4;

fn reference() -> Value {
    json("bert/minilm_reference.json")
}

fn sentences(r: &Value) -> Vec<&Value> {
    r["sentences"].as_array().unwrap().iter().collect()
}

fn texts(r: &Value) -> Vec<String> {
    sentences(r)
        .iter()
        .map(|s| s["text"].as_str().unwrap().to_string())
        .collect()
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn check_encoding(tok: &TextTokenizer, r: &Value, source: &str) -> Vec<Encoded> {
    let encoded = tok.encode_batch(&texts(r)).unwrap();
    for (e, s) in encoded.iter().zip(sentences(r)) {
        assert_eq!(e.ids, u32s(&s["ids"]), "{source}: ids of {:?}", s["text"]);
        assert_eq!(
            e.mask,
            u32s(&s["mask"]),
            "{source}: mask of {:?}",
            s["text"]
        );
        let tokens: Vec<&str> = s["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(e.tokens, tokens, "{source}: tokens of {:?}", s["text"]);
    }
    encoded
}

#[test]
fn vocab_txt_tokenizer_matches_hf_ids() {
    let r = reference();
    let tok = TextTokenizer::from_vocab_file(minilm().join("vocab.txt"), true).unwrap();
    assert_eq!(tok.vocab_size(), 30522);
    assert_eq!(tok.max_len(), r["max_len"].as_u64().unwrap() as usize);
    check_encoding(&tok, &r, "vocab.txt");
}

#[test]
fn tokenizer_json_matches_hf_ids() {
    let r = reference();
    let bytes = std::fs::read(minilm().join("tokenizer.json")).unwrap();
    let tok = TextTokenizer::from_tokenizer_json(&bytes).unwrap();
    assert_eq!(tok.vocab_size(), 30522);
    check_encoding(&tok, &r, "tokenizer.json");
}

/// Load all-MiniLM-L6-v2 on the CPU backend without autodiff (so dropout is off) and encode the
/// reference sentences.
fn run_minilm(r: &Value) -> (Vec<Encoded>, BertOutput<Flex>) {
    let dir = minilm();
    let config =
        BertConfig::from_hf_config_json(&std::fs::read_to_string(dir.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(
        (
            config.vocab_size,
            config.hidden_size,
            config.num_layers,
            config.num_heads
        ),
        (30522, 384, 6, 12)
    );
    let dev = Default::default();
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let bert: Bert<Flex> = {
        // the initial weights draw from the process-wide generator before the import replaces them
        let _g = one_training_at_a_time();
        config.init(&dev).load_safetensors(&bytes).unwrap()
    };
    let tok = TextTokenizer::from_vocab_file(dir.join("vocab.txt"), true).unwrap();
    let encoded = tok.encode_batch(&texts(r)).unwrap();
    let (ids, mask) = to_tensors::<Flex>(&encoded, &dev);
    (encoded, bert.forward(ids, mask))
}

fn row(t: &Tensor<Flex, 3>, b: usize, p: usize) -> Vec<f32> {
    let h = t.dims()[2];
    t.clone()
        .slice([b..b + 1, p..p + 1, 0..h])
        .into_data()
        .to_vec()
        .unwrap()
}

#[test]
fn minilm_matches_numpy_reference() {
    let r = reference();
    let (encoded, out) = run_minilm(&r);
    let [n, l, h] = out.hidden.dims();
    assert_eq!((n, l, h), (6, 20, 384));
    let (mut d_hidden, mut d_pooled, mut d_attn) = (0f32, 0f32, 0f32);
    for (b, s) in sentences(&r).iter().enumerate() {
        for (i, p) in s["positions"].as_array().unwrap().iter().enumerate() {
            let p = p.as_u64().unwrap() as usize;
            d_hidden = d_hidden.max(max_abs_diff(
                &row(&out.hidden, b, p),
                &f32s(&s["hidden"][i]),
            ));
        }
        // sentence-transformers' mean pooling over real tokens.
        let mask = &encoded[b].mask;
        let real = mask.iter().filter(|&&m| m == 1).count() as f32;
        let mut pooled = vec![0f32; h];
        for (p, _) in mask.iter().enumerate().filter(|(_, &m)| m == 1) {
            for (acc, x) in pooled.iter_mut().zip(row(&out.hidden, b, p)) {
                *acc += x / real;
            }
        }
        d_pooled = d_pooled.max(max_abs_diff(&pooled, &f32s(&s["mean_pooled"])));
        let attn: Vec<f32> = out
            .cls_attention
            .clone()
            .slice([b..b + 1, 0..l])
            .into_data()
            .to_vec()
            .unwrap();
        d_attn = d_attn.max(max_abs_diff(&attn, &f32s(&s["cls_attention"])));
    }
    eprintln!("all-MiniLM-L6-v2 vs NumPy: max |Δ| hidden {d_hidden:.2e}, mean-pooled {d_pooled:.2e}, CLS attention {d_attn:.2e}");
    assert!(d_hidden < TOL, "hidden states differ by {d_hidden}");
    assert!(
        d_pooled < TOL,
        "mean-pooled embeddings differ by {d_pooled}"
    );
    assert!(d_attn < TOL, "CLS attention differs by {d_attn}");
}

#[test]
fn words_of_a_real_report() {
    // "Mild cardiomegaly with …": card ##iom ##ega ##ly (positions 2..6) become one word whose
    // weight is the sum of their reference attention values.
    let r = reference();
    let (encoded, out) = run_minilm(&r);
    let tokens: Vec<Vec<String>> = encoded.iter().map(|e| e.tokens.clone()).collect();
    let words = aggregate_words(out.hidden.clone(), out.cls_attention.clone(), &tokens);
    assert_eq!(words.words.dims(), [6, 19, 384]);
    let s0 = &words.strings[0];
    assert_eq!(
        &s0[..15],
        &[
            "mild",
            "cardiomegaly",
            "with",
            "small",
            "bilateral",
            "pleural",
            "effusions",
            ".",
            "[SEP]",
            "[PAD]",
            "[PAD]",
            "[PAD]",
            "[PAD]",
            "[PAD]",
            "[PAD]"
        ]
    );
    let attn = f32s(&sentences(&r)[0]["cls_attention"]);
    let weights: Vec<f32> = words
        .weights
        .clone()
        .slice([0..1, 0..19])
        .into_data()
        .to_vec()
        .unwrap();
    assert!((weights[1] - attn[2..6].iter().sum::<f32>()).abs() < TOL);
    assert!(
        (weights[8] - attn[16]).abs() < TOL,
        "[SEP] keeps its own weight"
    );
    assert!(weights[9..].iter().all(|&w| w == 0.0));
    let valid: Vec<f32> = words
        .valid
        .clone()
        .slice([0..1, 0..19])
        .into_data()
        .to_vec()
        .unwrap();
    assert_eq!(valid, [vec![1.0; 9], vec![0.0; 10]].concat());
    let cls: Vec<f32> = words
        .sentence
        .slice([0..1, 0..384])
        .into_data()
        .to_vec()
        .unwrap();
    assert!(max_abs_diff(&cls, &f32s(&sentences(&r)[0]["hidden"][0])) < TOL);
    // The long report was cut at 20 tokens, inside "emphysema": 11 words, then [SEP].
    let valid: Vec<f32> = words
        .valid
        .slice([1..2, 0..19])
        .into_data()
        .to_vec()
        .unwrap();
    assert_eq!(
        &words.strings[1][7..12],
        &["pneumothorax", "with", "subcutaneous", "em", "[SEP]"]
    );
    assert_eq!(valid.iter().sum::<f32>(), 12.0);
}
