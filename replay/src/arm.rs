//! The replay's arms: one trace through three distributions, each on a fresh stack.
//!
//! - **naive** (the seed's handler, `bench/naive-handler`): viewer-request passes the request
//!   through, origin-response writes the seed's broken `Cache-Control`; deployed behaviours.
//! - **CloudFront alone** (`bench/cloudfront-alone.toml`): no edge function; the cache key is
//!   what careful cache policies make of the raw request.
//! - **this project** (`wasm-pkg`): the policy's viewer-request and origin-response; deployed
//!   behaviours (`deploy/behaviours.toml`).

use std::path::PathBuf;

use edge_policy::cloudfront::Trigger;
use local_edge::message::EdgeRequest;
use local_edge::Distribution;

use crate::keyed::{key_trace, AnswerHeader, KeyedRequest};
use crate::trace::TraceRequest;

/// Which arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArmKind {
    /// The seed's naive handler.
    Naive,
    /// No edge function: cache policies only.
    CloudFrontAlone,
    /// This project's handler.
    Project,
}

impl ArmKind {
    /// Every arm, in the order they run and are reported.
    pub const ALL: [ArmKind; 3] = [ArmKind::Naive, ArmKind::CloudFrontAlone, ArmKind::Project];

    /// The name in the report and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ArmKind::Naive => "naive",
            ArmKind::CloudFrontAlone => "cloudfront-alone",
            ArmKind::Project => "normalized",
        }
    }

    /// The arm called `name`.
    pub fn from_name(name: &str) -> Option<ArmKind> {
        ArmKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The chart's legend.
    pub fn label(self) -> &'static str {
        match self {
            ArmKind::Naive => "seed handler (naive)",
            ArmKind::CloudFrontAlone => "CloudFront alone",
            ArmKind::Project => "this project (edge-policy)",
        }
    }

    /// The chart's colour.
    pub fn colour(self) -> &'static str {
        match self {
            ArmKind::Naive => "#d95f02",
            ArmKind::CloudFrontAlone => "#7570b3",
            ArmKind::Project => "#1b9e77",
        }
    }
}

/// One arm, ready to start.
#[derive(Debug, Clone)]
pub struct Arm {
    /// Which.
    pub kind: ArmKind,
    /// The Lambda@Edge package; `None` when no trigger is associated (nothing runs in Node).
    pub package: Option<PathBuf>,
    /// The table, read.
    pub distribution: Distribution,
}

/// Where the arms' files are.
#[derive(Debug, Clone)]
pub struct ArmFiles {
    /// `deploy/behaviours.toml`.
    pub deployed: PathBuf,
    /// `bench/cloudfront-alone.toml`.
    pub cloudfront_alone: PathBuf,
    /// `wasm-pkg`.
    pub edge_package: PathBuf,
    /// `bench/naive-handler`.
    pub naive_package: PathBuf,
}

impl Arm {
    /// The arm `kind`, its table read and checked.
    pub fn new(kind: ArmKind, files: &ArmFiles) -> Result<Arm, String> {
        let (table, package) = match kind {
            ArmKind::Naive => (&files.deployed, Some(&files.naive_package)),
            ArmKind::CloudFrontAlone => (&files.cloudfront_alone, None),
            ArmKind::Project => (&files.deployed, Some(&files.edge_package)),
        };
        let distribution = Distribution::load(table).map_err(|e| e.to_string())?;
        let runs_any = distribution.behaviours.iter().any(|b| !b.triggers.is_empty());
        if package.is_none() && runs_any {
            return Err(format!(
                "{}: the CloudFront-alone table associates a trigger",
                table.display()
            ));
        }
        Ok(Arm {
            kind,
            package: package.cloned(),
            distribution,
        })
    }

    /// The request CloudFront keys, as the arm's viewer-request leaves it: this project's
    /// handler is the policy linked in (`local_edge::triggers::native_request`, what the Wasm
    /// package runs); CloudFront alone and the naive handler leave the request as received.
    pub fn keyed(&self, request: EdgeRequest) -> EdgeRequest {
        let behaviour = self.distribution.behaviour_for(&request.uri);
        if self.kind == ArmKind::Project && behaviour.runs(Trigger::ViewerRequest) {
            local_edge::triggers::native_request(Trigger::ViewerRequest, request)
        } else {
            request
        }
    }

    /// What the arm's answers reach the cache with: the seed's one header for the naive
    /// handler, the decided one otherwise.
    pub fn answer_header(&self) -> AnswerHeader {
        match self.kind {
            ArmKind::Naive => AnswerHeader::SeedHandler,
            ArmKind::CloudFrontAlone | ArmKind::Project => AnswerHeader::Decided,
        }
    }

    /// Every request of `trace` keyed as this arm keys it (`statuses`: the origin's answers,
    /// as in [`crate::keyed::key_trace`]).
    pub fn key_trace(&self, trace: &[TraceRequest], statuses: &[u16]) -> Vec<KeyedRequest> {
        key_trace(
            trace,
            statuses,
            &self.distribution,
            |r| self.keyed(r),
            self.answer_header(),
        )
    }

    /// Whether the full-stack replay holds this arm against its TTL-aware bound: not the
    /// naive handler, whose origin-response is JavaScript writing its own `Cache-Control`
    /// (the tiered simulation models it by [`AnswerHeader::SeedHandler`], a port of its two
    /// lines, which the full-stack replay does not check).
    pub fn has_bound(&self) -> bool {
        self.kind != ArmKind::Naive
    }

