"""The deployment templates agree with the rules file, the edge handler, the origin and AWS.

Run: python3 -m pytest deploy/      (offline; no AWS credentials)

Reads rules.toml (or $EDGE_RULES, as the edge build does) with tomllib and the templates with
deploy/cfn_template.py, which also evaluates Conditions, `Fn::If` and Rules for a given set of
parameter values, so each optional part is checked both on and off.
"""
import copy
import json
import os
import pathlib
import re
import tomllib

import pytest
import yaml

from cfn_template import Stack, load_template, ref_name

DEPLOY = pathlib.Path(__file__).resolve().parent
ROOT = DEPLOY.parent
RULES_PATH = pathlib.Path(os.environ.get("EDGE_RULES", ROOT / "rules.toml"))
HANDLER_JS = ROOT / "wasm-pkg" / "index.js"

# CloudFront managed policies (ids are global and fixed).
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
MANAGED_CACHE_POLICY_MIN_TTL = {
    CACHING_DISABLED: 0,  # Managed-CachingDisabled: min/default/max 0
    "658327ea-f89d-4fab-a63d-7e88639e58f6": 1,  # Managed-CachingOptimized: min 1 (would cache `private`)
}
# Managed origin request policies that forward every viewer header (so X-Viewer-Authorization):
# Managed-AllViewer, Managed-AllViewerExceptHostHeader.
FORWARDS_ALL_VIEWER_HEADERS = {
    "216adef6-5c7f-47e4-b989-5492eafa07d3",
    "b689b0a8-53d0-40ab-baf2-68738e2966ac",
}
# The header the viewer's credential reaches the origin in under OAC (cache-key.md).
VIEWER_CREDENTIAL = "x-viewer-authorization"
# CloudFront's cap on a Lambda@Edge viewer-trigger zip (lambda-edge-rules.md "Limits").
EDGE_ZIP_LIMIT = 1_048_576
# Statuses whose error caching the template sets (lambda-edge-rules.md "Error responses").
# 404, 405 and 414: the answer's own Cache-Control (the policy's short negative lifetime) decides.
ERROR_STATUSES_NOT_CACHED = {403, 404, 405, 414, 500, 502, 503, 504}


@pytest.fixture(scope="module")
def rules():
    with open(RULES_PATH, "rb") as f:
        return tomllib.load(f)["route"]


@pytest.fixture(scope="module")
def tpl():
    return load_template("template.yaml")


@pytest.fixture(scope="module")
def stack(tpl):
    """The main template at its parameter defaults (plus the required secret)."""
    return deployed(tpl)


@pytest.fixture(scope="module")
def apigw():
    return load_template("apigw-cache.yaml")


@pytest.fixture(scope="module")
def elasticache():
    return load_template("elasticache.yaml")


SECRET = "s" * 64


def deployed(tpl, **parameters):
    parameters.setdefault("OriginVerifySecret", SECRET)
    return Stack(tpl, **parameters)


def resources_of_type(template, type_name):
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_name}


# --------------------------------------------------------------------------------------------
# The edge's route matching (cache-key.md, ARCHITECTURE.md) and CloudFront's behaviour selection
# --------------------------------------------------------------------------------------------


def literal_part(pattern):
    """A pattern without its trailing `/*` or `*` (cache-key.md, bypass matching)."""
    for tail in ("/*", "*"):
        if pattern.endswith(tail):
            return pattern[: -len(tail)]
    return pattern


def edge_route(rules, path):
    """First matching route. Public: exact, or prefix ending in `*`. Bypass: fail closed,
    any path starting with the pattern's literal part, ASCII case-insensitively (an
    over-match the spec allows)."""
    for route in rules:
        for pattern in route["patterns"]:
            if route["kind"] == "bypass":
                if path.lower().startswith(literal_part(pattern).lower()):
                    return route
            elif pattern.endswith("*"):
                if path.startswith(pattern[:-1]):
                    return route
            elif path == pattern:
                return route
    raise AssertionError(f"no route for {path} (rules.toml must end with /*)")


def cloudfront_glob(pattern, path):
    """CloudFront path patterns: `*` any run, `?` one character, case-sensitive."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, path, flags=re.S) is not None


def behaviour_for(stack, path):
    """The behaviour CloudFront picks for a viewer path: the first matching PathPattern."""
    return next(b for b in stack.behaviours() if cloudfront_glob(b["PathPattern"], path))


def cache_policy(stack, behaviour):
    """('managed', id) or ('custom', CachePolicyConfig)."""
    return stack.policy(behaviour, "CachePolicyId")


def origin_request_policy(stack, behaviour):
    """('managed', id), ('custom', OriginRequestPolicyConfig) or ('none', None)."""
    return stack.policy(behaviour, "OriginRequestPolicyId")


def is_uncached(stack, behaviour):
    kind, p = cache_policy(stack, behaviour)
    if kind == "managed":
        return p == CACHING_DISABLED
    return stack.value(p["MaxTTL"]) == 0


def names_in(config, behaviour_key, names_key):
    """What a Headers/Cookies config covers: 'all', or a set of lower-case names."""
    if config is None:
        return set()
    behaviour = config[behaviour_key]
    if behaviour == "none":
        return set()
    if behaviour in ("all", "allViewer", "allViewerAndWhitelistCloudFront", "allExcept"):
        return "all"
    assert behaviour == "whitelist", behaviour
    return {n.lower() for n in config.get(names_key, [])}


def keyed(stack, behaviour):
    """(cookies, headers) the behaviour's cache policy keys (and so forwards)."""
    kind, p = cache_policy(stack, behaviour)
    if kind == "managed":
        assert p == CACHING_DISABLED, f"unknown managed cache policy {p}"
        return set(), set()
    params = p["ParametersInCacheKeyAndForwardedToOrigin"]
    return (
        names_in(params["CookiesConfig"], "CookieBehavior", "Cookies"),
        names_in(params["HeadersConfig"], "HeaderBehavior", "Headers"),
    )


def forwarded_unkeyed(stack, behaviour):
    """(cookies, headers) the behaviour's origin request policy forwards beyond the key."""
    kind, p = origin_request_policy(stack, behaviour)
    if kind == "none":
        return set(), set()
    if kind == "managed":
        assert p in FORWARDS_ALL_VIEWER_HEADERS, f"unknown managed origin request policy {p}"
        return "all", "all"
    return (
        names_in(p["CookiesConfig"], "CookieBehavior", "Cookies"),
        names_in(p["HeadersConfig"], "HeaderBehavior", "Headers"),
    )


def forwards_viewer_credential(stack, behaviour):
    for headers in (keyed(stack, behaviour)[1], forwarded_unkeyed(stack, behaviour)[1]):
        if headers == "all" or VIEWER_CREDENTIAL in headers:
            return True
    return False


def sample_paths(patterns):
    """Paths around each pattern: exact, suffixes a framework might ignore, deeper paths."""
    paths = set()
    for pattern in patterns:
        if pattern == "/*":
            paths.update({"/", "/index.html", "/api", "/api/", "/api/unknown", "/favicon.ico"})
            continue
        literal = pattern[:-1] if pattern.endswith("*") else pattern
        for suffix in ("", "x", "1", "/", "/7", "/x.css", ";x.css", ".", "%2Fx.css", "/a/b"):
            paths.add((literal + suffix).replace("//", "/") or "/")
    return sorted(paths)


