//! The bill per arm, by traffic tier, from the measured ratios and the dated price table
//! (`bench/prices.json`), and the break-even: the origin cost per miss above which the
//! handler pays for itself.
//!
//! The model, per viewer request: CloudFront's request and transfer price; Lambda@Edge's
//! request and duration price for each viewer-request invocation (every request whose
//! behaviour associates it, hits included) and each origin-response invocation (every origin
//! request whose behaviour associates it); the origin Lambda's request and GB-second price for
//! each invocation, at the measured billed duration; DynamoDB on-demand units. Free tiers are
//! ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The price table (`bench/prices.json`): USD, on-demand, dated.
#[derive(Debug, Clone, Deserialize)]
pub struct Prices {
    /// When the prices were recorded.
    pub date: String,
    /// CloudFront HTTPS requests, per 10,000.
    pub cloudfront_https_per_10k_requests: f64,
    /// CloudFront data transfer out, per GB.
    pub cloudfront_transfer_out_per_gb: f64,
    /// Lambda@Edge requests, per million.
    pub lambda_edge_per_million_requests: f64,
    /// Lambda@Edge duration, per GB-second.
    pub lambda_edge_per_gb_second: f64,
    /// The edge function's memory, MB.
    pub lambda_edge_memory_mb: f64,
    /// Billed ms per Lambda@Edge invocation.
    pub lambda_edge_billed_ms_per_invocation: f64,
    /// Lambda requests, per million.
    pub lambda_per_million_requests: f64,
    /// Lambda arm64 duration, per GB-second.
    pub lambda_arm64_per_gb_second: f64,
    /// The origin's memory, MB.
    pub origin_memory_mb: f64,
    /// DynamoDB on-demand read request units, per million.
    pub dynamodb_on_demand_per_million_read_units: f64,
    /// DynamoDB on-demand write request units, per million.
    pub dynamodb_on_demand_per_million_write_units: f64,
    /// Origin Shield, per 10,000 requests it receives from other Regions, by its Region.
    #[serde(default)]
    pub origin_shield_per_10k_requests: BTreeMap<String, f64>,
}

impl Prices {
    /// Reads the table; a missing or non-numeric price is an error naming it.
    pub fn from_json(text: &str) -> Result<Prices, String> {
        serde_json::from_str(text).map_err(|e| format!("bench/prices.json: {e}"))
    }

    /// One Lambda@Edge invocation: request plus billed duration.
    pub fn lambda_edge_invocation(&self) -> f64 {
        self.lambda_edge_per_million_requests / 1e6
            + self.lambda_edge_billed_ms_per_invocation / 1000.0 * self.lambda_edge_memory_mb / 1024.0
                * self.lambda_edge_per_gb_second
    }

    /// One origin invocation billed `billed_ms`.
    pub fn origin_invocation(&self, billed_ms: f64) -> f64 {
        self.lambda_per_million_requests / 1e6
            + billed_ms.max(1.0) / 1000.0 * self.origin_memory_mb / 1024.0 * self.lambda_arm64_per_gb_second
    }
}

/// What an arm uses, per viewer request, as measured.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Usage {
    /// Lambda@Edge viewer-request invocations.
    pub viewer_request_invocations: f64,
    /// Lambda@Edge origin-response invocations.
    pub origin_response_invocations: f64,
    /// Origin Lambda invocations.
    pub origin_invocations: f64,
    /// Mean billed ms per origin invocation.
    pub origin_billed_ms: f64,
    /// DynamoDB read units (catalogue and L2).
    pub dynamodb_reads: f64,
    /// DynamoDB write units.
    pub dynamodb_writes: f64,
    /// Bytes out per answer.
    pub response_bytes: f64,
}

impl Usage {
    /// The same, with the origin-response association off (`OriginResponseTrigger=off`).
    pub fn without_origin_response(self) -> Usage {
        Usage {
            origin_response_invocations: 0.0,
            ..self
        }
    }

