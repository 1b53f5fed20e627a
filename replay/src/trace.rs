//! Request traces: generated (realistic mix) or read from a file.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// One request of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceRequest {
    /// When it is sent, ms after the trace starts (non-decreasing along the trace).
    pub at_ms: u64,
    /// The method (`GET` when a trace file leaves it out).
    #[serde(default = "get", skip_serializing_if = "is_get")]
    pub method: String,
    /// Path and query, as the viewer sends them.
    pub path: String,
    /// Request headers (lower-case names).
    #[serde(default)]
    pub headers: Vec<(String, String)>,
}

impl TraceRequest {
    /// A `GET` of `path` with `headers`, sent at `at_ms`.
    pub fn new(at_ms: u64, path: impl Into<String>, headers: &[(&str, &str)]) -> Self {
        TraceRequest {
            at_ms,
            method: get(),
            path: path.into(),
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        }
    }

    /// The same request with another method.
    pub fn with_method(self, method: &str) -> Self {
        TraceRequest {
            method: method.to_owned(),
            ..self
        }
    }

    /// The path and the query (without `?`, `""` when none), split as CloudFront splits them.
    pub fn path_and_query(&self) -> (&str, &str) {
        self.path.split_once('?').unwrap_or((&self.path, ""))
    }
}

fn get() -> String {
    "GET".to_owned()
}

fn is_get(method: &str) -> bool {
    method == "GET"
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
    /// Mean arrival rate, requests per second (Poisson arrivals).
    pub rate: f64,
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
            rate: 100.0,
            seed: 7,
        }
    }
}

const CATEGORIES: &[&str] = &[
    "books", "garden", "music", "toys", "kitchen", "sports", "games", "tools",
];
/// The sort orders the demo origin knows (any other is its 400).
const SORTS: &[&str] = &["price", "-price", "id", "-id"];
/// The static assets the seeded catalogue holds (a missing one would be a 404, cached as an
/// error: not what a page load asks for).
const ASSETS: &[&str] = &["/static/app.js", "/static/app.css"];
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

/// Generates a realistic trace: Poisson arrivals at `mix.rate`, Zipf over products and
/// listing pages, tracking parameters, shuffled parameter order, percent-encoding variants,
/// Accept-Encoding variety, a share of private requests.
pub fn generate(mix: &Mix) -> Vec<TraceRequest> {
    let mut rng = Rng::new(mix.seed);
    let products = Zipf::new(mix.products, mix.zipf_s);
    let listings = Zipf::new(CATEGORIES.len() * SORTS.len() * 5, mix.zipf_s);
    let mut out = Vec::with_capacity(mix.requests);
    let mut clock_ms = 0.0f64;
    for i in 0..mix.requests {
        // Exponential gaps: -ln(1 - u) / rate seconds.
        clock_ms += -(1.0 - rng.unit()).ln() / mix.rate.max(1e-9) * 1000.0;
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
            (rng.pick(ASSETS).to_string(), vec![])
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
        out.push(TraceRequest {
            at_ms: clock_ms as u64,
            method: get(),
            path,
            headers,
        });
    }
    out
}

/// One line of a trace file; `at_ms` and `method` may be left out.
#[derive(Debug, Deserialize)]
struct Line {
    at_ms: Option<u64>,
    #[serde(default = "get")]
    method: String,
    path: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
}

/// Reads a trace: one JSON object per line,
/// `{"at_ms": 1500, "method": "GET", "path": "/a?b=1", "headers": [["name", "value"]]}`. A line without
/// `at_ms` is sent `1000 / rate` ms after the one before it. Times must not go backwards.
pub fn read(path: &Path, rate: f64) -> Result<Vec<TraceRequest>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let gap_ms = 1000.0 / rate.max(1e-9);
    let mut out: Vec<TraceRequest> = Vec::new();
    for (i, l) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = |e: &dyn std::fmt::Display| format!("{}:{}: {e}", path.display(), i + 1);
        let line: Line = serde_json::from_str(l).map_err(|e| at(&e))?;
        let previous = out.last().map(|r| r.at_ms);
        let at_ms = match (line.at_ms, previous) {
            (Some(t), Some(p)) if t < p => return Err(at(&format!("at_ms {t} is before the line above ({p})"))),
            (Some(t), _) => t,
            (None, Some(p)) => p + gap_ms as u64,
            (None, None) => 0,
        };
        out.push(TraceRequest {
            at_ms,
            method: line.method,
            path: line.path,
            headers: line.headers,
        });
    }
    Ok(out)
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
        // Poisson arrivals at 100/s: 2,000 requests take about 20 s, in order.
        assert!(a.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        let span = a.last().unwrap().at_ms;
        assert!((17_000..23_000).contains(&span), "{span}");
    }

    #[test]
    fn a_file_without_times_is_spaced_by_the_rate_and_times_never_go_back() {
        let dir = std::env::temp_dir().join(format!("trace-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.jsonl");
        std::fs::write(
            &file,
            "{\"path\":\"/a\"}\n\n{\"path\":\"/b\",\"headers\":[[\"accept-encoding\",\"gzip\"]]}\n{\"at_ms\":900,\"path\":\"/c\"}\n{\"path\":\"/d\"}\n",
        )
        .unwrap();
        let t = read(&file, 4.0).unwrap();
        let times: Vec<u64> = t.iter().map(|r| r.at_ms).collect();
        assert_eq!(times, [0, 250, 900, 1150]);
        assert_eq!(t[1].headers, [("accept-encoding".to_owned(), "gzip".to_owned())]);
        std::fs::write(&file, "{\"at_ms\":5,\"path\":\"/a\"}\n{\"at_ms\":4,\"path\":\"/b\"}\n").unwrap();
        let err = read(&file, 4.0).unwrap_err();
        assert!(err.contains(":2: at_ms 4 is before"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
