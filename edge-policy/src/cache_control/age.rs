//! How old a response already is when a cache receives it (RFC 9111 §4.2.3), computed once,
//! at receipt: a copy with an initial age is a [`super::Stamp`] whose `stored_at` is that
//! much before its receipt ([`super::Stamp::received`]), and it ages on the cache's own clock
//! from then on.
//!
//! The times are the wall clock's (ms since the Unix epoch): `Date` was written on a wall
//! clock, so `now - Date` means something only on one, never on a monotonic clock or a
//! clock a test has moved. The Cloudflare Worker reads `Age` this way; the local edge
//! follows CloudFront, which documents no use of `Age` (its TTL comes from the directives
//! alone), and the origin sends none on L1/L2 answers, only its remaining freshness
//! (origin-cache.md, "What it says about itself"), so no layer subtracts an age twice.

use super::{facts::http_date_secs, DELTA_SECONDS_MAX};

/// RFC 9111 §5.1: `Age = delta-seconds`; "age_value ... or 0, if not available" (§4.2.3). A
/// value that is not `1*DIGIT` is not available; one too large for arithmetic counts as
/// 2^31 (§1.2.2). The first field line counts.
fn age_value_secs(age: Option<&str>) -> u64 {
    let Some(value) = age.map(|v| v.trim_matches([' ', '\t'])) else {
        return 0;
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return 0;
    }
    value
        .parse::<u64>()
        .map_or(DELTA_SECONDS_MAX, |v| v.min(DELTA_SECONDS_MAX))
}

/// The response's age when it was received, ms. RFC 9111 §4.2.3:
///
/// ```text
/// apparent_age = max(0, response_time - date_value);
/// response_delay = response_time - request_time;
/// corrected_age_value = age_value + response_delay;
/// corrected_initial_age = max(apparent_age, corrected_age_value);
/// ```
///
/// `age` and `date` are the response's first `Age` and `Date` values; `request_time_ms` when
/// the request was sent and `response_time_ms` when the answer came, both on the wall clock.
/// An invalid or missing `Date` gives no apparent age (RFC 9110 §6.6.1: the recipient
/// records the time it received the message instead).
pub fn initial_age_ms(age: Option<&str>, date: Option<&str>, request_time_ms: u64, response_time_ms: u64) -> u64 {
    let apparent_age = date
        .and_then(http_date_secs)
        .map_or(0, |date| response_time_ms.saturating_sub(date.saturating_mul(1000)));
    let response_delay = response_time_ms.saturating_sub(request_time_ms);
    let corrected_age_value = age_value_secs(age).saturating_mul(1000).saturating_add(response_delay);
    apparent_age.max(corrected_age_value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-29T12:00:00Z.
    const NOW_MS: u64 = 1_795_953_600_000;
    const NOW_DATE: &str = "Sun, 29 Nov 2026 12:00:00 GMT";

    #[test]
    fn age_is_added_to_the_time_in_flight() {
        assert_eq!(
            initial_age_ms(Some("250"), Some(NOW_DATE), NOW_MS - 40, NOW_MS),
            250_040
        );
        assert_eq!(initial_age_ms(None, Some(NOW_DATE), NOW_MS - 40, NOW_MS), 40);
    }

    #[test]
    fn an_old_date_counts_when_it_says_more_than_age() {
        let date = "Sun, 29 Nov 2026 11:55:00 GMT";
        assert_eq!(initial_age_ms(Some("10"), Some(date), NOW_MS, NOW_MS), 300_000);
        // A Date in the future (a fast origin clock) never makes a copy younger than Age says.
        let ahead = "Sun, 29 Nov 2026 12:05:00 GMT";
        assert_eq!(initial_age_ms(Some("7"), Some(ahead), NOW_MS, NOW_MS), 7_000);
    }

    #[test]
    fn invalid_values_are_not_available() {
        for age in ["", "-5", "1.5", "abc", " 2 0"] {
            assert_eq!(initial_age_ms(Some(age), None, NOW_MS, NOW_MS), 0, "{age:?}");
        }
        assert_eq!(initial_age_ms(None, Some("yesterday"), NOW_MS, NOW_MS), 0);
        assert_eq!(
            initial_age_ms(Some("99999999999999999999"), None, NOW_MS, NOW_MS),
            DELTA_SECONDS_MAX * 1000
        );
    }
}