def all_sample_paths(rules):
    return sorted({p for route in rules for p in sample_paths(route["patterns"])})


# --------------------------------------------------------------------------------------------
# Routes <-> behaviours
# --------------------------------------------------------------------------------------------


def test_rules_file_is_the_reference_shape(rules):
    assert rules[-1]["patterns"] == ["/*"], "the last route must be the catch-all"
    assert any(r["kind"] == "bypass" for r in rules)


def test_every_pattern_has_a_behaviour_or_the_default_covers_it(stack, rules):
    patterns = [b["PathPattern"] for b in stack.behaviours()]
    for route in rules:
        for pattern in route["patterns"]:
            if pattern == "/*":
                continue  # the default behaviour
            if route["kind"] == "bypass":
                # The widest pattern CloudFront's syntax allows (lambda-edge-rules.md).
                widest = literal_part(pattern) + "*"
                assert widest in patterns, f"bypass pattern {pattern}: no behaviour {widest}"
            else:
                b = behaviour_for(stack, pattern[:-1] + "x" if pattern.endswith("*") else pattern)
                assert b["PathPattern"] in (pattern, "*"), (pattern, b["PathPattern"])


def test_behaviour_agrees_with_the_edge_route_for_every_sample_path(stack, rules):
    for path in all_sample_paths(rules):
        route = edge_route(rules, path)
        b = behaviour_for(stack, path)
        where = f"{path} -> route {route['name']}, behaviour {b['PathPattern']}"
        if route["kind"] == "bypass":
            assert is_uncached(stack, b), f"bypass path on a caching behaviour: {where}"
            assert forwards_viewer_credential(stack, b), f"bypass path without {VIEWER_CREDENTIAL}: {where}"
        else:
            assert not is_uncached(stack, b), f"public path on an uncached behaviour: {where}"
            assert not forwards_viewer_credential(stack, b), f"public path forwards {VIEWER_CREDENTIAL}: {where}"


def test_bypass_spellings_the_edge_treats_as_private_land_on_the_bypass_behaviours(stack):
    """cache-key.md's own examples: each must reach a behaviour that forwards the credential."""
    for path in ("/api/users", "/api/users%2F7", "/api/users;/7", "/api/users/7", "/api/me", "/api/me.json",
                 "/api/me;x.css", "/api/me%2Fx.css", "/api/me/x.css"):
        b = behaviour_for(stack, path)
        assert is_uncached(stack, b) and forwards_viewer_credential(stack, b), (path, b["PathPattern"])


def test_other_spellings_of_private_paths_fail_closed(stack, rules):
    """CloudFront picks behaviours case-sensitively on the raw path; the edge treats /API/ME as
    private. Such a request may land on a public behaviour: it must then neither forward the
    credential (the origin answers 401 private) nor cache what the origin marks private."""
    for route in rules:
        if route["kind"] != "bypass":
            continue
        for pattern in route["patterns"]:
            literal = literal_part(pattern)
            for path in (literal.upper() + "1", literal.replace("/", "//", 1) + "1", literal.title() + "1"):
                assert edge_route(rules, path)["kind"] == "bypass" or "//" in path
                b = behaviour_for(stack, path)
                if is_uncached(stack, b):
                    continue
                assert not forwards_viewer_credential(stack, b), path
                kind, p = cache_policy(stack, b)
                assert kind == "custom" and p["MinTTL"] == 0, path


def policy_mismatches(stack, rules):
    """Where the rules file's kept cookies and key headers (which the edge keeps on the request
    and puts in its key) differ from what the behaviours' cache policies key. A cookie the
    edge keeps but CloudFront doesn't key would be served to viewers with other cookies (or
    not reach the origin at all); one CloudFront keys that no route keeps only splits the cache."""
    wanted = {}  # behaviour pattern -> (cookies, headers) the routes landing there keep
    for route in rules:
        if route["kind"] == "bypass":
            continue
        for path in sample_paths(route["patterns"]):
            if edge_route(rules, path) is not route:
                continue
            b = behaviour_for(stack, path)
            cookies, headers = wanted.setdefault(b["PathPattern"], (set(), set()))
            cookies.update(c.lower() for c in route.get("cookies", []))
            headers.update(h.lower() for h in route.get("key_headers", []))
    problems = []
    for b in stack.behaviours():
        if b["PathPattern"] not in wanted:
            continue
        want_cookies, want_headers = wanted[b["PathPattern"]]
        got_cookies, got_headers = keyed(stack, b)
        for what, want, got in (("cookies", want_cookies, got_cookies), ("headers", want_headers, got_headers)):
            if got != want:
                problems.append(f"{b['PathPattern']}: rules keep {what} {sorted(want)}, the cache policy keys {got}")
        unkeyed_cookies, unkeyed_headers = forwarded_unkeyed(stack, b)
        if unkeyed_cookies or unkeyed_headers:
            problems.append(f"{b['PathPattern']}: forwards unkeyed {unkeyed_cookies or ''} {unkeyed_headers or ''}")
    return problems


def test_rules_cookies_and_key_headers_match_what_the_policies_key(stack, rules):
    assert policy_mismatches(stack, rules) == []


def test_the_policy_check_fails_when_a_route_gains_a_cookie_or_a_key_header(stack, rules):
    products = next(i for i, r in enumerate(rules) if r["name"] == "products")
    with_cookie = copy.deepcopy(rules)
    with_cookie[products]["cookies"] = ["session"]
    problems = policy_mismatches(stack, with_cookie)
    assert problems and all("session" in p for p in problems), problems
    with_header = copy.deepcopy(rules)
    with_header[products]["key_headers"] = ["X-Tenant"]
    problems = policy_mismatches(stack, with_header)
    assert problems and all("x-tenant" in p for p in problems), problems


def test_public_cache_policy_keys_the_canonical_request(stack):
    for b in stack.behaviours():
        if is_uncached(stack, b):
            continue
        kind, p = cache_policy(stack, b)
        assert kind == "custom", "public behaviours use the template's cache policy"
        params = p["ParametersInCacheKeyAndForwardedToOrigin"]
        assert params["QueryStringsConfig"]["QueryStringBehavior"] == "all"
        assert params["EnableAcceptEncodingGzip"] is True
        assert params["EnableAcceptEncodingBrotli"] is True
        assert origin_request_policy(stack, b)[0] == "custom"
        assert forwarded_unkeyed(stack, b) == (set(), set()), "no unkeyed cookie or header reaches the origin"


def test_min_ttl_is_zero_on_every_cache_policy_used(stack):
    for b in stack.behaviours():
        kind, p = cache_policy(stack, b)
        if kind == "managed":
            assert MANAGED_CACHE_POLICY_MIN_TTL.get(p) == 0, f"managed cache policy {p}: MinTTL not known to be 0"
        else:
            assert p["MinTTL"] == 0, "MinTTL > 0 caches private/no-store responses"


