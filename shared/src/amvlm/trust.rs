//! The trust ρ of A8 (spec A8 "Trust", ours): how far the text mask may steer the pseudo labels,
//! measured on the labeled images where the answer is known.
//!
//! Each step gives a sample on the labeled images (their own descriptions, thresholded at 0.5,
//! Dice pooled over the batch): the text mask's Dice D_text, the student's D_ref on the same images
//! (already computed in the step; the teacher's would cost one more forward pass, and the two
//! differ little on images both were trained on), and D_0, the Dice of the all-foreground mask
//! `2|G|/(N + |G|)`, the best a map that ignores the image can do. The sample's skill is
//! `clip((D_text − D_0)/(D_ref − D_0), 0, 1)` (0 while the student is no better than D_0). ρ is
//! an exponential moving average of the skills, starting at 0: `ρ ← m·ρ + (1 − m)·skill`. A text
//! mask that carries nothing (any constant map) has skill 0, so ρ stays exactly 0 and the student
//! is the mean teacher (`student_loss.rs`).

/// One step's measure on the labeled images.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrustSample {
    /// Dice of the text mask of each image's own description.
    pub text_dice: f64,
    /// Dice of the student on the same images.
    pub reference_dice: f64,
    /// Dice of the all-foreground mask, `2|G|/(N + |G|)`.
    pub baseline_dice: f64,
}

impl TrustSample {
    /// `clip((D_text − D_0)/(D_ref − D_0), 0, 1)`; 0 when the reference is no better than D_0.
    pub fn ratio(&self) -> f64 {
        let gain = self.reference_dice - self.baseline_dice;
        if gain.is_nan() || gain <= 0.0 || !self.text_dice.is_finite() {
            return 0.0;
        }
        ((self.text_dice - self.baseline_dice) / gain).clamp(0.0, 1.0)
    }
}

/// `2|G|/(N + |G|)` of 0/1 targets `t`: the Dice of predicting foreground everywhere.
pub fn all_foreground_dice(t: &[f32]) -> f64 {
    let g = t.iter().filter(|&&v| v > 0.5).count();
    2.0 * g as f64 / (t.len() + g).max(1) as f64
}

/// `ρ ← m·ρ + (1 − m)·ratio`.
pub fn update_trust(rho: f64, sample: TrustSample, momentum: f64) -> f64 {
    momentum * rho + (1.0 - momentum) * sample.ratio()
}

/// Dice of probabilities `p` thresholded at 0.5 against 0/1 targets `t`, pooled over all values;
/// 1 when both are empty (they agree).
pub fn pooled_dice(p: &[f32], t: &[f32]) -> f64 {
    let (mut inter, mut np, mut nt) = (0usize, 0usize, 0usize);
    for (&p, &t) in p.iter().zip(t) {
        let (a, b) = (p > 0.5, t > 0.5);
        inter += (a && b) as usize;
        np += a as usize;
        nt += b as usize;
    }
    if np + nt == 0 {
        1.0
    } else {
        2.0 * inter as f64 / (np + nt) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_updates_and_dice_by_hand() {
        let s = |a, b| TrustSample {
            text_dice: a,
            reference_dice: b,
            baseline_dice: 0.2,
        };
        // (0.4 − 0.2)/(0.6 − 0.2)
        assert!((s(0.4, 0.6).ratio() - 0.5).abs() < 1e-12);
        assert_eq!(s(0.9, 0.6).ratio(), 1.0, "clipped");
        assert_eq!(
            s(0.1, 0.6).ratio(),
            0.0,
            "worse than the all-foreground mask"
        );
        assert_eq!(s(0.3, 0.2).ratio(), 0.0, "a reference no better than D_0");
        assert_eq!(s(f64::NAN, 0.5).ratio(), 0.0);
        // 0.9·0.2 + 0.1·0.5
        assert!((update_trust(0.2, s(0.4, 0.6), 0.9) - 0.23).abs() < 1e-12);
        // 4 of 12 foreground: 2·4/16
        let mut t = vec![0.0f32; 12];
        t[..4].fill(1.0);
        assert_eq!(all_foreground_dice(&t), 0.5);
        // P = {0, 2}, T = {2, 3}: 2·1/(2 + 2)
        assert_eq!(
            pooled_dice(&[0.9, 0.1, 0.6, 0.5], &[0.0, 0.0, 1.0, 1.0]),
            0.5
        );
        assert_eq!(pooled_dice(&[0.1, 0.2], &[0.0, 0.0]), 1.0);
    }

    /// A text mask no better than the all-foreground mask keeps ρ at 0 from its start; one that
    /// agrees as well as the student takes it towards 1.
    #[test]
    fn an_uninformative_mask_keeps_the_trust_at_zero() {
        let (mut bad, mut good) = (0.0, 0.0);
        for _ in 0..50 {
            let sample = |text_dice| TrustSample {
                text_dice,
                reference_dice: 0.8,
                baseline_dice: 0.3,
            };
            bad = update_trust(bad, sample(0.3), 0.9);
            good = update_trust(good, sample(0.8), 0.9);
        }
        assert_eq!(bad, 0.0);
        assert!(good > 0.99);
    }
}
