//! `--time-limit`: a training command that must end by a wall-clock time (a batch scheduler's
//! job limit, a lent machine's slot) stops with a checkpoint before the step (SimCVD) or epoch
//! (AMVLM) that would run past it, and the run continues with `--resume`. The clock starts when
//! the command starts, so loading the data counts.

use std::time::{Duration, Instant};

/// Parse `--time-limit`: a humantime duration (`90s`, `45m`, `2h30m`, `1h 5m`, `1.5h`) or bare seconds
/// (`600`).
pub fn parse_time_limit(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| format!("{t}: {e}"));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("{e}; give a duration such as 600 (seconds), 90s, 45m or 23h30m"))
}

/// When a training command must be done.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    at: Instant,
    limit: Duration,
}

impl Deadline {
    /// A deadline `limit` from `start` (the command's start).
    pub fn new(start: Instant, limit: Duration) -> Self {
        Deadline {
            at: start + limit,
            limit,
        }
    }

    /// Whether to stop now, at `now`, when the unit just finished took `last`: another one as
    /// long would end past the deadline. The first unit of an invocation always runs, so every
    /// invocation makes progress however short the limit.
    pub fn stop_before_next(&self, now: Instant, last: Duration) -> bool {
        now + last > self.at
    }

    /// The limit as given, for messages (`8m`, `1h 30m`).
    pub fn limit(&self) -> String {
        humantime::format_duration(self.limit).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_or_as_seconds() {
        let ok = |s: &str| parse_time_limit(s).unwrap().as_secs();
        assert_eq!(ok("600"), 600);
        assert_eq!(ok(" 90s "), 90);
        assert_eq!(ok("45m"), 2700);
        assert_eq!(ok("2h30m"), 9000);
        assert_eq!(ok("1h 5m"), 3900);
        assert_eq!(ok("1.5h"), 5400);
        assert_eq!(parse_time_limit("1500ms").unwrap().as_millis(), 1500);
        for bad in ["", "soon", "-5", "5 parsecs", "1h30"] {
            let e = parse_time_limit(bad).unwrap_err();
            assert!(e.contains("such as 600 (seconds)"), "{bad}: {e}");
        }
    }

    #[test]
    fn stops_when_another_unit_as_long_would_pass_the_deadline() {
        let t0 = Instant::now();
        let d = Deadline::new(t0, Duration::from_secs(100));
        let s = Duration::from_secs;
        // 60 s in, steps of 30 s: one more ends at 90 s
        assert!(!d.stop_before_next(t0 + s(60), s(30)));
        // 75 s in: the next would end at 105 s
        assert!(d.stop_before_next(t0 + s(75), s(30)));
        // exactly at the limit is still in time
        assert!(!d.stop_before_next(t0 + s(70), s(30)));
        // past the limit (the first step was longer than it): stop
        assert!(d.stop_before_next(t0 + s(120), s(120)));
        assert_eq!(d.limit(), "1m 40s");
    }
}