def test_ttl_bounds_keep_the_routes_freshness(stack, rules):
    default_ttl, max_ttl = stack.param("DefaultTTL"), stack.param("MaxTTL")
    assert 0 <= default_ttl <= max_ttl
    longest = max(r.get("s_maxage", r.get("max_age", 0)) for r in rules)
    assert max_ttl >= longest, f"MaxTTL {max_ttl} would shorten an s-maxage of {longest}"
    for b in stack.behaviours():
        kind, p = cache_policy(stack, b)
        if kind == "custom":
            assert p["DefaultTTL"] == {"Ref": "DefaultTTL"} and p["MaxTTL"] == {"Ref": "MaxTTL"}


def test_behaviours_are_get_head_https(stack):
    for b in stack.behaviours():
        assert sorted(b["AllowedMethods"]) == ["GET", "HEAD"]
        assert b["ViewerProtocolPolicy"] in ("redirect-to-https", "https-only")


def policy_compresses(stack, behaviour):
    """CloudFront compresses only where the cache policy enables gzip or Brotli."""
    kind, p = cache_policy(stack, behaviour)
    if kind == "managed":
        assert p == CACHING_DISABLED, f"managed cache policy {p}: encodings not known"
        return False
    params = p["ParametersInCacheKeyAndForwardedToOrigin"]
    return bool(params["EnableAcceptEncodingGzip"] or params["EnableAcceptEncodingBrotli"])


def test_compress_only_where_the_cache_policy_compresses(stack):
    for b in stack.behaviours():
        assert b["Compress"] is policy_compresses(stack, b), b["PathPattern"]
    assert any(b["Compress"] for b in stack.behaviours()) and not all(b["Compress"] for b in stack.behaviours())


@pytest.mark.parametrize("name", ["template.yaml", "apigw-cache.yaml", "elasticache.yaml"])
def test_no_template_holds_a_yaml_anchor_or_alias(name):
    """CloudFormation's own YAML parser refuses anchors and aliases (SAM CLI's re-dump only
    hides them): every repeated block is written out."""
    with open(DEPLOY / name, encoding="utf-8") as f:
        events = list(yaml.parse(f, Loader=yaml.SafeLoader))
    aliases = [e for e in events if isinstance(e, yaml.AliasEvent)]
    anchors = [e for e in events if getattr(e, "anchor", None)]
    where = [f"line {e.start_mark.line + 1}" for e in aliases + anchors]
    assert not where, f"{name}: anchors/aliases at {', '.join(where)}"


def test_the_anchor_check_sees_an_alias():
    events = list(yaml.parse("a: &x {b: 1}\nc: *x\n", Loader=yaml.SafeLoader))
    assert any(isinstance(e, yaml.AliasEvent) for e in events)
    assert any(getattr(e, "anchor", None) for e in events)


# --------------------------------------------------------------------------------------------
# Error caching
# --------------------------------------------------------------------------------------------


def test_errors_that_must_not_stick_are_not_cached_and_the_rest_keep_cloudfronts_default(tpl, stack):
    responses = stack.distribution_config()["CustomErrorResponses"]
    by_status = {r["ErrorCode"]: r for r in responses}
    assert set(by_status) == ERROR_STATUSES_NOT_CACHED, "other statuses stay at CloudFront's default"
    for status, r in by_status.items():
        assert set(r) == {"ErrorCode", "ErrorCachingMinTTL"}, f"{status}: no replacement page or status"
        assert stack.value(r["ErrorCachingMinTTL"]) == 0, status
        # Each is a parameter, and a change to it reaches the distribution.
        name = ref_name(r["ErrorCachingMinTTL"])
        assert tpl["Parameters"][name]["Type"] == "Number"
        changed = deployed(tpl, **{name: 30})
        ttls = {x["ErrorCode"]: changed.value(x["ErrorCachingMinTTL"])
                for x in changed.distribution_config()["CustomErrorResponses"]}
        assert ttls[status] == 30


# --------------------------------------------------------------------------------------------
# Lambda@Edge
# --------------------------------------------------------------------------------------------


def handler_triggers():
    """Event types for which wasm-pkg/index.js does work (not a pass-through return)."""
    source = HANDLER_JS.read_text(encoding="utf-8")
    return set(re.findall(r"case '([a-z-]+)':\s*return \w+\(", source))


def associations(stack):
    """{pattern: sorted event types} of every behaviour."""
    out = {}
    for b in stack.behaviours():
        for a in b.get("LambdaFunctionAssociations", []):
            # A numbered version (SAM AutoPublishAlias), never $LATEST or an alias.
            assert a["LambdaFunctionARN"] == {"Ref": "EdgeFunction.Version"}
            assert a.get("IncludeBody", False) is False
        out[b["PathPattern"]] = sorted(a["EventType"] for a in b.get("LambdaFunctionAssociations", []))
    return out


def test_edge_associations_are_exactly_the_triggers_the_handler_implements(stack):
    implemented = handler_triggers()
    assert implemented == {"viewer-request", "origin-response"}, implemented
    assert stack.param("OriginResponseTrigger") == "on", "the default runs every trigger the handler has"
    for pattern, events in associations(stack).items():
        assert events == sorted(implemented), pattern


def test_origin_response_trigger_off_leaves_only_viewer_request(tpl):
    for pattern, events in associations(deployed(tpl, OriginResponseTrigger="off")).items():
        assert events == ["viewer-request"], pattern


# Each route's trigger parameter and the behaviours it governs (rules.toml route names).
ROUTE_TRIGGERS = {
    "StaticTriggers": ["/static/*"],
    "ProductsTriggers": ["/api/products", "/api/products/*"],
    "ConfigTriggers": ["/api/config"],
    "PrivateTriggers": ["/api/users*", "/api/me*"],
    "DefaultTriggers": ["*"],
}


@pytest.mark.parametrize("name", sorted(ROUTE_TRIGGERS))
def test_each_routes_triggers_are_chosen_per_route(tpl, name):
    both = ["origin-response", "viewer-request"]
    for value in tpl["Parameters"][name]["AllowedValues"]:
        got = associations(deployed(tpl, **{name: value}))
        want = sorted(t for t in value.split(",") if t != "none")
        for pattern, events in got.items():
            assert events == (want if pattern in ROUTE_TRIGGERS[name] else both), f"{name}={value}: {pattern}"
        # OriginResponseTrigger=off still removes origin-response from every route.
        off = associations(deployed(tpl, OriginResponseTrigger="off", **{name: value}))
        assert off[ROUTE_TRIGGERS[name][0]] == [t for t in want if t != "origin-response"], f"{name}={value}"
    assert tpl["Parameters"][name]["Default"] == "viewer-request,origin-response", "default: today's associations"


def test_the_private_routes_always_keep_viewer_request(tpl):
    """It relays the viewer's credential past OAC: without it the private routes break."""
    assert all(v.startswith("viewer-request") for v in tpl["Parameters"]["PrivateTriggers"]["AllowedValues"])


