//! XFetch early refresh (Vattani, Chierichetti, Lowenstein: "Optimal Probabilistic Cache
//! Stampede Prevention", VLDB 2015): a reader recomputes before expiry with a probability
//! that rises as expiry nears, `now - delta * beta * ln(rand()) >= expiry`, where `delta`
//! is how long the last recomputation took. `rand` is passed in so tests choose it.

/// Whether a reader at `now_ms` should refresh an entry fresh until `fresh_until_ms`, whose
/// last load took `delta_ms`. `rand` is uniform in `(0, 1]`; `beta > 1` favours earlier refresh,
/// `beta = 0` never refreshes early.
pub fn should_refresh_early(now_ms: u64, delta_ms: u64, beta: f64, fresh_until_ms: u64, rand: f64) -> bool {
    if beta <= 0.0 || delta_ms == 0 {
        return now_ms >= fresh_until_ms;
    }
    // ln(rand) <= 0 for rand in (0, 1], so the gap is >= 0; rand = 0 would be +inf: clamp.
    let rand = rand.clamp(f64::MIN_POSITIVE, 1.0);
    let gap = -(delta_ms as f64) * beta * rand.ln();
    now_ms as f64 + gap >= fresh_until_ms as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_early_far_from_expiry_and_always_at_expiry() {
        assert!(!should_refresh_early(0, 10, 1.0, 1_000_000, 0.5));
        assert!(should_refresh_early(1_000_000, 10, 1.0, 1_000_000, 1.0));
    }

    #[test]
    fn probability_rises_as_expiry_nears() {
        // With delta 100 ms, beta 1: gap = -100 ln(r). r = e^-1 gives a gap of 100 ms.
        let r = (-1.0f64).exp();
        assert!(should_refresh_early(901, 100, 1.0, 1000, r));
        assert!(!should_refresh_early(850, 100, 1.0, 1000, r));
        // A larger beta refreshes earlier for the same draw.
        assert!(should_refresh_early(850, 100, 2.0, 1000, r));
        // Beta 0 turns it off.
        assert!(!should_refresh_early(999, 100, 0.0, 1000, 0.0001));
    }
}
