//! Request traces: generated (realistic mix) or read from a file.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// One request of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceRequest {
    /// Path and query, as the viewer sends them.
    pub path: String,
    /// Request headers (lower-case names).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
}

/// splitmix64: small, seeded, reproducible.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }

    /// One element.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Zipf popularity over ranks `1..=n`: P(k) ∝ 1 / k^s.
#[derive(Debug, Clone)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// The distribution over `n` ranks with exponent `s`.
    pub fn new(n: usize, s: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for k in 1..=n.max(1) {
            total += 1.0 / (k as f64).powf(s);
            cdf.push(total);
        }
        for p in &mut cdf {
            *p /= total;
        }
        Zipf { cdf }
    }

    /// A rank, 1-based.
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf.partition_point(|p| *p < u) + 1
    }
}

/// The knobs of a generated trace.
#[derive(Debug, Clone)]
pub struct Mix {
    /// Requests.
    pub requests: usize,
    /// Products in the catalogue (ids 1..=n).
    pub products: usize,
    /// Zipf exponent of product popularity.
    pub zipf_s: f64,
    /// Share of URLs carrying tracking parameters.
    pub tracking_share: f64,
    /// Share of private requests (`/api/me`, `/api/users/{id}` with a token).
    pub private_share: f64,
    /// Seed.
    pub seed: u64,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            requests: 20_000,
            products: 10_000,
            zipf_s: 1.0,
            tracking_share: 0.3,
            private_share: 0.05,
            seed: 7,
        }
    }
}

const CATEGORIES: &[&str] = &[
    "books", "garden", "music", "toys", "kitchen", "sports", "games", "tools",
];
const SORTS: &[&str] = &["price", "-price", "name", "rating"];
const ENCODINGS: &[&str] = &[
    "gzip, deflate, br",
    "gzip, deflate, br, zstd",
    "br, gzip",
    "gzip",
    "identity",
    "gzip;q=1.0, *;q=0.5",
];

/// Varies the case of percent-encoding and encodes an unreserved letter, as different
/// clients do (`b%6Fok` for `book`).
fn encoding_variant(rng: &mut Rng, value: &str) -> String {
    if rng.unit() < 0.25 {
        if let Some(i) = value.char_indices().nth(1).map(|(i, _)| i) {
            let c = value.as_bytes()[i];
            let hex = if rng.unit() < 0.5 {
                format!("%{c:02x}")
            } else {
                format!("%{c:02X}")
            };
            return format!("{}{hex}{}", &value[..i], &value[i + 1..]);
        }
    }
    value.to_owned()
}

/// Generates a realistic trace: Zipf over products and listing pages, tracking parameters,
/// shuffled parameter order, percent-encoding variants, Accept-Encoding variety, a share of
/// private requests.
pub fn generate(mix: &Mix) -> Vec<TraceRequest> {
    let mut rng = Rng::new(mix.seed);
    let products = Zipf::new(mix.products, mix.zipf_s);
    let listings = Zipf::new(CATEGORIES.len() * SORTS.len() * 5, mix.zipf_s);
    let mut out = Vec::with_capacity(mix.requests);
    for i in 0..mix.requests {
        let encoding = rng.pick(ENCODINGS).to_string();
        let mut headers = vec![("accept-encoding".to_owned(), encoding)];
        let roll = rng.unit();
        let (path, mut params): (String, Vec<String>) = if roll < mix.private_share {
            let user = 1 + rng.below(100);
            headers.push(("authorization".into(), format!("Bearer user-{user}")));
            let path = if rng.unit() < 0.5 {
                "/api/me".to_owned()
            } else {
                format!("/api/users/{user}")
            };
            (path, vec![])
        } else if roll < mix.private_share + 0.55 {
            (format!("/api/products/{}", products.sample(&mut rng)), vec![])
        } else if roll < mix.private_share + 0.80 {
            let n = listings.sample(&mut rng) - 1;
            let category = CATEGORIES[n % CATEGORIES.len()];
            let sort = SORTS[(n / CATEGORIES.len()) % SORTS.len()];
            let page = 1 + n / (CATEGORIES.len() * SORTS.len());
            let params = vec![
                format!("category={}", encoding_variant(&mut rng, category)),
                format!("sort={sort}"),
                format!("page={page}"),
            ];
            ("/api/products".to_owned(), params)
        } else if roll < mix.private_share + 0.90 {
            ("/api/config".to_owned(), vec![])
        } else {
            (format!("/static/app.{}.js", rng.below(20)), vec![])
        };
        if rng.unit() < mix.tracking_share {
            params.push(format!("utm_source={}", rng.pick(&["newsletter", "twitter", "google"])));
            params.push(format!("utm_campaign=c{}", rng.below(50)));
            if rng.unit() < 0.5 {
                params.push(format!("fbclid=IwAR{}x{i}", rng.next_u64() % 100_000));
            }
        }
        for j in (1..params.len()).rev() {
            let k = rng.below(j + 1);
            params.swap(j, k);
        }
        let path = if params.is_empty() {
            path
        } else {
            format!("{path}?{}", params.join("&"))
        };
        out.push(TraceRequest { path, headers });
    }
    out
}

/// Reads a trace: one JSON object per line, `{"path": "/a?b=1", "headers": [["name", "value"]]}`.
pub fn read(path: &Path) -> Result<Vec<TraceRequest>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_prefers_low_ranks() {
        let z = Zipf::new(1000, 1.0);
        let mut rng = Rng::new(1);
        let samples: Vec<usize> = (0..10_000).map(|_| z.sample(&mut rng)).collect();
        let top10 = samples.iter().filter(|&&k| k <= 10).count();
        assert!(top10 > 3000, "top 10 of 1000 ranks draw about 39% under s=1: {top10}");
        assert!(samples.iter().all(|&k| (1..=1000).contains(&k)));
    }

    #[test]
    fn generation_is_reproducible_and_mixed() {
        let mix = Mix {
            requests: 2000,
            ..Mix::default()
        };
        let a = generate(&mix);
        assert_eq!(a, generate(&mix));
        let private = a
            .iter()
            .filter(|r| r.headers.iter().any(|(n, _)| n == "authorization"))
            .count();
        let tracked = a.iter().filter(|r| r.path.contains("utm_")).count();
        assert!((50..200).contains(&private), "{private}");
        assert!((450..750).contains(&tracked), "{tracked}");
    }
}