def test_a_public_route_without_viewer_request_keys_by_a_careful_policy(tpl, rules):
    s = deployed(tpl, StaticTriggers="none", ProductsTriggers="origin-response", ConfigTriggers="none",
                 DefaultTriggers="none")
    assert s.failed_rules() == []
    products = next(r for r in rules if r["name"] == "products")
    for path, query in [("/static/a.js", {"QueryStringBehavior": "none"}),
                        ("/api/config", {"QueryStringBehavior": "none"}),
                        ("/api/products", {"QueryStringBehavior": "whitelist", "QueryStrings": products["query_allow"]}),
                        ("/api/products/7", {"QueryStringBehavior": "whitelist", "QueryStrings": products["query_allow"]})]:
        b = behaviour_for(s, path)
        kind, p = cache_policy(s, b)
        assert kind == "custom" and p["MinTTL"] == 0, path
        assert p["ParametersInCacheKeyAndForwardedToOrigin"]["QueryStringsConfig"] == query, path
        kind, o = origin_request_policy(s, b)
        assert kind == "custom" and o["QueryStringsConfig"] == {"QueryStringBehavior": "none"}, path
        assert forwarded_unkeyed(s, b) == (set(), set()), f"{path}: nothing outside the key reaches the origin"
    default = cache_policy(s, behaviour_for(s, "/anything"))[1]["ParametersInCacheKeyAndForwardedToOrigin"]
    excluded = default["QueryStringsConfig"]
    assert excluded["QueryStringBehavior"] == "allExcept" and len(excluded["QueryStrings"]) == 10
    # The private routes and every policy's TTL floor are unchanged.
    assert is_uncached(s, behaviour_for(s, "/api/me"))
    # With viewer-request everywhere (the default) none of these policies is created.
    for logical_id in ("NoQueryCachePolicy", "ProductsCachePolicy", "AllButTrackingCachePolicy",
                       "KeyOnlyOriginRequestPolicy"):
        assert not deployed(tpl).exists(logical_id), logical_id
        assert s.exists(logical_id), logical_id


def test_edge_function_is_a_valid_lambda_at_edge(tpl, stack):
    p = stack.resource("EdgeFunction")["Properties"]
    assert tpl["Resources"]["EdgeFunction"]["Type"] == "AWS::Serverless::Function"
    m = re.fullmatch(r"nodejs(\d+)\.x", p["Runtime"])
    assert m and int(m.group(1)) >= 22, f"edge runtime {p['Runtime']}: nodejs22.x or newer, fixed in the template"
    assert p["Handler"] == "index.handler"
    assert p["CodeUri"] == "../dist/edge-worker-lambda.zip"
    assert p["MemorySize"] == 128 and p["Timeout"] == 5
    assert p["AutoPublishAlias"]
    assert p.get("Architectures", ["x86_64"]) == ["x86_64"], "Lambda@Edge runs x86_64 only"
    for forbidden in ("Environment", "Layers", "VpcConfig", "DeadLetterQueue", "Tracing"):
        assert forbidden not in p, f"Lambda@Edge does not allow {forbidden}"
    assert "Globals" not in tpl or "Function" not in tpl["Globals"], "Globals would reach the edge function"


def parameter_refs(value, parameters):
    """Template parameters `value` refers to (Ref, or ${Name} in a Sub)."""
    found = set()
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "Ref" and v in parameters:
                found.add(v)
            elif k == "Fn::Sub":
                text = v if isinstance(v, str) else v[0]
                found |= set(re.findall(r"\$\{([A-Za-z0-9]+)\}", text)) & set(parameters)
            else:
                found |= parameter_refs(v, parameters)
    elif isinstance(value, list):
        for v in value:
            found |= parameter_refs(v, parameters)
    return found


def test_any_change_to_the_edge_function_publishes_a_new_version(tpl):
    """SAM names the version by a hash of the properties as written (parameters unresolved)
    with AutoPublishAliasAllProperties; so a property that followed a parameter (the old
    EdgeRuntime) would change the function without publishing a version CloudFront runs."""
    p = tpl["Resources"]["EdgeFunction"]["Properties"]
    assert p["AutoPublishAliasAllProperties"] is True
    refs = {name: parameter_refs(value, tpl["Parameters"]) for name, value in p.items()}
    # Renaming the function replaces it, and its version with it.
    assert refs.pop("FunctionName") <= {"NamePrefix"}
    assert {k: v for k, v in refs.items() if v} == {}, "edge function properties that follow a parameter"
    assert "EdgeRuntime" not in tpl["Parameters"]


def test_edge_role_trusts_edgelambda(stack):
    role = stack.resource(ref_name(stack.resource("EdgeFunction")["Properties"]["Role"]))
    services = set()
    for st in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
        if st["Effect"] == "Allow" and "sts:AssumeRole" in json.dumps(st["Action"]):
            s = st["Principal"]["Service"]
            services.update([s] if isinstance(s, str) else s)
    assert {"lambda.amazonaws.com", "edgelambda.amazonaws.com"} <= services


def test_stack_is_pinned_to_us_east_1(tpl):
    assertions = [a for rule in tpl.get("Rules", {}).values() for a in rule["Assertions"]]
    assert any(a["Assert"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]} for a in assertions)


# --------------------------------------------------------------------------------------------
# Origin: tables, IAM, environment, warm-up
# --------------------------------------------------------------------------------------------


