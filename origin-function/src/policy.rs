//! The origin decides each answer's `Cache-Control` once, with the edge's policy
//! (`edge_policy::cache_control::decide`, cache-control.md), and carries the [`Decided`]
//! value — header, rule and lifetime — to the response and to the stores.
//!
//! For shared requests the decision depends only on the route and the status: the source
//! sends no `Cache-Control`, `Set-Cookie` or `Vary`, and a request with the viewer's
//! credential never takes the shared path. So it is computed once per (route, status) for
//! the statuses the source answers with, when the origin is built, and looked up per load.

use std::sync::Arc;

use edge_policy::cache_control::{decide, CacheControl, Decision, Lifetime, ResponseFacts, Rule, TtlBounds};
use edge_policy::{HeaderField, Route, RuleSet};

/// A decided `Cache-Control`: the decision, its one header line, and how long the origin's
/// own layers may keep the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The decision (directives and the rule that chose them).
    pub decision: Decision,
    /// The one `Cache-Control` line.
    pub header: String,
    /// How L1 and L2 keep the answer (`TtlBounds::ORIGIN`); `None` when a shared cache may
    /// not store it.
    pub lifetime: Option<Lifetime>,
}

impl Decided {
    /// Decides `facts` on `route`.
    pub fn new(facts: &ResponseFacts<'_>, route: &Route) -> Self {
        let decision = decide(facts, route);
        let lifetime = Lifetime::from_cache_control(&decision.cache_control, TtlBounds::ORIGIN);
        // cache-control.md rule 6: L1 and L2 keep a negative answer at most N from its
        // source load, with no stale window, whatever header it carries.
        let lifetime = match decision.rule {
            Rule::NegativeAnswer => lifetime.map(|l| Lifetime {
                ttl: l.ttl.min(route.freshness.negative_secs()),
                ..Lifetime::default()
            }),
            _ => lifetime,
        };
        Decided {
            header: decision.cache_control.to_header_value(),
            lifetime,
            decision,
        }
    }

    /// Whether the origin's layers store the answer: the route policy decided it, or it is a
    /// negative answer (rules 6 and 7 of cache-control.md, so not a 5xx, not private), and it
    /// stays fresh for a while.
    pub fn storable(&self) -> Option<Lifetime> {
        self.lifetime
            .filter(|l| matches!(self.decision.rule, Rule::RoutePolicy | Rule::NegativeAnswer) && l.ttl > 0)
    }

    /// The directives as decided.
    pub fn cache_control(&self) -> &CacheControl {
        &self.decision.cache_control
    }
}

/// The statuses the demo source answers a shared request with (503: the source failed).
const SOURCE_STATUSES: &[u16] = &[200, 400, 404, 503];

/// The decisions for shared answers, per route and status, computed once.
#[derive(Debug)]
pub struct Policies {
    rules: &'static RuleSet,
    /// `(route index, status, decision)`.
    shared: Vec<(usize, u16, Arc<Decided>)>,
}

/// What the source's answers on the shared path carry: no header the policy reads.
const NO_FIELDS: &[HeaderField<'static>] = &[];

fn shared_facts(status: u16) -> ResponseFacts<'static> {
    // No `Expires` is read from an empty header list, so the clock is not needed.
    ResponseFacts::read(Some(status), NO_FIELDS, NO_FIELDS, 0)
}

impl Policies {
    /// The decisions of `rules`.
    pub fn new(rules: &'static RuleSet) -> Self {
        let shared = rules
            .routes()
            .iter()
            .enumerate()
            .filter(|(_, route)| !route.is_bypass())
            .flat_map(|(index, route)| {
                SOURCE_STATUSES
                    .iter()
                    .map(move |&status| (index, status, Arc::new(Decided::new(&shared_facts(status), route))))
            })
            .collect();
        Policies { rules, shared }
    }

    /// The rules.
    pub fn rules(&self) -> &'static RuleSet {
        self.rules
    }

    /// The decision for a shared answer with `status` on `route` (a route of these rules).
    pub fn shared(&self, route: &Route, status: u16) -> Arc<Decided> {
        let index = self.rules.routes().iter().position(|r| std::ptr::eq(r, route));
        self.shared
            .iter()
            .find(|(i, s, _)| Some(*i) == index && *s == status)
            .map(|(_, _, d)| Arc::clone(d))
            .unwrap_or_else(|| Arc::new(Decided::new(&shared_facts(status), route)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_precomputed_decision_equals_deciding_again() {
        let rules = RuleSet::embedded();
        let policies = Policies::new(rules);
        for route in rules.routes().iter().filter(|r| !r.is_bypass()) {
            for status in [200, 203, 400, 404, 410, 503] {
                assert_eq!(
                    *policies.shared(route, status),
                    Decided::new(&shared_facts(status), route),
                    "{} {status}",
                    route.name
                );
            }
        }
    }

    #[test]
    fn only_the_route_policy_or_a_negative_answer_with_a_lifetime_is_storable() {
        let rules = RuleSet::embedded();
        let policies = Policies::new(rules);
        let products = rules.route_for("/api/products/1");
        let ok = policies.shared(products, 200);
        assert_eq!(
            ok.header,
            "public, max-age=60, s-maxage=300, stale-while-revalidate=86400, stale-if-error=86400"
        );
        assert_eq!(ok.storable().map(|l| (l.ttl, l.keep_secs())), Some((300, 300 + 86_400)));
        assert!(policies.shared(products, 404).storable().is_some());
        // cache-control.md rule 6: a negative answer is kept N seconds, no stale window.
        let negative = policies.shared(products, 404);
        assert_eq!(negative.header, "public, max-age=0, s-maxage=10");
        assert_eq!(negative.storable().map(|l| (l.ttl, l.keep_secs())), Some((10, 10)));
        assert_eq!(policies.shared(products, 503).header, "no-store");
        assert!(policies.shared(products, 503).storable().is_none());
        assert!(policies.shared(products, 400).storable().is_none());
    }
}
