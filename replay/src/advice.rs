//! Per-trigger association advice: for each behaviour, is each Lambda@Edge trigger worth its
//! invocations at the user's origin cost?
//!
//! The two triggers are associated per behaviour and billed differently ("Lambda@Edge
//! pricing", <https://aws.amazon.com/lambda/pricing/>; "Adding triggers",
//! <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/lambda-edge-add-triggers.html>):
//! viewer-request on every viewer request of the behaviour, hits included; origin-response on
//! every origin request. A trigger **stays** where the origin requests it saves on that
//! behaviour, at the origin's cost per request, pay for its own invocations:
//! `saved × origin_cost ≥ invocations × invocation_price`, with `saved > 0`. Raising the
//! origin cost can only keep more triggers (the proptest in `tests/advice.rs`).
//!
//! Fixed, whatever the cost: a private behaviour (caching disabled) keeps viewer-request
//! while the origin sits behind Origin Access Control, because viewer-request relays the
//! viewer's credential in `X-Viewer-Authorization` past OAC's signature (`origin-cache.md`).
//!
//! "Without viewer-request" a public behaviour keys with the cache policy
//! `bench/cloudfront-alone.toml` gives it (the origin's OAC unchanged). "Without
//! origin-response" nothing changes in the keys or lifetimes here: this project's origin
//! writes the same `Cache-Control` itself (`OriginResponseTrigger=off`, deploy/README.md), so
//! the removal saves its invocations and gives up what no hit ratio measures — the
//! `cache-control.md` rules listed with it, which protect a behaviour whose origin does not.

use std::sync::Arc;

use edge_policy::cloudfront::Trigger;
use edge_policy::rules::RouteKind;
use edge_policy::RuleSet;
use local_edge::distribution::{AccessControl, Behaviour};
use local_edge::Distribution;
use serde::Serialize;

use crate::simulate::{BehaviourFigures, Figures};

/// One side of a with/without comparison on one behaviour, counted over the whole trace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Side {
    /// The behaviour's viewer requests answered by their edge location from a copy.
    pub edge_hits: u64,
    /// The behaviour's origin requests.
    pub origin_requests: u64,
    /// The trigger's invocations on the behaviour.
    pub invocations: u64,
}

/// One trigger on one behaviour, with and without it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TriggerCase {
    /// Associated.
    pub with: Side,
    /// Not associated.
    pub without: Side,
}

impl TriggerCase {
    /// Origin requests the trigger saves (negative: it costs some).
    pub fn saved_origin_requests(&self) -> i64 {
        self.without.origin_requests as i64 - self.with.origin_requests as i64
    }
}

/// What the advice weighs for one behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BehaviourCase {
    /// The behaviour's path pattern.
    pub path_pattern: String,
    /// Caching disabled: the private routes.
    pub private: bool,
    /// Its viewer requests.
    pub requests: u64,
    /// viewer-request with and without.
    pub viewer_request: TriggerCase,
    /// origin-response with and without.
    pub origin_response: TriggerCase,
}

/// The prices the advice weighs, USD.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AdvicePrices {
    /// One Lambda@Edge invocation (request and billed duration).
    pub invocation: f64,
    /// One origin request.
    pub origin_request: f64,
    /// Whether the origin uses Origin Access Control (then viewer-request relays the
    /// credential on private behaviours).
    pub origin_access_control: bool,
}

/// Why a trigger stays or goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// It stays: what it saves pays for it.
    Keep {
        /// In words.
        reason: String,
    },
    /// It stays whatever it costs.
    Required {
        /// In words.
        reason: String,
    },
    /// It goes.
    Remove {
        /// In words.
        reason: String,
        /// What the behaviour gives up without it.
        gives_up: Vec<String>,
    },
}

impl Verdict {
    /// Whether the trigger stays associated.
    pub fn keeps(&self) -> bool {
        !matches!(self, Verdict::Remove { .. })
    }
}