def test_cache_table_is_on_demand_with_ttl_on_expires_at(stack):
    p = stack.resource("CacheTable")["Properties"]
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert p["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert p["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert p["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}


def test_catalogue_table_matches_the_origin_schema(stack):
    p = stack.resource("CatalogueTable")["Properties"]
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert p["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]


def test_purge_table_has_the_origin_schema_and_ttl(stack):
    p = stack.resource("PurgeTable")["Properties"]
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert p["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert p["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert origin_env(stack)["ORIGIN_PURGE_TABLE"] == {"Ref": "PurgeTable"}


def test_the_operators_purge_policy_is_least_privilege(tpl):
    for backend, expected in (
        ("dynamodb", {"Invalidate", "PurgeTable", "Markers"}),
        ("redis", {"Invalidate", "DirectInvoke"}),
    ):
        s = deployed(tpl) if backend == "dynamodb" else deployed(tpl, **REDIS)
        text, names = s.outputs()["PurgeOperatorPolicy"]["Value"]["Fn::Sub"]
        policy = json.loads(text)
        sids = {st["Sid"] for st in policy["Statement"]}
        assert sids == expected, backend
        for st in policy["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            assert all("*" not in a for a in actions), actions
            assert "*" not in st["Resource"].replace("${", "").replace("}", ""), st["Resource"]
            if st["Sid"] == "Invalidate":
                assert set(actions) == {
                    "cloudfront:CreateInvalidation",
                    "cloudfront:GetInvalidation",
                    "cloudfront:ListInvalidations",
                }
                assert st["Resource"].endswith(":distribution/${Distribution}")
        assert all("Fn::GetAtt" in v for v in names.values())


def origin_env(stack):
    return stack.resource("OriginFunction")["Properties"]["Environment"]["Variables"]


def test_origin_function_runtime_and_environment(stack):
    p = stack.resource("OriginFunction")["Properties"]
    assert p["Runtime"] == "provided.al2023" and p["Handler"] == "bootstrap"
    assert p["Architectures"] == ["arm64"]
    assert p["CodeUri"] == "../dist/origin-function.zip"
    env = origin_env(stack)
    # Names read by origin-function/src/config.rs.
    assert env["ORIGIN_CACHE_TABLE"] == {"Ref": "CacheTable"}
    assert env["ORIGIN_CATALOGUE_TABLE"] == {"Ref": "CatalogueTable"}
    assert stack.value(env["ORIGIN_L2_BACKEND"]) == "dynamodb"
    assert "ORIGIN_REDIS_URL" not in env
    assert "VpcConfig" not in p and "ReservedConcurrentExecutions" not in p


def test_origin_env_names_exist_in_the_origin_source(tpl):
    config_rs = ROOT / "origin-function" / "src" / "config.rs"
    if not config_rs.exists():
        pytest.skip("origin-function/src/config.rs not present")
    source = config_rs.read_text(encoding="utf-8")
    env = tpl["Resources"]["OriginFunction"]["Properties"]["Environment"]["Variables"]
    for name in env:
        assert f'"{name}"' in source, f"{name} is not read by origin-function/src/config.rs"


def role_statements(stack):
    role = stack.resource(ref_name(stack.resource("OriginFunction")["Properties"]["Role"]))["Properties"]
    return role, [st for pol in role["Policies"] for st in pol["PolicyDocument"]["Statement"]]


def test_origin_iam_is_least_privilege(stack, tpl):
    for backend, tables in (
        ("dynamodb", {"CacheTable", "CatalogueTable", "PurgeTable"}),
        ("redis", {"CatalogueTable"}),
    ):
        s = stack if backend == "dynamodb" else deployed(tpl, **REDIS)
        role, statements = role_statements(s)
        allowed = {
            "CacheTable": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"},
            "CatalogueTable": {"dynamodb:GetItem", "dynamodb:Query"},
            "PurgeTable": {"dynamodb:BatchWriteItem", "dynamodb:GetItem", "dynamodb:Query"},
        }
        seen = set()
        for st in statements:
            assert st["Effect"] == "Allow"
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            if st["Sid"] == "OwnLogs":
                assert all("log-group:/aws/lambda/${NamePrefix}-origin" in r["Fn::Sub"] for r in resources)
                continue
            if st["Sid"] == "RedisIamConnect":
                assert backend == "redis" and st["Action"] == "elasticache:Connect"
                assert sorted(r["Fn::Sub"].split(":")[-2] for r in resources) == ["replicationgroup", "user"]
                assert {r["Fn::Sub"].rsplit(":", 1)[1] for r in resources} == {"${RedisCacheName}", "${RedisIamUser}"}
                seen.add("Redis")
                continue
            for r in resources:
                table = ref_name(r)
                assert table in allowed, f"statement on {r}: only the three tables"
                seen.add(table)
                for action in st["Action"]:
                    assert "*" not in action and action in allowed[table], action
        assert seen == tables | ({"Redis"} if backend == "redis" else set()), backend
        in_vpc = backend == "redis"
        managed = [json.dumps(a) for a in role.get("ManagedPolicyArns", [])]
        assert len(managed) == int(in_vpc) and all("AWSLambdaVPCAccessExecutionRole" in a for a in managed)


def test_warmup_rule_every_five_minutes(stack):
    (name, rule), = stack.resources("AWS::Events::Rule").items()
    p = rule["Properties"]
    assert p["ScheduleExpression"] == "rate(5 minutes)"
    (target,) = p["Targets"]
    assert ref_name(target["Arn"]) == "OriginFunction"
    assert json.loads(target["Input"]) == {"warmup": True}
    perms = [r["Properties"] for r in stack.resources("AWS::Lambda::Permission").values()
             if r["Properties"]["Principal"] == "events.amazonaws.com"]
    assert perms and ref_name(perms[0]["SourceArn"]) == name
    assert perms[0]["Action"] == "lambda:InvokeFunction"


# --------------------------------------------------------------------------------------------
# Origin access: OAC, the secret, the second edge's URL, reserved concurrency
# --------------------------------------------------------------------------------------------


DISTRIBUTION_ARN = {"Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}"}


def permissions(stack):
    return [r["Properties"] for r in stack.resources("AWS::Lambda::Permission").values()]


def test_only_cloudfront_may_call_the_function_url(stack):
    """OAC: the URL takes only SigV4-signed requests, and only CloudFront's principal, for this
    distribution, may sign them; both actions a function URL needs since October 2025."""
    (url,) = [u["Properties"] for u in stack.resources("AWS::Lambda::Url").values()]
    assert url["AuthType"] == "AWS_IAM" and ref_name(url["TargetFunctionArn"]) == "OriginFunction"
    assert "Qualifier" not in url
    (origin,) = stack.distribution_config()["Origins"]
    url_domain = {"Fn::Split": ["/", {"Fn::GetAtt": ["OriginFunctionUrl", "FunctionUrl"]}]}
    assert origin["DomainName"] == {"Fn::Select": [2, url_domain]}
    oac = stack.resource(ref_name(origin["OriginAccessControlId"]))
    assert oac["Type"] == "AWS::CloudFront::OriginAccessControl"
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["OriginAccessControl", "Id"]}
    config = oac["Properties"]["OriginAccessControlConfig"]
    assert (config["OriginAccessControlOriginType"], config["SigningBehavior"], config["SigningProtocol"]) == (
        "lambda", "always", "sigv4")
    cloudfront = [p for p in permissions(stack) if p["Principal"] == "cloudfront.amazonaws.com"]
    assert sorted(p["Action"] for p in cloudfront) == ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]
    for p in cloudfront:
        assert p["FunctionName"] == {"Ref": "OriginFunction"}
        assert p["SourceArn"] == DISTRIBUTION_ARN, "scoped to this distribution"
        if p["Action"] == "lambda:InvokeFunction":
            assert p["InvokedViaFunctionUrl"] is True
        else:
            assert p["FunctionUrlAuthType"] == "AWS_IAM"
    # Nobody else may invoke the unqualified function through a URL.
    services = ("cloudfront.amazonaws.com", "events.amazonaws.com")
    others = [p for p in permissions(stack) if p["Principal"] not in services]
    assert others == [], others


def test_the_secret_header_stays_a_second_check(tpl, stack):
    (origin,) = stack.distribution_config()["Origins"]
    headers = {h["HeaderName"].lower(): h["HeaderValue"] for h in origin.get("OriginCustomHeaders", [])}
    env = origin_env(stack)
    assert env["ORIGIN_VERIFY_HEADER"] in headers
    assert headers[env["ORIGIN_VERIFY_HEADER"]] == env["ORIGIN_VERIFY_SECRET"] == {"Ref": "OriginVerifySecret"}
    param = tpl["Parameters"]["OriginVerifySecret"]
    assert param["NoEcho"] is True and param["MinLength"] >= 32 and "Default" not in param
    assert "," not in param["AllowedPattern"], "one secret is sent; the previous one is a separate parameter"


def test_a_rotation_accepts_both_secrets_and_sends_the_new_one(tpl):
    s = deployed(tpl, OriginVerifySecretPrevious="p" * 64)
    assert origin_env(s)["ORIGIN_VERIFY_SECRET"] == {"Fn::Sub": "${OriginVerifySecret},${OriginVerifySecretPrevious}"}
    (origin,) = s.distribution_config()["Origins"]
    assert [h["HeaderValue"] for h in origin["OriginCustomHeaders"]] == [{"Ref": "OriginVerifySecret"}]
    assert tpl["Parameters"]["OriginVerifySecretPrevious"]["NoEcho"] is True


def test_second_edge_url_is_off_by_default(stack):
    assert stack.param("SecondEdgeUrl") == "off"
    assert not [k for k in stack.resources() if k.startswith("SecondEdge")]
    assert "SecondEdgeUrl" not in stack.outputs()
    assert not [p for p in permissions(stack) if p["Principal"] == "*"]


def test_second_edge_url_is_public_only_on_its_alias(tpl):
    s = deployed(tpl, SecondEdgeUrl="on", OriginReservedConcurrency=50)
    assert s.failed_rules() == []
    alias = s.resource("SecondEdgeAlias")["Properties"]
    assert alias["FunctionName"] == {"Ref": "OriginFunction"} and alias["FunctionVersion"] == "$LATEST"
    urls = {k: u["Properties"] for k, u in s.resources("AWS::Lambda::Url").items()}
    second = urls["SecondEdgeFunctionUrl"]
    assert second["AuthType"] == "NONE" and second["Qualifier"] == alias["Name"]
    assert urls["OriginFunctionUrl"]["AuthType"] == "AWS_IAM"
    public = [p for p in permissions(s) if p["Principal"] == "*"]
    assert sorted(p["Action"] for p in public) == ["lambda:InvokeFunction", "lambda:InvokeFunctionUrl"]
    for p in public:
        # The alias's ARN: the unqualified function (CloudFront's URL) stays closed.
        assert p["FunctionName"] == {"Ref": "SecondEdgeAlias"}, p
    assert s.outputs()["SecondEdgeUrl"]["Value"] == {"Fn::GetAtt": ["SecondEdgeFunctionUrl", "FunctionUrl"]}
    # The origin checks the secret on every Function URL request, whichever URL it came by.
    assert origin_env(s)["ORIGIN_VERIFY_SECRET"] == {"Ref": "OriginVerifySecret"}
    reserved = s.resource("OriginFunction")["Properties"]["ReservedConcurrentExecutions"]
    assert reserved == {"Ref": "OriginReservedConcurrency"}


def test_second_edge_url_needs_reserved_concurrency(tpl):
    assert deployed(tpl, SecondEdgeUrl="on").failed_rules() == ["SecondEdgeUrlNeedsReservedConcurrency"]


def test_reserved_concurrency_is_a_parameter_and_zero_means_none(tpl, stack):
    param = tpl["Parameters"]["OriginReservedConcurrency"]
    assert param["Type"] == "Number" and param["Default"] == 0 and param["MinValue"] == 0
    assert "ReservedConcurrentExecutions" not in stack.resource("OriginFunction")["Properties"]
    p = deployed(tpl, OriginReservedConcurrency=20).resource("OriginFunction")["Properties"]
    assert p["ReservedConcurrentExecutions"] == {"Ref": "OriginReservedConcurrency"}


def test_origin_shield_and_logging_are_off_unless_given(tpl, stack):
    (origin,) = stack.distribution_config()["Origins"]
    assert "OriginShield" not in origin and "Logging" not in stack.distribution_config()
    s = deployed(tpl, OriginShieldRegion="us-east-1", LoggingBucket="my-logs.s3.amazonaws.com",
                 LoggingPrefix="edge-cache/")
    (origin,) = s.distribution_config()["Origins"]
    assert origin["OriginShield"] == {"Enabled": True, "OriginShieldRegion": {"Ref": "OriginShieldRegion"}}
    logging = s.distribution_config()["Logging"]
    assert logging == {"Bucket": {"Ref": "LoggingBucket"}, "Prefix": {"Ref": "LoggingPrefix"}, "IncludeCookies": False}
    assert re.fullmatch(tpl["Parameters"]["LoggingBucket"]["AllowedPattern"], "my-logs.s3.amazonaws.com")
    assert not re.fullmatch(tpl["Parameters"]["LoggingBucket"]["AllowedPattern"], "my-logs")
    assert re.fullmatch(tpl["Parameters"]["OriginShieldRegion"]["AllowedPattern"], "us-east-1")


def test_throttle_alarm_is_optional_and_watches_the_origin(tpl, stack):
    assert not stack.resources("AWS::CloudWatch::Alarm")
    s = deployed(tpl, ThrottleAlarmTopicArn="arn:aws:sns:us-east-1:123456789012:ops")
    (alarm,) = [a["Properties"] for a in s.resources("AWS::CloudWatch::Alarm").values()]
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/Lambda", "Throttles", "Sum")
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "OriginFunction"}}]
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"] == [{"Ref": "ThrottleAlarmTopicArn"}]


