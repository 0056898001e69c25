//! What shows that an AMVLM model learned alignment, on held-out pairs:
//! - image→text retrieval recall@1/5 among the held-out set's distinct descriptions, and
//!   text→image recall@1/5 among its images, each next to a random scorer's (chance);
//! - word→patch localisation where lesion positions are known (`semiseg synth 2d` writes them):
//!   for each lesion phrase of a description ("upper left"), the patch most similar to the
//!   phrase's word embeddings should lie on that lesion; compared with the chance that a random
//!   patch does;
//! - word→patch similarity maps as PNG overlays for a few images.

use super::data::PairData;
use crate::run_dir::write_atomic;
use burn::tensor::{backend::Backend, Tensor};
use semiseg::amvlm::{AmvlmConfig, AmvlmEncoders};
use std::path::Path;

/// Held-out results. Recalls are fractions in [0, 1].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Evaluation {
    pub pairs: usize,
    /// Image→text recall@1 and @5, ranking the distinct descriptions.
    pub i2t: [f64; 2],
    /// Text→image recall@1 and @5, ranking the images.
    pub t2i: [f64; 2],
    /// Recall@1 and @5 of a random scorer for image→text (k over the number of distinct texts).
    pub i2t_chance: [f64; 2],
    /// Recall@1 and @5 of a random scorer for text→image (depends on how often texts repeat).
    pub t2i_chance: [f64; 2],
    pub localisation: Option<Localisation>,
}

/// Word→patch localisation of lesion phrases.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Localisation {
    /// Phrases scored (one per lesion whose phrase was found in its description).
    pub phrases: usize,
    /// Fraction whose most similar patch touches the lesion.
    pub hit_rate: f64,
    /// Mean fraction of patches that touch the lesion (a random patch's hit rate).
    pub chance: f64,
}

impl Evaluation {
    pub fn line(&self) -> String {
        let mut s = format!(
            "retrieval on {} held-out pairs: image→text R@1 {:.1}% R@5 {:.1}% (chance {:.1}% / {:.1}%), text→image R@1 {:.1}% R@5 {:.1}% (chance {:.1}% / {:.1}%)",
            self.pairs,
            100.0 * self.i2t[0],
            100.0 * self.i2t[1],
            100.0 * self.i2t_chance[0],
            100.0 * self.i2t_chance[1],
            100.0 * self.t2i[0],
            100.0 * self.t2i[1],
            100.0 * self.t2i_chance[0],
            100.0 * self.t2i_chance[1]
        );
        if let Some(l) = &self.localisation {
            s += &format!(
                "; phrase→patch hits {:.1}% of {} lesions (chance {:.1}%)",
                100.0 * l.hit_rate,
                l.phrases,
                100.0 * l.chance
            );
        }
        s
    }
}

/// Embeddings of the held-out set, on the host.
struct Embedded {
    d: usize,
    img: Vec<f32>,
    txt: Vec<f32>,
    /// Per pair: patches `[N·D]`.
    patches: Vec<Vec<f32>>,
    /// Per pair: word slots `[(L−1)·D]` and their strings.
    words: Vec<Vec<f32>>,
    strings: Vec<Vec<String>>,
}

fn host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("float tensor")
}