/// The advice for one behaviour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Advice {
    /// The behaviour's path pattern.
    pub path_pattern: String,
    /// viewer-request.
    pub viewer_request: Verdict,
    /// origin-response.
    pub origin_response: Verdict,
}

impl Advice {
    /// The triggers that stay, in CloudFront's event order.
    pub fn triggers(&self) -> Vec<Trigger> {
        let mut kept = Vec::new();
        if self.viewer_request.keeps() {
            kept.push(Trigger::ViewerRequest);
        }
        if self.origin_response.keeps() {
            kept.push(Trigger::OriginResponse);
        }
        kept
    }
}

/// The cases of every behaviour of `deployed`: `with` is this project's run (both triggers
/// everywhere), `without` CloudFront alone's on the same trace and layout (no trigger, the
/// careful cache policies). origin-response changes no key or lifetime here (this origin
/// writes the same header), so its "without" is `with` less its invocations.
pub fn cases(deployed: &Distribution, with: &Figures, without: &Figures) -> Vec<BehaviourCase> {
    deployed
        .behaviours
        .iter()
        .enumerate()
        .map(|(i, behaviour)| {
            let (on, off) = (&with.behaviours[i], &without.behaviours[i]);
            let side = |f: &BehaviourFigures, invocations: u64| Side {
                edge_hits: f.edge_hits,
                origin_requests: f.origin_requests,
                invocations,
            };
            BehaviourCase {
                path_pattern: behaviour.path_pattern.clone(),
                private: !behaviour.cache_policy.caching,
                requests: on.requests,
                viewer_request: TriggerCase {
                    with: side(on, on.viewer_request_invocations),
                    without: side(off, 0),
                },
                origin_response: TriggerCase {
                    with: side(on, on.origin_response_invocations),
                    without: side(on, 0),
                },
            }
        })
        .collect()
}

/// The advice for every behaviour of `cases`.
pub fn advise(cases: &[BehaviourCase], prices: &AdvicePrices) -> Vec<Advice> {
    cases
        .iter()
        .map(|case| {
            let viewer_request = if case.private && prices.origin_access_control {
                Verdict::Required {
                    reason: "relays the viewer's credential past Origin Access Control (X-Viewer-Authorization)".into(),
                }
            } else {
                weigh(&case.viewer_request, prices, gives_up_viewer_request(case))
            };
            Advice {
                path_pattern: case.path_pattern.clone(),
                viewer_request,
                origin_response: weigh(&case.origin_response, prices, gives_up_origin_response(case)),
            }
        })
        .collect()
}

/// Keep when `saved × origin cost ≥ invocations × price` and `saved > 0`.
fn weigh(case: &TriggerCase, prices: &AdvicePrices, gives_up: Vec<String>) -> Verdict {
    let saved = case.saved_origin_requests();
    let invocations = case.with.invocations.saturating_sub(case.without.invocations);
    let worth = saved as f64 * prices.origin_request;
    let cost = invocations as f64 * prices.invocation;
    if saved > 0 && worth >= cost {
        return Verdict::Keep {
            reason: format!("saves {saved} origin requests (${worth:.4}) for {invocations} invocations (${cost:.4})"),
        };
    }
    let reason = if invocations == 0 && saved == 0 {
        "no request on this behaviour in the trace: nothing to weigh".to_owned()
    } else if saved > 0 {
        format!("saves {saved} origin requests (${worth:.4}), less than its {invocations} invocations (${cost:.4})")
    } else {
        format!("saves no origin request; {invocations} invocations (${cost:.4})")
    };
    Verdict::Remove { reason, gives_up }
}

/// The route `rules.toml` gives a behaviour's paths (a path the pattern matches).
fn route_of(path_pattern: &str) -> &'static edge_policy::rules::Route {
    let sample = match path_pattern.strip_suffix('*') {
        Some(stem) if stem.ends_with('/') => format!("{stem}x"),
        Some(stem) => format!("{stem}/x"),
        None => path_pattern.to_owned(),
    };
    let sample = if sample.starts_with('/') {
        sample
    } else {
        format!("/{sample}")
    };
    RuleSet::embedded().route_for(&sample)
}