def test_default_parameters_pass_every_rule(stack):
    assert stack.failed_rules() == []


def test_outputs(stack):
    out = stack.outputs()
    assert out["DistributionUrl"]["Value"] == {"Fn::Sub": "https://${Distribution.DomainName}"}
    for name in (
        "OriginFunctionName",
        "OriginFunctionArn",
        "EdgeFunctionName",
        "CacheTableName",
        "CatalogueTableName",
        "PurgeTableName",
        "PurgeOperatorPolicy",
    ):
        assert name in out


# --------------------------------------------------------------------------------------------
# The ElastiCache L2, from parameters
# --------------------------------------------------------------------------------------------


REDIS = dict(
    L2Backend="redis",
    RedisUrl="rediss://l2.example:6379",
    OriginSubnetIds="subnet-0a,subnet-0b",
    OriginSecurityGroupIds="sg-0a",
    RedisIamUser="edge-cache-origin",
    RedisCacheName="edge-cache-l2",
)


def test_redis_backend_runs_the_origin_in_the_vpc_with_its_url(tpl):
    s = deployed(tpl, **REDIS)
    assert s.failed_rules() == []
    p = s.resource("OriginFunction")["Properties"]
    assert p["VpcConfig"] == {
        "SubnetIds": {"Ref": "OriginSubnetIds"},
        "SecurityGroupIds": {"Ref": "OriginSecurityGroupIds"},
    }
    env = p["Environment"]["Variables"]
    assert s.value(env["ORIGIN_L2_BACKEND"]) == "redis"
    assert s.value(env["ORIGIN_REDIS_URL"]) == REDIS["RedisUrl"]
    assert s.value(env["ORIGIN_REDIS_IAM_USER"]) == REDIS["RedisIamUser"]
    assert s.value(env["ORIGIN_REDIS_IAM_CACHE"]) == REDIS["RedisCacheName"]


def test_redis_backend_without_its_url_or_vpc_is_refused(tpl):
    for missing in ("RedisUrl", "OriginSubnetIds", "RedisIamUser", "RedisCacheName"):
        params = dict(REDIS, **{missing: ""})
        if missing == "OriginSubnetIds":
            params["OriginSecurityGroupIds"] = ""
        assert "RedisL2NeedsUrlAndVpc" in deployed(tpl, **params).failed_rules(), missing
    half = deployed(tpl, OriginSubnetIds="subnet-0a")
    assert half.failed_rules() == ["VpcNeedsSubnetsAndSecurityGroups"]


def test_redis_url_is_tls_only_and_holds_no_credential(tpl):
    pattern = tpl["Parameters"]["RedisUrl"]["AllowedPattern"]
    assert re.fullmatch(pattern, "rediss://master.edge-cache-l2.abc123.use1.cache.amazonaws.com:6379")
    assert re.fullmatch(pattern, "")
    assert not re.fullmatch(pattern, "redis://l2.example:6379")
    assert not re.fullmatch(pattern, "rediss://user:pass@l2.example:6379")
    assert not re.fullmatch(pattern, "rediss://:pass@l2.example:6379")
    for name in ("RedisUrl", "RedisIamUser", "RedisCacheName"):
        assert not tpl["Parameters"][name].get("NoEcho"), f"{name} is not a secret (IAM authentication)"