fn embed<B: Backend>(enc: &AmvlmEncoders<B>, data: &PairData) -> Embedded {
    let device = enc.image.pos_embed.val().device();
    let mut e = Embedded {
        d: 0,
        img: vec![],
        txt: vec![],
        patches: vec![],
        words: vec![],
        strings: vec![],
    };
    let all: Vec<usize> = (0..data.len()).collect();
    for idx in all.chunks(32) {
        let im = enc.encode_image(data.images_tensor::<B>(idx, None, &device));
        let texts: Vec<_> = idx.iter().map(|&j| data.encoded[j].clone()).collect();
        let tx = enc.encode_text(&texts, &device);
        let [b, n, d] = im.patches.dims();
        let l = tx.words.dims()[1];
        e.d = d;
        e.img.extend(host(im.global));
        e.txt.extend(host(tx.global));
        let p = host(im.patches);
        let w = host(tx.words);
        for i in 0..b {
            e.patches.push(p[i * n * d..(i + 1) * n * d].to_vec());
            e.words.push(w[i * l * d..(i + 1) * l * d].to_vec());
        }
        e.strings.extend(tx.strings);
    }
    e
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Recall@1 and @5 of retrieving, for every query i, a key whose text equals item i's text
/// (synthetic and real sets repeat descriptions, so every key with the same text counts as a
/// match). `group[i]` is the text class of item i.
fn recall(queries: &[f32], keys: &[f32], d: usize, group: &[usize]) -> [f64; 2] {
    let n = queries.len() / d;
    let mut hits = [0usize; 2];
    for i in 0..n {
        let q = &queries[i * d..(i + 1) * d];
        let sims: Vec<f32> = (0..n).map(|j| dot(q, &keys[j * d..(j + 1) * d])).collect();
        let best_match = (0..n)
            .filter(|&j| group[j] == group[i])
            .map(|j| sims[j])
            .fold(f32::NEG_INFINITY, f32::max);
        // rank of the best match = number of non-matching keys scored strictly higher
        let rank = (0..n)
            .filter(|&j| group[j] != group[i] && sims[j] > best_match)
            .count();
        hits[0] += (rank < 1) as usize;
        hits[1] += (rank < 5) as usize;
    }
    [hits[0] as f64 / n as f64, hits[1] as f64 / n as f64]
}

/// Image→text recall@1 and @5 among distinct texts: identical descriptions are one candidate
/// (in evaluation they embed identically), so the rank of query i is the number of other text
/// classes whose best key scores strictly higher than the best key of i's class.
fn recall_distinct(queries: &[f32], keys: &[f32], d: usize, group: &[usize]) -> [f64; 2] {
    let n = queries.len() / d;
    let classes = group.iter().max().map_or(0, |m| m + 1);
    let mut hits = [0usize; 2];
    for i in 0..n {
        let q = &queries[i * d..(i + 1) * d];
        let mut best = vec![f32::NEG_INFINITY; classes];
        for j in 0..n {
            best[group[j]] = best[group[j]].max(dot(q, &keys[j * d..(j + 1) * d]));
        }
        let own = best[group[i]];
        let rank = best.iter().filter(|&&b| b > own).count();
        hits[0] += (rank < 1) as usize;
        hits[1] += (rank < 5) as usize;
    }
    [hits[0] as f64 / n as f64, hits[1] as f64 / n as f64]
}

/// Text classes: items with identical texts share a class.
fn text_groups(texts: &[String]) -> Vec<usize> {
    let mut seen: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    texts
        .iter()
        .map(|t| {
            let k = seen.len();
            *seen.entry(t.as_str()).or_insert(k)
        })
        .collect()
}

/// Recall@k of a random scorer: for a query whose class has m members among n keys, a random
/// ordering puts a match in the top k with probability 1 − C(n−m, k)/C(n, k).
fn chance_recall(group: &[usize], k: usize) -> f64 {
    let n = group.len();
    let mut total = 0.0;
    for g in group {
        let m = group.iter().filter(|h| *h == g).count();
        // P(no match in the first k of a random permutation) = Π_{t<k} (n−m−t)/(n−t)
        let miss: f64 = (0..k.min(n))
            .map(|t| (n.saturating_sub(m + t)) as f64 / (n - t) as f64)
            .product();
        total += 1.0 - miss;
    }
    total / n as f64
}

/// Similarity of each patch to a unit vector `v`: `[N]`.
pub fn similarity_map(patches: &[f32], v: &[f32]) -> Vec<f32> {
    patches.chunks(v.len()).map(|p| dot(p, v)).collect()
}

/// The mean of the word slots `slots`, L2-normalised.
fn phrase_vector(words: &[f32], slots: &[usize], d: usize) -> Vec<f32> {
    let mut v = vec![0.0f32; d];
    for &s in slots {
        v.iter_mut()
            .zip(&words[s * d..(s + 1) * d])
            .for_each(|(a, b)| *a += b);
    }
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// The first position where the slot strings contain `phrase` word by word (case-insensitive).
fn find_phrase(strings: &[String], phrase: &[&str]) -> Option<Vec<usize>> {
    (0..strings.len().saturating_sub(phrase.len() - 1)).find_map(|i| {
        phrase
            .iter()
            .enumerate()
            .all(|(k, w)| strings[i + k].eq_ignore_ascii_case(w))
            .then(|| (i..i + phrase.len()).collect())
    })
}

/// Evaluate `enc` (inference backend) on `data`; writes `dir/metrics.json` and overlays in
/// `dir/maps/`.
pub fn evaluate<B: Backend>(
    enc: &AmvlmEncoders<B>,
    cfg: &AmvlmConfig,
    data: &PairData,
    dir: &Path,
) -> anyhow::Result<Evaluation> {
    std::fs::create_dir_all(dir.join("maps"))?;
    let e = embed(enc, data);
    let n = data.len();
    let groups = text_groups(&data.texts);
    let grid = cfg.image_size / cfg.patch_size;
    let localisation = data.regions.as_ref().map(|regions| {
        let (mut phrases, mut hits, mut chance) = (0usize, 0usize, 0.0f64);
        for (i, lesions) in regions.iter().enumerate() {
            for r in lesions {
                let Some(slots) = find_phrase(&e.strings[i], &[&r.zone, &r.side]) else {
                    continue;
                };
                let v = phrase_vector(&e.words[i], &slots, e.d);
                let map = similarity_map(&e.patches[i], &v);
                let best = (0..map.len())
                    .max_by(|&a, &b| map[a].total_cmp(&map[b]))
                    .unwrap_or(0);
                let touched = r.patches_touched(grid, cfg.patch_size, data.size);
                phrases += 1;
                hits += touched[best] as usize;
                chance += touched.iter().filter(|t| **t).count() as f64 / touched.len() as f64;
            }
        }
        Localisation {
            phrases,
            hit_rate: hits as f64 / phrases.max(1) as f64,
            chance: chance / phrases.max(1) as f64,
        }
    });
    let ev = Evaluation {
        pairs: n,
        i2t: recall_distinct(&e.img, &e.txt, e.d, &groups),
        t2i: recall(&e.txt, &e.img, e.d, &groups),
        i2t_chance: {
            let classes = groups.iter().max().map_or(1, |m| m + 1) as f64;
            [(1.0 / classes).min(1.0), (5.0 / classes).min(1.0)]
        },
        t2i_chance: [chance_recall(&groups, 1), chance_recall(&groups, 5)],
        localisation,
    };
    // Overlays for the first few images: each lesion phrase, or the first words of the text.
    for i in 0..n.min(4) {
        let phrases: Vec<Vec<usize>> = match data.regions.as_ref() {
            Some(r) => r[i]
                .iter()
                .filter_map(|r| find_phrase(&e.strings[i], &[&r.zone, &r.side]))
                .collect(),
            None => (0..e.strings[i].len())
                .filter(|&s| {
                    e.strings[i][s].chars().all(|c| c.is_alphabetic()) && e.strings[i][s].len() > 3
                })
                .take(3)
                .map(|s| vec![s])
                .collect(),
        };
        for slots in phrases {
            let v = phrase_vector(&e.words[i], &slots, e.d);
            let map = similarity_map(&e.patches[i], &v);
            let label: Vec<&str> = slots.iter().map(|&s| e.strings[i][s].as_str()).collect();
            let stem = Path::new(&data.keys[i])
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| format!("{i}"));
            let path = dir
                .join("maps")
                .join(format!("{stem}_{}.png", label.join("_")));
            super::overlay::save_overlay(&data.images[i], data.size, &map, grid, &path)?;
        }
    }
    write_atomic(
        &dir.join("metrics.json"),
        serde_json::to_string_pretty(&ev)?.as_bytes(),
    )?;
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_counts_ranks_and_repeated_texts_match() {
        // 3 queries, D = 2; query 0 matches key 0, query 1 prefers key 2, query 2 matches key 2.
        let q = [1.0, 0.0, 0.0, 1.0, 0.6, 0.8];
        let k = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
        // query 1 (0,1): own key 1 (1,0) → 0; key 2 → 1 is better: rank 1.
        assert_eq!(recall(&q, &k, 2, &[0, 1, 2]), [2.0 / 3.0, 1.0]);
        // If items 1 and 2 share a text, key 2 is a match for query 1.
        assert_eq!(recall(&q, &k, 2, &[0, 1, 1]), [1.0, 1.0]);
        // Among distinct texts: keys 1 and 2 are one class for query 1; its best member is key 2
        // (0.8 > 0), above class 0 (0.6): rank 0. Query 2 (0.6, 0.8): class 1's best is key 2
        // (1.0) > class 0 (0.6): rank 0.
        assert_eq!(recall_distinct(&q, &k, 2, &[0, 1, 1]), [1.0, 1.0]);
        // Three distinct texts: query 1 ranks key 2's class (0.8) above its own (0): rank 1.
        assert_eq!(recall_distinct(&q, &k, 2, &[0, 1, 2]), [2.0 / 3.0, 1.0]);
        // A text repeated six times is one candidate: item 0 (text A) is closer to text B, whose six
        // copies would push A to rank 6 (an R@5 miss) if each copy counted; among distinct texts A
        // ranks second (an R@5 hit). Items 1..6 (text B) rank A above B: rank 1 too.
        let mut q6 = vec![1.0, 0.0];
        let mut k6 = vec![0.5, 0.5];
        for _ in 0..6 {
            q6.extend([0.0, 1.0]);
            k6.extend([1.0, 0.0]);
        }
        let g6 = [0, 1, 1, 1, 1, 1, 1];
        assert_eq!(recall_distinct(&q6, &k6, 2, &g6), [0.0, 1.0]);
        assert_eq!(recall(&q6, &k6, 2, &g6), [0.0, 6.0 / 7.0]);
        let g = text_groups(&["a".into(), "b".into(), "a".into()]);
        assert_eq!(g, vec![0, 1, 0]);
        // Chance: distinct texts among 4 → k/n; two classes of 2 among 4 at k = 1 → 1/2.
        assert!((chance_recall(&[0, 1, 2, 3], 1) - 0.25).abs() < 1e-12);
        assert!((chance_recall(&[0, 0, 1, 1], 1) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn phrases_are_found_word_by_word() {
        let s: Vec<String> = ["bilateral", "upper", "left", "lung", "[SEP]"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(find_phrase(&s, &["Upper", "left"]), Some(vec![1, 2]));
        assert_eq!(find_phrase(&s, &["lower", "left"]), None);
    }
}
