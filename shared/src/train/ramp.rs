//! Ramp-up weights for the unsupervised terms (spec B4).

/// SimCVD's Gaussian ramp `Ψ(t) = exp(−5(1 − t/t_max)²)`, clamped to 1 after `t_max`.
pub fn gaussian_ramp(t: usize, t_max: usize) -> f64 {
    if t_max == 0 {
        return 1.0;
    }
    let phase = 1.0 - (t.min(t_max) as f64 / t_max as f64);
    (-5.0 * phase * phase).exp()
}

/// UA-MT / SSL4MIS `sigmoid_rampup(current, length)` (used as `sigmoid_rampup(iter // 150, 40)`):
/// the same curve, evaluated on a coarser clock.
pub fn sigmoid_rampup(current: f64, length: f64) -> f64 {
    if length == 0.0 {
        return 1.0;
    }
    let phase = 1.0 - current.clamp(0.0, length) / length;
    (-5.0 * phase * phase).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        assert!((gaussian_ramp(0, 6000) - (-5.0f64).exp()).abs() < 1e-15);
        assert!((gaussian_ramp(3000, 6000) - (-1.25f64).exp()).abs() < 1e-15);
        assert_eq!(gaussian_ramp(6000, 6000), 1.0);
        assert_eq!(gaussian_ramp(9000, 6000), 1.0);
        assert!((sigmoid_rampup(20.0, 40.0) - (-1.25f64).exp()).abs() < 1e-15);
    }
}