    /// Lambda@Edge per viewer request.
    fn lambda_edge(&self, p: &Prices) -> (f64, f64) {
        let invocation = p.lambda_edge_invocation();
        (
            self.viewer_request_invocations * invocation,
            self.origin_response_invocations * invocation,
        )
    }

    /// The origin side per viewer request: origin Lambda and DynamoDB.
    fn origin(&self, p: &Prices) -> (f64, f64) {
        (
            self.origin_invocations * p.origin_invocation(self.origin_billed_ms),
            self.dynamodb_reads / 1e6 * p.dynamodb_on_demand_per_million_read_units
                + self.dynamodb_writes / 1e6 * p.dynamodb_on_demand_per_million_write_units,
        )
    }
}

/// One tier's month.
#[derive(Debug, Clone, Serialize)]
pub struct TierCost {
    /// Requests per minute.
    pub requests_per_minute: u64,
    /// Requests per 30-day month.
    pub requests_per_month: u64,
    /// CloudFront requests and transfer.
    pub cloudfront: f64,
    /// Lambda@Edge viewer-request.
    pub lambda_edge_viewer_request: f64,
    /// Lambda@Edge origin-response.
    pub lambda_edge_origin_response: f64,
    /// Origin Lambda requests and GB-seconds.
    pub origin_lambda: f64,
    /// DynamoDB on-demand reads and writes (catalogue + L2).
    pub dynamodb: f64,
    /// Sum.
    pub total: f64,
}

/// The tiers: 100, 1,000 and 10,000 requests per minute.
pub const TIERS: [u64; 3] = [100, 1_000, 10_000];

fn cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Requests in a 30-day month at `rpm` requests per minute.
fn per_month(rpm: u64) -> u64 {
    rpm * 60 * 24 * 30
}

/// CloudFront's own price for `r` requests of `bytes` each: HTTPS requests and transfer out.
fn cloudfront(p: &Prices, r: f64, bytes: f64) -> f64 {
    r / 10_000.0 * p.cloudfront_https_per_10k_requests + r * bytes / 1e9 * p.cloudfront_transfer_out_per_gb
}

/// The month at each tier.
pub fn monthly(p: &Prices, u: &Usage) -> Vec<TierCost> {
    TIERS
        .into_iter()
        .map(|rpm| {
            let requests = per_month(rpm);
            let r = requests as f64;
            let cloudfront = cloudfront(p, r, u.response_bytes);
            let (viewer_request, origin_response) = u.lambda_edge(p);
            let (origin, dynamodb) = u.origin(p);
            TierCost {
                requests_per_minute: rpm,
                requests_per_month: requests,
                cloudfront: cents(cloudfront),
                lambda_edge_viewer_request: cents(r * viewer_request),
                lambda_edge_origin_response: cents(r * origin_response),
                origin_lambda: cents(r * origin),
                dynamodb: cents(r * dynamodb),
                total: cents(cloudfront + r * (viewer_request + origin_response + origin + dynamodb)),
            }
        })
        .collect()
}

/// What an arm uses per viewer request in the tiered simulation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ScaleUsage {
    /// Lambda@Edge viewer-request invocations.
    pub viewer_request_invocations: f64,
    /// Lambda@Edge origin-response invocations.
    pub origin_response_invocations: f64,
    /// Origin requests.
    pub origin_requests: f64,
    /// Requests Origin Shield charges for (from other Regions' regional caches).
    pub shield_requests: f64,
    /// Bytes out per answer.
    pub response_bytes: f64,
}

/// One tier's month at scale.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScaleTierCost {
    /// Requests per minute.
    pub requests_per_minute: u64,
    /// CloudFront requests and transfer.
    pub cloudfront: f64,
    /// Lambda@Edge viewer-request.
    pub lambda_edge_viewer_request: f64,
    /// Lambda@Edge origin-response.
    pub lambda_edge_origin_response: f64,
    /// The origin, at the chosen cost per origin request.
    pub origin: f64,
    /// Origin Shield's requests (regional edge caches themselves are free).
    pub origin_shield: f64,
    /// Sum.
    pub total: f64,
}

