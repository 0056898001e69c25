//! Overlap metrics (medpy `dc`, `jc`; spec B7).

fn counts(pred: &[bool], gt: &[bool]) -> (usize, usize, usize) {
    assert_eq!(pred.len(), gt.len(), "masks of different sizes");
    pred.iter().zip(gt).fold((0, 0, 0), |(i, p, g), (&a, &b)| {
        (i + (a && b) as usize, p + a as usize, g + b as usize)
    })
}

/// Dice `2|A∩B| / (|A| + |B|)`; 0 when both masks are empty (medpy).
pub fn dice(pred: &[bool], gt: &[bool]) -> f64 {
    let (inter, p, g) = counts(pred, gt);
    if p + g == 0 {
        0.0
    } else {
        2.0 * inter as f64 / (p + g) as f64
    }
}

/// Jaccard `|A∩B| / |A∪B|`; 0 when both masks are empty.
pub fn jaccard(pred: &[bool], gt: &[bool]) -> f64 {
    let (inter, p, g) = counts(pred, gt);
    let union = p + g - inter;
    if union == 0 {
        0.0
    } else {
        inter as f64 / union as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        let a = [true, true, true, false, false];
        let b = [false, true, true, true, false];
        assert!((dice(&a, &b) - 4.0 / 6.0).abs() < 1e-12);
        assert!((jaccard(&a, &b) - 2.0 / 4.0).abs() < 1e-12);
        assert_eq!(dice(&a, &a), 1.0);
        assert_eq!(dice(&[false; 3], &[false; 3]), 0.0);
    }
}
