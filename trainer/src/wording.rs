//! Counted nouns in the CLI's messages: "1 step", "2 steps", "1 case".

/// `n` and `noun`, with an `s` unless `n` is 1 (every noun the CLI counts takes a plain `s`).
pub fn counted(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::counted;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(counted(1, "step"), "1 step");
        assert_eq!(counted(0, "step"), "0 steps");
        assert_eq!(counted(2, "case"), "2 cases");
        assert_eq!(counted(6000, "epoch"), "6000 epochs");
    }
}