    /// The share of the trace's requests whose behaviour associates `trigger`.
    pub fn trigger_share(&self, trace: &[TraceRequest], trigger: Trigger) -> f64 {
        let runs = trace
            .iter()
            .filter(|r| self.distribution.behaviour_for(r.path_and_query().0).runs(trigger))
            .count();
        runs as f64 / trace.len().max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use edge_policy::query::is_tracking_parameter;
    use edge_policy::rules::QueryPolicy;
    use edge_policy::RuleSet;
    use local_edge::distribution::{AccessControl, KeyedHeaders, Selection};

    use super::*;

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn table(path: &str) -> Distribution {
        Distribution::load(&root().join(path)).unwrap()
    }

    /// The route rules' allow-list of the route `name`.
    fn allow_list(name: &str) -> Vec<String> {
        let route = RuleSet::embedded().routes().iter().find(|r| r.name == name).unwrap();
        match &route.query {
            QueryPolicy::Allow(names) => names.clone(),
            other => panic!("route {name} has no allow-list: {other:?}"),
        }
    }

    #[test]
    fn cloudfront_alone_has_the_deployed_behaviours_and_no_function() {
        let (alone, deployed) = (table("bench/cloudfront-alone.toml"), table("deploy/behaviours.toml"));
        let patterns = |d: &Distribution| d.behaviours.iter().map(|b| b.path_pattern.clone()).collect::<Vec<_>>();
        assert_eq!(patterns(&alone), patterns(&deployed));
        for (a, d) in alone.behaviours.iter().zip(&deployed.behaviours) {
            assert!(a.triggers.is_empty(), "{}", a.path_pattern);
            assert_eq!((a.compress, &a.allowed_methods), (d.compress, &d.allowed_methods));
        }
        // Without a function nothing relays the credential, so OAC can't overwrite it.
        assert_eq!(alone.origin.access_control, AccessControl::Never);
    }

    #[test]
    fn cloudfront_alone_keys_as_a_careful_user_would() {
        let alone = table("bench/cloudfront-alone.toml");
        let policy = |path: &str| alone.behaviour_for(path).cache_policy.clone();
        let products = Selection::Whitelist {
            names: allow_list("products"),
        };
        assert_eq!(policy("/api/products").query_strings, products);
        assert_eq!(policy("/api/products/7").query_strings, products);
        assert_eq!(policy("/api/config").query_strings, Selection::None);
        assert_eq!(policy("/static/app.js").query_strings, Selection::None);
        // Private routes: the credential keyed (the only way it reaches the origin on a GET
        // without a function), nothing kept unless the origin said so (it says no-store).
        for path in ["/api/me", "/api/users/7", "/api/users%2F7"] {
            let p = policy(path);
            assert_eq!(p.headers.names(), ["authorization"], "{path}");
            assert_eq!((p.min_ttl, p.default_ttl), (0, 0), "{path}");
        }
        match policy("/anything/else").query_strings {
            Selection::AllExcept { names } => {
                assert_eq!(
                    names.len(),
                    10,
                    "a cache policy names at most 10 query strings by default"
                );
                assert!(names.iter().all(|n| is_tracking_parameter(n)), "{names:?}");
            }
            other => panic!("the default behaviour keys {other:?}"),
        }
        for b in alone.behaviours.iter().filter(|b| b.cache_policy.default_ttl > 0) {
            let p = &b.cache_policy;
            assert!(p.accept_encoding_gzip && p.accept_encoding_brotli, "{}", b.path_pattern);
            assert_eq!((&p.headers, &p.cookies), (&KeyedHeaders::None, &Selection::None));
            assert_eq!(p.min_ttl, 0, "a minimum TTL above 0 stores even private answers");
            // Nothing beyond the key reaches the origin: no unkeyed input.
            let o = &b.origin_request_policy;
            assert_eq!((&o.query_strings, &o.cookies), (&Selection::None, &Selection::None));
            assert!(!o.headers.forwards("x-forwarded-host"), "{}", b.path_pattern);
        }
    }

    #[test]
    fn the_project_is_keyed_after_its_viewer_request_and_cloudfront_alone_as_received() {
        let files = ArmFiles {
            deployed: root().join("deploy/behaviours.toml"),
            cloudfront_alone: root().join("bench/cloudfront-alone.toml"),
            edge_package: root().join("wasm-pkg"),
            naive_package: root().join("bench/naive-handler"),
        };
        let request = || {
            let mut headers = http::HeaderMap::new();
            headers.insert("accept-encoding", http::HeaderValue::from_static("gzip, br"));
            EdgeRequest {
                method: http::Method::GET,
                uri: "/api//products".into(),
                querystring: "sort=name&utm_source=x&category=b%6Foks".into(),
                headers,
                client_ip: "127.0.0.1".into(),
                body: Default::default(),
            }
        };
        let project = Arm::new(ArmKind::Project, &files).unwrap().keyed(request());
        assert_eq!(
            (project.uri.as_str(), project.querystring.as_str()),
            ("/api/products", "category=books&sort=name")
        );
        let alone = Arm::new(ArmKind::CloudFrontAlone, &files).unwrap();
        assert_eq!(alone.package, None);
        let raw = alone.keyed(request());
        assert_eq!(raw.querystring, "sort=name&utm_source=x&category=b%6Foks");
        let naive = Arm::new(ArmKind::Naive, &files).unwrap();
        assert_eq!(naive.keyed(request()).querystring, raw.querystring);
        assert!(alone.has_bound() && !naive.has_bound());
    }
}