/// The month at each tier for `u`, an origin request costing `origin_usd` and Origin
/// Shield `shield_usd_per_10k` per 10,000 charged requests.
pub fn scale_monthly(p: &Prices, u: &ScaleUsage, origin_usd: f64, shield_usd_per_10k: f64) -> Vec<ScaleTierCost> {
    let invocation = p.lambda_edge_invocation();
    TIERS
        .into_iter()
        .map(|rpm| {
            let r = per_month(rpm) as f64;
            let parts = [
                cloudfront(p, r, u.response_bytes),
                r * u.viewer_request_invocations * invocation,
                r * u.origin_response_invocations * invocation,
                r * u.origin_requests * origin_usd,
                r * u.shield_requests / 10_000.0 * shield_usd_per_10k,
            ];
            ScaleTierCost {
                requests_per_minute: rpm,
                cloudfront: cents(parts[0]),
                lambda_edge_viewer_request: cents(parts[1]),
                lambda_edge_origin_response: cents(parts[2]),
                origin: cents(parts[3]),
                origin_shield: cents(parts[4]),
                total: cents(parts.iter().sum()),
            }
        })
        .collect()
}

/// When the handler pays for itself against CloudFront alone.
///
/// Per viewer request, CloudFront's own price is the same in both; the handler adds its
/// Lambda@Edge invocations `h` and removes `m_alone - m_project` origin requests. At an
/// origin cost `c` per origin request the two cost the same when
/// `c * (m_alone - m_project) = h`: above that `c` the handler is cheaper.
#[derive(Debug, Clone, Serialize)]
pub struct BreakEven {
    /// Origin requests per million viewer requests, CloudFront alone.
    pub origin_requests_per_million_alone: f64,
    /// Origin requests per million viewer requests, with the handler.
    pub origin_requests_per_million_project: f64,
    /// Lambda@Edge per million viewer requests (viewer-request and origin-response).
    pub handler_usd_per_million_requests: f64,
    /// The same with origin-response off.
    pub handler_usd_per_million_requests_origin_response_off: f64,
    /// The break-even origin cost per million origin requests (`None`: the handler saves no
    /// origin request, so no origin cost makes it pay).
    pub break_even_usd_per_million_origin_requests: Option<f64>,
    /// The same with origin-response off.
    pub break_even_usd_per_million_origin_requests_origin_response_off: Option<f64>,
    /// What this project's origin costs per million origin requests, as measured in the
    /// CloudFront-alone run (origin Lambda + DynamoDB).
    pub measured_origin_usd_per_million_origin_requests: f64,
}

