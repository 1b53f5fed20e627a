"""deploy/behaviours.toml is deploy/template.yaml, behaviour by behaviour (issue 13).

The local edge emulates the table (spec local-edge.md); these tests hold the table against
the template at its parameter defaults, both ways: every behaviour in the template is in the
table, in the same order, with the same settings, and nothing in the table is missing from
the template. Managed CloudFront policies can't be read from the template (only their ids
are there), so the table's description of them is held against AWS's documented settings
below.

Run: python3 -m pytest deploy/      (offline)
"""
import pathlib
import tomllib

import pytest

from cfn_template import Stack, load_template, ref_name

DEPLOY = pathlib.Path(__file__).resolve().parent

# AWS's managed policies, as the CloudFront Developer Guide documents them ("Use managed cache
# policies", "Use managed origin request policies"), in the table's vocabulary.
MANAGED_CACHE_POLICIES = {
    "4135ea2d-6df8-44a3-9df3-4b5a84be39ad": {  # Managed-CachingDisabled
        "caching": False,
        "min_ttl": 0,
        "default_ttl": 0,
        "max_ttl": 0,
        "accept_encoding_gzip": False,
        "accept_encoding_brotli": False,
        "query_strings": {"behavior": "none"},
        "headers": {"behavior": "none"},
        "cookies": {"behavior": "none"},
    },
}
MANAGED_ORIGIN_REQUEST_POLICIES = {
    "b689b0a8-53d0-40ab-baf2-68738e2966ac": {  # Managed-AllViewerExceptHostHeader
        "query_strings": {"behavior": "all"},
        "headers": {"behavior": "allViewerExceptHost"},
        "cookies": {"behavior": "all"},
    },
}
# CloudFront's Error Caching Minimum TTL for a 4xx/5xx without a CustomErrorResponse.
CLOUDFRONT_DEFAULT_ERROR_CACHING_MIN_TTL = 10


@pytest.fixture(scope="module")
def table():
    with open(DEPLOY / "behaviours.toml", "rb") as f:
        return tomllib.load(f)


@pytest.fixture(scope="module")
def stack():
    return Stack(load_template("template.yaml"), OriginVerifySecret="s" * 64)


# --------------------------------------------------------------------------------------------
# The template in the table's vocabulary
# --------------------------------------------------------------------------------------------


def names_config(config, behavior_key, names_key):
    """A CloudFormation Headers/Cookies/QueryStrings config as `{behavior[, names]}`."""
    out = {"behavior": config[behavior_key]}
    if config.get(names_key):
        out["names"] = list(config[names_key])
    return out


def cache_policy_settings(stack, behaviour):
    """A behaviour's cache policy as the table describes one."""
    kind, config = stack.policy(behaviour, "CachePolicyId")
    if kind == "managed":
        assert config in MANAGED_CACHE_POLICIES, f"managed cache policy {config}: settings not known"
        return dict(MANAGED_CACHE_POLICIES[config], managed_id=config)
    params = config["ParametersInCacheKeyAndForwardedToOrigin"]
    return {
        "min_ttl": stack.value(config["MinTTL"]),
        "default_ttl": stack.value(config["DefaultTTL"]),
        "max_ttl": stack.value(config["MaxTTL"]),
        "accept_encoding_gzip": params["EnableAcceptEncodingGzip"],
        "accept_encoding_brotli": params["EnableAcceptEncodingBrotli"],
        "query_strings": names_config(params["QueryStringsConfig"], "QueryStringBehavior", "QueryStrings"),
        "headers": names_config(params["HeadersConfig"], "HeaderBehavior", "Headers"),
        "cookies": names_config(params["CookiesConfig"], "CookieBehavior", "Cookies"),
    }


def origin_request_policy_settings(stack, behaviour):
    """A behaviour's origin request policy as the table describes one."""
    kind, config = stack.policy(behaviour, "OriginRequestPolicyId")
    assert kind != "none", f"{behaviour['PathPattern']}: no origin request policy"
    if kind == "managed":
        assert config in MANAGED_ORIGIN_REQUEST_POLICIES, f"managed origin request policy {config}: not known"
        return dict(MANAGED_ORIGIN_REQUEST_POLICIES[config], managed_id=config)
    return {
        "query_strings": names_config(config["QueryStringsConfig"], "QueryStringBehavior", "QueryStrings"),
        "headers": names_config(config["HeadersConfig"], "HeaderBehavior", "Headers"),
        "cookies": names_config(config["CookiesConfig"], "CookieBehavior", "Cookies"),
    }


def template_behaviours(stack):
    """Every behaviour of the distribution, in CloudFront's order, policies inlined."""
    out = []
    for b in stack.behaviours():
        out.append({
            "path_pattern": b["PathPattern"],
            "cache_policy": cache_policy_settings(stack, b),
            "origin_request_policy": origin_request_policy_settings(stack, b),
            "allowed_methods": sorted(b["AllowedMethods"]),
            "cached_methods": sorted(b["CachedMethods"]),
            "compress": b["Compress"],
            "triggers": sorted(a["EventType"] for a in b.get("LambdaFunctionAssociations", [])),
        })
    return out


def table_behaviours(table):
    """The table's behaviours with their named policies inlined."""
    out = []
    for b in table["behaviours"]:
        cache = dict(table["cache_policies"][b["cache_policy"]])
        if cache.get("caching", True):
            cache.pop("caching", None)
        out.append({
            "path_pattern": b["path_pattern"],
            "cache_policy": cache,
            "origin_request_policy": dict(table["origin_request_policies"][b["origin_request_policy"]]),
            "allowed_methods": sorted(b["allowed_methods"]),
            "cached_methods": sorted(b["cached_methods"]),
            "compress": b["compress"],
            "triggers": sorted(b["triggers"]),
        })
    return out


