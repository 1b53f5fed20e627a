//! Monthly cost by traffic tier, from measured ratios and the price table (bench/prices.json).

use serde::Serialize;
use serde_json::Value;

/// What the model reads from a run.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Share of requests the edge answers.
    pub edge_hit_ratio: f64,
    /// Origin invocations per request.
    pub origin_per_request: f64,
    /// Source loads (DynamoDB catalogue reads) per request.
    pub source_loads_per_request: f64,
    /// L2 reads per request (GetItem on the cache table: every origin invocation of a public route).
    pub l2_reads_per_request: f64,
    /// L2 writes per request.
    pub l2_writes_per_request: f64,
    /// Mean origin duration, ms.
    pub origin_ms: f64,
    /// Mean response size, bytes.
    pub response_bytes: f64,
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
    /// Lambda@Edge: viewer-request on every request, origin-response on misses.
    pub lambda_edge: f64,
    /// Origin Lambda requests and GB-seconds.
    pub origin_lambda: f64,
    /// DynamoDB on-demand reads and writes (catalogue + L2).
    pub dynamodb: f64,
    /// Sum.
    pub total: f64,
}

fn price(prices: &Value, key: &str) -> f64 {
    prices[key]
        .as_f64()
        .unwrap_or_else(|| panic!("bench/prices.json has no number {key:?}"))
}

fn cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The seed's tiers: 100, 1,000 and 10,000 requests per minute.
pub fn monthly(prices: &Value, m: Measured) -> Vec<TierCost> {
    [100u64, 1_000, 10_000]
        .into_iter()
        .map(|rpm| {
            let requests = rpm * 60 * 24 * 30;
            let r = requests as f64;
            let misses = r * (1.0 - m.edge_hit_ratio);
            let cloudfront = r / 10_000.0 * price(prices, "cloudfront_https_per_10k_requests")
                + r * m.response_bytes / 1e9 * price(prices, "cloudfront_transfer_out_per_gb");
            let edge_invocations = r + misses;
            let edge_gb_s = edge_invocations * price(prices, "lambda_edge_billed_ms_per_invocation") / 1000.0
                * price(prices, "lambda_edge_memory_mb")
                / 1024.0;
            let lambda_edge = edge_invocations / 1e6 * price(prices, "lambda_edge_per_million_requests")
                + edge_gb_s * price(prices, "lambda_edge_per_gb_second");
            let origin = r * m.origin_per_request;
            let origin_gb_s = origin * m.origin_ms.max(1.0) / 1000.0 * price(prices, "origin_memory_mb") / 1024.0;
            let origin_lambda = origin / 1e6 * price(prices, "lambda_per_million_requests")
                + origin_gb_s * price(prices, "lambda_arm64_per_gb_second");
            let reads = r * (m.source_loads_per_request + m.l2_reads_per_request);
            let writes = r * m.l2_writes_per_request;
            let dynamodb = reads / 1e6 * price(prices, "dynamodb_on_demand_per_million_read_units")
                + writes / 1e6 * price(prices, "dynamodb_on_demand_per_million_write_units");
            TierCost {
                requests_per_minute: rpm,
                requests_per_month: requests,
                cloudfront: cents(cloudfront),
                lambda_edge: cents(lambda_edge),
                origin_lambda: cents(origin_lambda),
                dynamodb: cents(dynamodb),
                total: cents(cloudfront + lambda_edge + origin_lambda + dynamodb),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_grows_with_traffic_and_falls_with_hits() {
        let prices: Value = serde_json::from_str(include_str!("../../bench/prices.json")).unwrap();
        let m = Measured {
            edge_hit_ratio: 0.9,
            origin_per_request: 0.1,
            source_loads_per_request: 0.02,
            l2_reads_per_request: 0.1,
            l2_writes_per_request: 0.02,
            origin_ms: 5.0,
            response_bytes: 300.0,
        };
        let tiers = monthly(&prices, m);
        assert!(tiers[0].total < tiers[1].total && tiers[1].total < tiers[2].total);
        let cold = monthly(
            &prices,
            Measured {
                edge_hit_ratio: 0.0,
                origin_per_request: 1.0,
                ..m
            },
        );
        assert!(cold[2].total > tiers[2].total);
        // 10,000 rpm is 432M requests a month: CloudFront requests alone are $432.
        assert!(tiers[2].cloudfront >= 432.0);
    }
}
