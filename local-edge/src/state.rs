//! What every request shares: the configuration, the edge's identity and clock, the
//! triggers, the origin, the cache, the flights in progress and the counters. Built once
//! when the edge starts and passed by reference down the request flow.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::answer::Outcome;
use crate::cache::EdgeCache;
use crate::cache_key::EdgeKey;
use crate::clock::Clock;
use crate::collapse::Flights;
use crate::config::EdgeConfig;
use crate::distribution::{CustomHeader, Distribution, SECRET_PLACEHOLDER};
use crate::events::DISTRIBUTION_ID;
use crate::explain::Redaction;
use crate::forward::EdgeIdentity;
use crate::handler_host::NodeHost;
use crate::http_origin::HttpOrigin;
use crate::invalidation::Invalidations;
use crate::origin::OriginPool;
use crate::page::record::Recorder;
use crate::stats::Stats;
use crate::triggers::{Handler, Triggers};

/// What every request shares.
pub(crate) struct State {
    /// How the edge runs.
    pub(crate) config: EdgeConfig,
    /// The distribution's and the origin's domains, as CloudFront names them.
    pub(crate) identity: EdgeIdentity,
    /// The origin custom headers with the secret filled in.
    pub(crate) custom_headers: Vec<(CustomHeader, String)>,
    /// The Lambda@Edge triggers.
    pub(crate) triggers: Triggers,
    /// The origin's execution environments.
    pub(crate) origin: Arc<OriginPool>,
    /// The HTTP origin, when the edge fronts one instead (`--http-origin`).
    pub(crate) http_origin: Option<HttpOrigin>,
    /// The edge cache.
    pub(crate) cache: EdgeCache,
    /// The cache fills in progress, by key (request collapsing).
    pub(crate) flights: Flights<EdgeKey, Arc<Outcome>>,
    /// The counters.
    pub(crate) stats: Stats,
    /// The edge's clock, read once per step and passed down.
    pub(crate) clock: Clock,
    /// The requests the live page shows (`None`: the page is off).
    pub(crate) recorder: Option<Recorder>,
    /// What the page never shows: credentials, cookie values, the secret.
    pub(crate) redaction: Redaction,
    /// CloudFront's invalidations of this distribution (purge.md).
    pub(crate) invalidations: Invalidations,
    ids: AtomicU64,
}

impl State {
    /// The shared state of an edge run as `config` says, in front of `origin`.
    pub(crate) fn new(config: EdgeConfig, origin: Arc<OriginPool>) -> State {
        let handler = match &config.edge_package {
            Some(dir) => Handler::Node(NodeHost::new(dir, config.handler_instances)),
            None => Handler::Native,
        };
        let limit = Duration::from_secs(config.distribution.function.timeout_secs);
        let keepalive = Duration::from_secs(config.distribution.origin.keepalive_timeout_secs);
        let http_origin = config
            .http_origin
            .clone()
            .map(|settings| HttpOrigin::new(settings, keepalive));
        let custom_headers = config
            .distribution
            .origin
            .custom_headers
            .iter()
            .map(|h| (h.clone(), h.value.replace(SECRET_PLACEHOLDER, &config.origin_secret)))
            .collect();
        State {
            identity: EdgeIdentity {
                distribution_domain: config.distribution_domain.clone(),
                origin_domain: config.origin_domain.clone(),
            },
            custom_headers,
            triggers: Triggers::new(handler, config.distribution_domain.clone(), limit),
            cache: EdgeCache::new(config.cache_capacity, config.cache_bytes),
            recorder: config.debug_page.then(Recorder::new),
            redaction: Redaction::new(&config.distribution, Some(&config.origin_secret)),
            invalidations: Invalidations::new(DISTRIBUTION_ID, config.invalidation_delay),
            config,
            origin,
            http_origin,
            flights: Flights::default(),
            stats: Stats::default(),
            clock: Clock::default(),
            ids: AtomicU64::new(1),
        }
    }

    /// The distribution the edge emulates.
    pub(crate) fn distribution(&self) -> &Distribution {
        &self.config.distribution
    }

    /// A new `X-Amz-Cf-Id`-like request id.
    pub(crate) fn request_id(&self) -> String {
        format!(
            "LOCAL{:016X}==",
            self.ids
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        )
    }

    /// The counters as JSON.
    pub(crate) fn stats_json(&self) -> serde_json::Value {
        let node =
            |count: fn(&NodeHost) -> &AtomicU64| self.triggers.node().map_or(0, |n| count(n).load(Ordering::Relaxed));
        let mut json = self.stats.to_json(self.cache.len(), node(|n| &n.starts), &self.origin);
        json["handler_replacements"] = node(|n| &n.replacements).into();
        json["handler_invocations"] = node(|n| &n.invocations).into();
        json["cache_weighted_bytes"] = self.cache.weighted_bytes().into();
        json["cache_budget_bytes"] = self.cache.max_bytes().into();
        json
    }
}
