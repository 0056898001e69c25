//! Learning-rate schedules.

/// Step decay (spec B5): `lr0 · gamma^⌊step / every⌋` (SimCVD: 0.01, 0.1, 3000).
pub fn step_lr(lr0: f64, gamma: f64, every: usize, step: usize) -> f64 {
    if every == 0 {
        return lr0;
    }
    lr0 * gamma.powi((step / every) as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        assert_eq!(step_lr(0.01, 0.1, 3000, 0), 0.01);
        assert_eq!(step_lr(0.01, 0.1, 3000, 2999), 0.01);
        assert!((step_lr(0.01, 0.1, 3000, 3000) - 0.001).abs() < 1e-15);
        assert!((step_lr(0.01, 0.1, 3000, 6000) - 0.0001).abs() < 1e-15);
    }
}