def test_origin_env_names_for_redis_exist_in_the_origin_source(tpl):
    """The backend switch uses the origin's own names and values (config.rs)."""
    config_rs = ROOT / "origin-function" / "src" / "config.rs"
    if not config_rs.exists():
        pytest.skip("origin-function/src/config.rs not present")
    source = config_rs.read_text(encoding="utf-8")
    for value in tpl["Parameters"]["L2Backend"]["AllowedValues"]:
        assert f'"{value}"' in source, value


def test_elasticache_engine_and_version_rule(elasticache):
    ok = [("valkey", "8.0"), ("valkey", "7.2"), ("redis", "7.1")]
    bad = [("valkey", "7.1"), ("redis", "8.0"), ("redis", "7.2")]
    versions = elasticache["Parameters"]["EngineVersion"]["AllowedValues"]
    engines = elasticache["Parameters"]["Engine"]["AllowedValues"]
    assert {(e, v) for e in engines for v in versions} == set(ok) | set(bad), "every pair is judged below"
    for engine, version in ok:
        assert Stack(elasticache, VpcId="vpc-1", SubnetIds="subnet-0a", Engine=engine,
                     EngineVersion=version).failed_rules() == [], (engine, version)
    for engine, version in bad:
        assert Stack(elasticache, VpcId="vpc-1", SubnetIds="subnet-0a", Engine=engine,
                     EngineVersion=version).failed_rules(), (engine, version)


def test_elasticache_is_tls_only_and_reachable_only_from_the_origin(elasticache):
    for given in ("", "sg-0origin"):
        s = Stack(elasticache, VpcId="vpc-1", SubnetIds="subnet-0a", OriginSecurityGroupId=given)
        cache = s.resource("Cache")["Properties"]
        assert cache["TransitEncryptionEnabled"] is True and cache["TransitEncryptionMode"] == "required"
        assert cache["AtRestEncryptionEnabled"] is True
        (ingress,) = s.resource("CacheSecurityGroup")["Properties"]["SecurityGroupIngress"]
        assert (ingress["FromPort"], ingress["ToPort"]) == (6379, 6379)
        origin_sg = s.outputs()["OriginSecurityGroupId"]["Value"]
        assert ingress["SourceSecurityGroupId"] == origin_sg
        assert s.exists("OriginSecurityGroup") == (given == "")
        assert s.outputs()["RedisUrl"]["Value"]["Fn::Sub"].startswith("rediss://")


def test_elasticache_dynamodb_gateway_endpoint(elasticache):
    s = Stack(elasticache, VpcId="vpc-1", SubnetIds="subnet-0a", DynamoDbRouteTableIds="rtb-1,rtb-2")
    ep = s.resource("DynamoDbEndpoint")["Properties"]
    assert ep["VpcEndpointType"] == "Gateway"
    assert ep["ServiceName"] == {"Fn::Sub": "com.amazonaws.${AWS::Region}.dynamodb"}
    assert not Stack(elasticache, VpcId="vpc-1", SubnetIds="subnet-0a").exists("DynamoDbEndpoint")


def test_elasticache_outputs_are_the_main_stacks_l2_parameters(elasticache, tpl):
    outputs = set(elasticache["Outputs"])
    for output, parameter in (("RedisUrl", "RedisUrl"), ("OriginSubnetIds", "OriginSubnetIds"),
                              ("OriginSecurityGroupId", "OriginSecurityGroupIds"),
                              ("RedisIamUser", "RedisIamUser"), ("RedisCacheName", "RedisCacheName")):
        assert output in outputs and parameter in tpl["Parameters"]


def test_elasticache_takes_only_its_iam_user(elasticache):
    """RBAC: the replication group takes the users of its group only; `default` (what an
    unauthenticated connection becomes) is switched off; the origin's user authenticates with
    IAM, whose user name must equal its id."""
    s = Stack(elasticache, VpcId="vpc-1", SubnetIds="subnet-0a")
    cache = s.resource("Cache")["Properties"]
    (group_ref,) = cache["UserGroupIds"]
    group = s.resource(ref_name(group_ref))
    assert group["Type"] == "AWS::ElastiCache::UserGroup"
    users = {ref_name(u): s.resource(ref_name(u))["Properties"] for u in group["Properties"]["UserIds"]}
    by_name = {u["UserName"] if isinstance(u["UserName"], str) else "origin": u for u in users.values()}
    assert set(by_name) == {"default", "origin"}
    default, origin = by_name["default"], by_name["origin"]
    assert default["AccessString"].split()[0] == "off" and "-@all" in default["AccessString"]
    assert default["AuthenticationMode"] == {"Type": "no-password-required"}
    assert origin["AuthenticationMode"] == {"Type": "iam"}
    assert origin["UserName"] == origin["UserId"], "IAM authentication needs user name == user id"
    access = origin["AccessString"].split()
    assert access[0] == "on" and "+@all" not in access and access[-1] == "-@dangerous"
    for u in users.values():
        assert u["Engine"] == cache["Engine"] == group["Properties"]["Engine"]
    (origin_id,) = [k for k, u in users.items() if u is origin]
    assert s.outputs()["RedisIamUser"]["Value"] == {"Ref": origin_id}
    assert s.outputs()["RedisCacheName"]["Value"] == {"Ref": "Cache"}


def test_no_cache_password_anywhere(elasticache, tpl):
    """IAM tokens only: no AuthToken, no user password, no password-like parameter or output."""
    text = json.dumps(elasticache)
    assert "AuthToken" not in text and "Passwords" not in text
    for template in (elasticache, tpl):
        for name in list(template.get("Parameters", {})) + list(template.get("Outputs", {})):
            assert not re.search(r"password|token|auth", name, re.I), name


# --------------------------------------------------------------------------------------------
# API Gateway cache stack
# --------------------------------------------------------------------------------------------

# Request headers the origin answers differently for (origin-cache.md: the viewer's credential,
# the unkeyed X-Forwarded-Host, a validator). The stage cache ignores Cache-Control, so a cached
# method must key each of them.
ORIGIN_READ_HEADERS = {"authorization", "x-viewer-authorization", "x-forwarded-host", "if-none-match"}


def method_path(apigw, method):
    """'/api/products/{id}' for a Method resource; '/' for the root."""
    parts = []
    rid = method["Properties"]["ResourceId"]
    while isinstance(rid, dict) and "Ref" in rid:
        res = apigw["Resources"][rid["Ref"]]["Properties"]
        parts.append(res["PathPart"])
        rid = res["ParentId"]
    return "/" + "/".join(reversed(parts))


def apigw_methods(apigw):
    methods = resources_of_type(apigw, "AWS::ApiGateway::Method").values()
    return {method_path(apigw, m): m["Properties"] for m in methods}


def stage_settings(apigw):
    (stage,) = resources_of_type(apigw, "AWS::ApiGateway::Stage").values()
    return stage["Properties"]