/// What a behaviour gives up without origin-response: the `cache-control.md` rules it
/// enforces on any origin's answer.
fn gives_up_origin_response(case: &BehaviourCase) -> Vec<String> {
    let route = route_of(&case.path_pattern);
    let mut rules = Vec::new();
    if route.kind == RouteKind::Bypass {
        rules.push("rule 0: a bypass route's answer is never shared (private, no-store)".to_owned());
    }
    rules.push("rule 1: an origin's no-store/private passes through, never gains public or s-maxage".into());
    rules.push(if route.strip_set_cookie {
        "rule 2: Set-Cookie removed from the answer (strip_set_cookie), then shared".into()
    } else {
        "rule 2: an answer with Set-Cookie is not shared (private, no-store)".into()
    });
    rules.push("rule 3: Vary: * or on a header outside the key is not shared".into());
    rules.push("rule 4: an answer to a credentialed request is shared only if the origin said so".into());
    rules.push(format!(
        "rule 6: every 5xx written no-store (stale-if-error keeps the last good copy); a negative answer shared {} s at most",
        route.freshness.negative_secs()
    ));
    if route.kind == RouteKind::Public {
        let f = &route.freshness;
        rules.push(format!(
            "rule 7: the route's freshness where the origin sent none (s-maxage={}, stale-while-revalidate={}, stale-if-error={})",
            f.s_maxage.unwrap_or(0),
            f.stale_while_revalidate.unwrap_or(0),
            f.stale_if_error.unwrap_or(0)
        ));
    }
    rules.push("one Cache-Control line (duplicate keys merged), Surrogate-Key removed".into());
    rules
}

/// What a behaviour gives up without viewer-request: the canonical key (`cache-key.md`).
fn gives_up_viewer_request(case: &BehaviourCase) -> Vec<String> {
    let mut lost = vec![
        "cache-key.md: tracking parameters removed, the route's query allow-list, parameters sorted, percent-encoding normalized, path normalized (the cache policy keys the query as received)".to_owned(),
        "cache-key.md: Accept-Encoding reduced to the key's codings".into(),
    ];
    if case.private {
        lost.push(
            "origin-cache.md: the credential relay (X-Viewer-Authorization), needed while OAC signs Authorization"
                .into(),
        );
    } else {
        lost.push("origin-cache.md: a viewer-sent X-Viewer-Authorization deleted on public requests".into());
    }
    lost
}

/// `deployed` with each behaviour's triggers as `advice` says; a public behaviour without
/// viewer-request takes its cache and origin request policies from `alone` (the careful
/// CloudFront-alone table). The origin's access control stays as deployed.
pub fn advised_distribution(deployed: &Distribution, alone: &Distribution, advice: &[Advice]) -> Distribution {
    let behaviours = deployed
        .behaviours
        .iter()
        .zip(&alone.behaviours)
        .zip(advice)
        .map(|((mine, careful), advice)| {
            let triggers = advice.triggers();
            let keyed_by_policy = !triggers.contains(&Trigger::ViewerRequest) && mine.cache_policy.caching;
            let source: &Behaviour = if keyed_by_policy { careful } else { mine };
            Arc::new(Behaviour {
                cache_policy_name: source.cache_policy_name.clone(),
                cache_policy: source.cache_policy.clone(),
                origin_request_policy: source.origin_request_policy.clone(),
                triggers,
                ..Behaviour::clone(mine)
            })
        })
        .collect();
    Distribution {
        behaviours,
        ..deployed.clone()
    }
}

/// Whether the origin uses Origin Access Control.
pub fn uses_origin_access_control(distribution: &Distribution) -> bool {
    distribution.origin.access_control == AccessControl::Always
}