/// The break-even of the handler (`project`) against CloudFront alone (`alone`).
pub fn break_even(p: &Prices, alone: &Usage, project: &Usage) -> BreakEven {
    let saved = alone.origin_invocations - project.origin_invocations;
    let handler = |u: &Usage| {
        let (viewer_request, origin_response) = u.lambda_edge(p);
        viewer_request + origin_response
    };
    let per_million = |v: f64| (v * 1e6 * 10_000.0).round() / 10_000.0;
    let at = |h: f64| (saved > 0.0).then(|| per_million(h / saved));
    let (origin, dynamodb) = alone.origin(p);
    BreakEven {
        origin_requests_per_million_alone: per_million(alone.origin_invocations),
        origin_requests_per_million_project: per_million(project.origin_invocations),
        handler_usd_per_million_requests: per_million(handler(project)),
        handler_usd_per_million_requests_origin_response_off: per_million(handler(&project.without_origin_response())),
        break_even_usd_per_million_origin_requests: at(handler(project)),
        break_even_usd_per_million_origin_requests_origin_response_off: at(handler(&project.without_origin_response())),
        measured_origin_usd_per_million_origin_requests: per_million(
            (origin + dynamodb) / alone.origin_invocations.max(1e-12),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices() -> Prices {
        Prices::from_json(include_str!("../../bench/prices.json")).unwrap()
    }

    fn usage(edge: f64, origin: f64) -> Usage {
        Usage {
            viewer_request_invocations: edge,
            origin_response_invocations: edge * origin,
            origin_invocations: origin,
            origin_billed_ms: 5.0,
            dynamodb_reads: origin,
            dynamodb_writes: origin / 4.0,
            response_bytes: 300.0,
        }
    }

    #[test]
    fn cost_grows_with_traffic_and_falls_with_hits() {
        let p = prices();
        let tiers = monthly(&p, &usage(1.0, 0.1));
        assert!(tiers[0].total < tiers[1].total && tiers[1].total < tiers[2].total);
        assert!(monthly(&p, &usage(1.0, 1.0))[2].total > tiers[2].total);
        // 10,000 rpm is 432M requests a month: CloudFront requests alone are $432.
        assert!(tiers[2].cloudfront >= 432.0);
        // Lambda@Edge at $0.60/M plus 1 ms at 128 MB, on every one of 432M requests.
        let per = p.lambda_edge_invocation();
        assert!((tiers[2].lambda_edge_viewer_request - 432e6 * per).abs() < 0.01);
        assert!((0.6e-6..0.61e-6).contains(&per), "{per}");
    }

    #[test]
    fn the_scale_bill_charges_each_part_per_what_it_counts() {
        let p = prices();
        let u = ScaleUsage {
            viewer_request_invocations: 1.0,
            origin_response_invocations: 0.1,
            origin_requests: 0.1,
            shield_requests: 0.05,
            response_bytes: 0.0,
        };
        let t = &scale_monthly(&p, &u, 1e-6, 0.0075)[2];
        // 432M requests: $432 of CloudFront requests, 43.2M origin requests at $1/M,
        // 21.6M shield requests at $0.0075 per 10,000.
        assert_eq!((t.cloudfront, t.origin, t.origin_shield), (432.0, 43.2, 16.2));
        assert!((t.lambda_edge_viewer_request - 432e6 * p.lambda_edge_invocation()).abs() < 0.01);
        let sum =
            t.cloudfront + t.lambda_edge_viewer_request + t.lambda_edge_origin_response + t.origin + t.origin_shield;
        assert!((t.total - sum).abs() < 0.02);
        assert_eq!(p.origin_shield_per_10k_requests.get("us-east-1"), Some(&0.0075));
    }

    #[test]
    fn no_function_costs_no_lambda_edge_and_origin_response_off_saves_it_per_miss() {
        let p = prices();
        let alone = monthly(&p, &usage(0.0, 0.3));
        assert_eq!(
            alone[1].lambda_edge_viewer_request + alone[1].lambda_edge_origin_response,
            0.0
        );
        let on = usage(1.0, 0.1);
        let off = monthly(&p, &on.without_origin_response());
        let on = monthly(&p, &on);
        assert_eq!(off[2].lambda_edge_origin_response, 0.0);
        assert!((on[2].total - off[2].total - on[2].lambda_edge_origin_response).abs() < 0.02);
    }

    #[test]
    fn break_even_is_the_handlers_cost_over_the_origin_requests_it_saves() {
        let p = prices();
        let (alone, project) = (usage(0.0, 0.3), usage(1.0, 0.1));
        let b = break_even(&p, &alone, &project);
        let h = p.lambda_edge_invocation() * 1.1; // viewer-request + origin-response on 10%
        let expected = h / 0.2 * 1e6;
        let got = b.break_even_usd_per_million_origin_requests.unwrap();
        assert!((got - expected).abs() < 1e-3, "{got} vs {expected}");
        // At exactly that origin cost both arms cost the same per request.
        let c = got / 1e6;
        assert!((0.3 * c - (h + 0.1 * c)).abs() < 1e-9);
        let off = b
            .break_even_usd_per_million_origin_requests_origin_response_off
            .unwrap();
        assert!(off < got);
        // A handler that saves nothing never pays for itself.
        assert_eq!(
            break_even(&p, &project, &project).break_even_usd_per_million_origin_requests,
            None
        );
    }
}