# --------------------------------------------------------------------------------------------
# Behaviours
# --------------------------------------------------------------------------------------------


def test_behaviour_order_and_patterns(table, stack):
    assert [b["path_pattern"] for b in table["behaviours"]] == [b["PathPattern"] for b in stack.behaviours()]
    assert table["behaviours"][-1]["path_pattern"] == "*", "the last row is the default behaviour"


@pytest.mark.parametrize("field", ["cache_policy", "origin_request_policy", "allowed_methods", "cached_methods",
                                   "compress", "triggers"])
def test_every_behaviour_setting(table, stack, field):
    for want, got in zip(table_behaviours(table), template_behaviours(stack), strict=True):
        where = f"{want['path_pattern']}: {field}"
        assert want[field] == got[field], f"{where}: table {want[field]} != template {got[field]}"


def test_the_whole_behaviour_list(table, stack):
    """Both ways at once: nothing in either that the other lacks (a new field included)."""
    assert table_behaviours(table) == template_behaviours(stack)


def test_every_policy_in_the_table_is_used(table):
    used_cache = {b["cache_policy"] for b in table["behaviours"]}
    used_origin = {b["origin_request_policy"] for b in table["behaviours"]}
    assert used_cache == set(table["cache_policies"])
    assert used_origin == set(table["origin_request_policies"])


def test_managed_policies_are_named_by_their_ids(table, stack):
    ids = {p["managed_id"] for p in table["cache_policies"].values() if "managed_id" in p}
    ids |= {p["managed_id"] for p in table["origin_request_policies"].values() if "managed_id" in p}
    in_template = {b[k] for b in stack.behaviours() for k in ("CachePolicyId", "OriginRequestPolicyId")
                   if isinstance(b.get(k), str)}
    assert ids == in_template


# The advised association for the reference rules (the template's comment above StaticTriggers,
# docs/replay.md "At scale").
ADVISED = {"StaticTriggers": "none", "ProductsTriggers": "none", "ConfigTriggers": "none",
           "DefaultTriggers": "none", "PrivateTriggers": "viewer-request"}


def test_the_advised_association_is_the_replays_advised_arm(table):
    """With the advised parameters the template is what the replay simulated as its advised
    arm (replay/src/advice.rs `advised_distribution`): the deployed table, and each public
    behaviour without viewer-request keyed and forwarded by bench/cloudfront-alone.toml's
    policies for it; the private behaviours keep viewer-request alone."""
    with open(DEPLOY.parent / "bench" / "cloudfront-alone.toml", "rb") as f:
        alone = tomllib.load(f)
    want = []
    for mine, careful in zip(table_behaviours(table), table_behaviours(alone), strict=True):
        if mine["cache_policy"].get("caching", True):
            want.append(dict(mine, cache_policy=careful["cache_policy"],
                             origin_request_policy=careful["origin_request_policy"], triggers=[]))
        else:
            want.append(dict(mine, triggers=["viewer-request"]))
    advised = Stack(load_template("template.yaml"), OriginVerifySecret="s" * 64, **ADVISED)
    assert advised.failed_rules() == []
    assert template_behaviours(advised) == want


def test_the_table_describes_the_default_triggers(table, stack):
    """The table describes the template at its defaults: origin-response is associated
    (OriginResponseTrigger=on); test_template.py covers the `off` setting."""
    assert stack.param("OriginResponseTrigger") == "on"
    assert all("origin-response" in b["triggers"] for b in table["behaviours"])


# --------------------------------------------------------------------------------------------
# Origin, function, error caching
# --------------------------------------------------------------------------------------------


def test_function_timeout(table, stack):
    assert table["function"]["timeout_secs"] == stack.resource("EdgeFunction")["Properties"]["Timeout"]


def test_origin_custom_headers(table, stack):
    (origin,) = stack.distribution_config()["Origins"]
    got = []
    for h in origin.get("OriginCustomHeaders", []):
        value = h["HeaderValue"]
        if isinstance(value, dict):
            # A template parameter is written `${Name}` in the table.
            value = "${" + ref_name(value) + "}"
        got.append({"name": h["HeaderName"], "value": value})
    assert table["origin"]["custom_headers"] == got


def test_origin_access_control(table, stack):
    (origin,) = stack.distribution_config()["Origins"]
    if table["origin"]["access_control"] == "never":
        assert "OriginAccessControlId" not in origin
        return
    oac = stack.resource(ref_name(origin["OriginAccessControlId"]))["Properties"]["OriginAccessControlConfig"]
    assert oac["SigningBehavior"] == table["origin"]["access_control"]
    assert oac["OriginAccessControlOriginType"] == "lambda" and oac["SigningProtocol"] == "sigv4"


def test_origin_read_timeout(table, stack):
    (origin,) = stack.distribution_config()["Origins"]
    assert table["origin"]["read_timeout_secs"] == origin["CustomOriginConfig"]["OriginReadTimeout"]


def test_error_caching_per_status(table, stack):
    assert table["error_caching"]["default_min_ttl_secs"] == CLOUDFRONT_DEFAULT_ERROR_CACHING_MIN_TTL
    got = sorted(
        (r["ErrorCode"], stack.value(r["ErrorCachingMinTTL"]))
        for r in stack.distribution_config().get("CustomErrorResponses", [])
    )
    want = sorted((e["status"], e["min_ttl_secs"]) for e in table["error_caching"]["custom"])
    assert want == got


def test_the_table_has_no_section_these_tests_do_not_read(table):
    assert set(table) == {"origin", "function", "error_caching", "cache_policies", "origin_request_policies",
                          "behaviours"}
    assert set(table["origin"]) == {"custom_headers", "access_control", "read_timeout_secs"}
    assert set(table["function"]) == {"timeout_secs"}