def caching_enabled(apigw, path):
    """Effective CachingEnabled for GET <path>: the most specific MethodSetting wins."""
    encoded = "/" if path == "/" else "/" + path.replace("/", "~1")
    enabled = None
    for s in stage_settings(apigw)["MethodSettings"]:
        if s["ResourcePath"] == "/*" and enabled is None:
            enabled = s.get("CachingEnabled")
    for s in stage_settings(apigw)["MethodSettings"]:
        if s["ResourcePath"] == encoded and s["HttpMethod"] in ("GET", "*"):
            enabled = s.get("CachingEnabled")
    return bool(enabled)


def api_path_route(rules, path):
    return edge_route(rules, re.sub(r"\{\w+\+?\}", "7", path))


def api_path_for(pattern):
    """The API Gateway resource path a rules.toml pattern needs: `/a/*` -> `/a/{x}` or `/a/{x+}`."""
    if pattern == "/*":
        return re.compile(r"/\{\w+\+\}")
    literal = re.escape(pattern[:-1]) if pattern.endswith("*") else re.escape(pattern)
    return re.compile(literal + (r"\{\w+\+?\}" if pattern.endswith("*") else ""))


def test_apigw_cache_keys_follow_the_allow_lists(apigw, rules):
    methods = apigw_methods(apigw)
    assert methods, "no methods"
    for path, m in methods.items():
        route = api_path_route(rules, path)
        keys = m["Integration"].get("CacheKeyParameters", [])
        query_keys = sorted(k.split(".", 3)[3] for k in keys if k.startswith("method.request.querystring."))
        path_keys = sorted(k.split(".", 3)[3] for k in keys if k.startswith("method.request.path."))
        if route["kind"] == "bypass":
            assert not caching_enabled(apigw, path), f"{path}: private route cached"
            continue
        if route.get("query") in ("allow", "drop"):
            assert caching_enabled(apigw, path), f"{path}: caching off"
        if route.get("query") == "allow":
            assert query_keys == sorted(route["query_allow"]), path
        elif route.get("query") == "drop":
            assert query_keys == [], path
        else:
            # All (non-tracking) parameters are significant and the stage cache can only key
            # declared ones: such a route must not be cached here.
            assert not caching_enabled(apigw, path), f"{path}: route {route['name']} cannot be keyed"
            continue
        # Every path parameter is keyed, or different resources would share one entry.
        assert path_keys == sorted(re.findall(r"\{(\w+)\+?\}", path)), path
        for k in keys:
            assert m["RequestParameters"].get(k) is not None, f"{path}: cache key {k} not declared"


def test_apigw_cached_methods_key_every_header_the_origin_reads(apigw, rules):
    """The stage cache stores `private, no-store` answers too: keyed by the credential, the
    unkeyed header and the validator, none is ever served to a request that differs in them."""
    for path, m in apigw_methods(apigw).items():
        if not caching_enabled(apigw, path):
            continue
        route = api_path_route(rules, path)
        keys = m["Integration"].get("CacheKeyParameters", [])
        headers = {k.split(".", 3)[3].lower() for k in keys if k.startswith("method.request.header.")}
        wanted = ORIGIN_READ_HEADERS | {h.lower() for h in route.get("key_headers", [])}
        if route.get("cookies"):
            wanted.add("cookie")
        assert wanted <= headers, f"{path}: not keyed: {sorted(wanted - headers)}"


def test_apigw_caches_nothing_unless_a_method_says_so(apigw):
    (default,) = [s for s in stage_settings(apigw)["MethodSettings"] if s["ResourcePath"] == "/*"]
    assert default["CachingEnabled"] is False


def test_apigw_products_route_keys_equal_rules_allow_list(apigw, rules):
    products = next(r for r in rules if r["name"] == "products")
    methods = apigw_methods(apigw)
    for pattern in products["patterns"]:
        (path,) = [p for p in methods if api_path_for(pattern).fullmatch(p)]
        keys = methods[path]["Integration"]["CacheKeyParameters"]
        assert sorted(k.rsplit(".", 1)[1] for k in keys if ".querystring." in k) == sorted(products["query_allow"])


def test_apigw_every_route_has_a_method(apigw, rules):
    paths = set(apigw_methods(apigw))
    assert "/" in paths, "GET / (the default route) must not be API Gateway's 403"
    for route in rules:
        for pattern in route["patterns"]:
            assert any(api_path_for(pattern).fullmatch(p) for p in paths), pattern


def test_apigw_stage_cache_encrypted(apigw):
    s = stage_settings(apigw)
    assert s["CacheClusterEnabled"] is True
    assert s["CacheClusterSize"] == "0.5"
    assert s["MethodSettings"]
    for m in s["MethodSettings"]:
        assert m["CacheDataEncrypted"] is True, m["ResourcePath"]
        if m.get("CachingEnabled"):
            assert 0 < m["CacheTtlInSeconds"] <= 3600, m["ResourcePath"]


def test_apigw_uses_lambda_proxy_to_the_given_function(apigw):
    assert "OriginFunctionArn" in apigw["Parameters"]
    for path, m in apigw_methods(apigw).items():
        integ = m["Integration"]
        assert integ["Type"] == "AWS_PROXY" and integ["IntegrationHttpMethod"] == "POST", path
        assert "${OriginFunctionArn}" in integ["Uri"]["Fn::Sub"], path
        assert m["HttpMethod"] == "GET", path


def test_apigw_may_invoke_the_origin_for_its_own_stage_only(apigw):
    (perm,) = [r["Properties"] for r in resources_of_type(apigw, "AWS::Lambda::Permission").values()]
    assert perm["Principal"] == "apigateway.amazonaws.com" and perm["Action"] == "lambda:InvokeFunction"
    assert perm["FunctionName"] == {"Ref": "OriginFunctionArn"}
    assert perm["SourceArn"]["Fn::Sub"].endswith(":${Api}/${StageName}/GET/*")


def test_apigw_deployment_holds_every_method(apigw):
    (dep,) = resources_of_type(apigw, "AWS::ApiGateway::Deployment").values()
    assert set(dep["DependsOn"]) == set(resources_of_type(apigw, "AWS::ApiGateway::Method"))


def test_apigw_stage_is_throttled_and_bills_no_method_metrics_by_default(apigw):
    """The stack is a public way to the origin around CloudFront and OAC: every method
    setting states the stage throttle, and detailed (billed) metrics stay off unless asked."""
    params = apigw["Parameters"]
    assert params["DetailedMetrics"]["Default"] == "off"
    assert 0 < params["ThrottlingRateLimit"]["Default"] <= 1000
    assert params["ThrottlingRateLimit"]["Default"] <= params["ThrottlingBurstLimit"]["Default"] <= 5000
    for setting in stage_settings(apigw)["MethodSettings"]:
        where = f"{setting['ResourcePath']} {setting['HttpMethod']}"
        assert setting["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}, where
        assert setting["ThrottlingBurstLimit"] == {"Ref": "ThrottlingBurstLimit"}, where
        for detailed, want in (("off", False), ("on", True)):
            assert Stack(apigw, OriginFunctionArn="arn:aws:lambda:us-east-1:123456789012:function:f",
                         DetailedMetrics=detailed).value(setting["MetricsEnabled"]) is want, where
