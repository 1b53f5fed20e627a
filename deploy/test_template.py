"""The deployment templates agree with the rules file and with what the edge handler does.

Run: python3 -m pytest deploy/      (offline; no AWS credentials)

Reads rules.toml (or $EDGE_RULES, as the edge build does) with tomllib and the templates with a
YAML loader that understands CloudFormation's short-form tags (!Ref, !GetAtt, !Sub, ...).
"""
import json
import os
import pathlib
import re
import tomllib

import pytest
import yaml

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
# Origin request policies that forward the viewer's Authorization (allowed only when caching
# is disabled): Managed-AllViewer, Managed-AllViewerExceptHostHeader.
FORWARDS_AUTHORIZATION = {
    "216adef6-5c7f-47e4-b989-5492eafa07d3",
    "b689b0a8-53d0-40ab-baf2-68738e2966ac",
}


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


class CfnLoader(yaml.SafeLoader):
    """SafeLoader plus CloudFormation's short-form intrinsic functions."""


def _intrinsic(loader, tag_suffix, node):
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(name):
    with open(DEPLOY / name, encoding="utf-8") as f:
        return yaml.load(f, Loader=CfnLoader)


@pytest.fixture(scope="module")
def rules():
    with open(RULES_PATH, "rb") as f:
        return tomllib.load(f)["route"]


@pytest.fixture(scope="module")
def tpl():
    return load_template("template.yaml")


@pytest.fixture(scope="module")
def apigw():
    return load_template("apigw-cache.yaml")


def resources_of_type(template, type_name):
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_name}


def resolve_default(template, value):
    """A literal, or the Default of a !Ref'd parameter."""
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in template.get("Parameters", {}):
        return template["Parameters"][value["Ref"]].get("Default")
    return value


def parameter_values(template, value):
    """Every value a property can take: a literal, or a parameter's AllowedValues/Default."""
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in template.get("Parameters", {}):
        p = template["Parameters"][value["Ref"]]
        return list(p.get("AllowedValues") or []) + [p.get("Default")]
    return [value]


def ref_name(value):
    """The logical id a {'Ref': X} or {'Fn::GetAtt': [X, ...]} points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
    return None


# --------------------------------------------------------------------------------------------
# The edge's route matching (ARCHITECTURE.md) and CloudFront's behaviour selection
# --------------------------------------------------------------------------------------------


def edge_route(rules, path):
    """First matching route. Public: exact, or prefix ending in `*`. Bypass: fail closed,
    any path starting with the pattern's literal part, ASCII case-insensitively."""
    for route in rules:
        for pattern in route["patterns"]:
            literal = pattern[:-1] if pattern.endswith("*") else pattern
            if route["kind"] == "bypass":
                if path.lower().startswith(literal.lower()):
                    return route
            elif pattern.endswith("*"):
                if path.startswith(literal):
                    return route
            elif path == pattern:
                return route
    raise AssertionError(f"no route for {path} (rules.toml must end with /*)")


def cloudfront_glob(pattern, path):
    """CloudFront path patterns: `*` any run, `?` one character, case-sensitive."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, path, flags=re.S) is not None


def distribution_config(tpl):
    (dist,) = resources_of_type(tpl, "AWS::CloudFront::Distribution").values()
    return dist["Properties"]["DistributionConfig"]


def behaviour_for(tpl, path):
    """The behaviour CloudFront picks for a viewer path: first matching PathPattern, else default."""
    config = distribution_config(tpl)
    for b in config.get("CacheBehaviors", []):
        if cloudfront_glob(b["PathPattern"], path):
            return b
    return config["DefaultCacheBehavior"]


def all_behaviours(tpl):
    config = distribution_config(tpl)
    return config.get("CacheBehaviors", []) + [config["DefaultCacheBehavior"]]


def cache_policy(tpl, behaviour):
    """('managed', id) or ('custom', CachePolicyConfig)."""
    pid = behaviour["CachePolicyId"]
    if isinstance(pid, str):
        return "managed", pid
    name = ref_name(pid)
    res = tpl["Resources"][name]
    assert res["Type"] == "AWS::CloudFront::CachePolicy", name
    return "custom", res["Properties"]["CachePolicyConfig"]


def is_uncached(tpl, behaviour):
    kind, p = cache_policy(tpl, behaviour)
    if kind == "managed":
        return p == CACHING_DISABLED
    return resolve_default(tpl, p["MaxTTL"]) == 0


def forwards_authorization(tpl, behaviour):
    orp = behaviour.get("OriginRequestPolicyId")
    if isinstance(orp, str):
        return orp in FORWARDS_AUTHORIZATION
    kind, p = cache_policy(tpl, behaviour)
    if kind == "custom":
        hc = p["ParametersInCacheKeyAndForwardedToOrigin"]["HeadersConfig"]
        return hc["HeaderBehavior"] == "whitelist" and "authorization" in [h.lower() for h in hc.get("Headers", [])]
    return False


def sample_paths(rules):
    """Paths around every pattern: exact, suffixes a framework might ignore, deeper paths."""
    paths = {"/", "/index.html", "/api", "/api/", "/api/unknown", "/favicon.ico"}
    for route in rules:
        for pattern in route["patterns"]:
            literal = pattern[:-1] if pattern.endswith("*") else pattern
            for suffix in ("", "x", "1", "/", "/7", "/x.css", ";x.css", ".", "%2Fx.css", "/a/b"):
                paths.add((literal + suffix).replace("//", "/") or "/")
    return sorted(paths)


# --------------------------------------------------------------------------------------------
# Routes <-> behaviours
# --------------------------------------------------------------------------------------------


def test_rules_file_is_the_reference_shape(rules):
    assert rules[-1]["patterns"] == ["/*"], "the last route must be the catch-all"
    assert any(r["kind"] == "bypass" for r in rules)


def test_every_pattern_has_a_behaviour_or_the_default_covers_it(tpl, rules):
    patterns = {b["PathPattern"] for b in distribution_config(tpl).get("CacheBehaviors", [])}
    for route in rules:
        for pattern in route["patterns"]:
            if pattern == "/*":
                continue  # the default behaviour
            literal = pattern[:-1] if pattern.endswith("*") else pattern
            if route["kind"] == "bypass":
                # The edge's fail-closed prefix match, as a CloudFront pattern.
                assert literal + "*" in patterns, f"bypass pattern {pattern}: no behaviour {literal}*"
            else:
                b = behaviour_for(tpl, literal if not pattern.endswith("*") else literal + "x")
                assert b.get("PathPattern") in (pattern, None), (pattern, b.get("PathPattern"))


def test_behaviour_agrees_with_the_edge_route_for_every_sample_path(tpl, rules):
    for path in sample_paths(rules):
        route = edge_route(rules, path)
        b = behaviour_for(tpl, path)
        where = f"{path} -> route {route['name']}, behaviour {b.get('PathPattern', 'default')}"
        if route["kind"] == "bypass":
            assert is_uncached(tpl, b), f"bypass path on a caching behaviour: {where}"
            assert forwards_authorization(tpl, b), f"bypass path without Authorization at the origin: {where}"
        else:
            assert not is_uncached(tpl, b), f"public path on an uncached behaviour: {where}"
            assert not forwards_authorization(tpl, b), f"public path forwards Authorization: {where}"


def test_other_spellings_of_private_paths_fail_closed(tpl, rules):
    """CloudFront picks behaviours case-sensitively on the raw path; the edge treats /API/ME as
    private. Such a request may land on a public behaviour: it must then neither forward
    Authorization (the origin answers 401 private) nor cache what the origin marks private."""
    for route in rules:
        if route["kind"] != "bypass":
            continue
        for pattern in route["patterns"]:
            literal = pattern.rstrip("*")
            for path in (literal.upper() + "1", literal.replace("/", "//", 1) + "1", literal.title() + "1"):
                assert edge_route(rules, path)["kind"] == "bypass" or "//" in path
                b = behaviour_for(tpl, path)
                if is_uncached(tpl, b):
                    continue
                assert not forwards_authorization(tpl, b), path
                kind, p = cache_policy(tpl, b)
                assert kind == "custom" and p["MinTTL"] == 0, path


def test_public_cache_policy_keys_the_canonical_request(tpl):
    for b in all_behaviours(tpl):
        if is_uncached(tpl, b):
            continue
        kind, p = cache_policy(tpl, b)
        assert kind == "custom", "public behaviours use the template's cache policy"
        params = p["ParametersInCacheKeyAndForwardedToOrigin"]
        assert params["QueryStringsConfig"]["QueryStringBehavior"] == "all"
        assert params["HeadersConfig"]["HeaderBehavior"] == "none"
        assert params["CookiesConfig"]["CookieBehavior"] == "none"
        assert params["EnableAcceptEncodingGzip"] is True
        assert params["EnableAcceptEncodingBrotli"] is True
        orp = tpl["Resources"][ref_name(b["OriginRequestPolicyId"])]["Properties"]["OriginRequestPolicyConfig"]
        assert orp["HeadersConfig"]["HeaderBehavior"] == "none", "no unkeyed header reaches the origin"
        assert orp["CookiesConfig"]["CookieBehavior"] == "none"


def test_min_ttl_is_zero_on_every_cache_policy_used(tpl):
    for b in all_behaviours(tpl):
        kind, p = cache_policy(tpl, b)
        if kind == "managed":
            assert MANAGED_CACHE_POLICY_MIN_TTL.get(p) == 0, f"managed cache policy {p}: MinTTL not known to be 0"
        else:
            assert p["MinTTL"] == 0, "MinTTL > 0 caches private/no-store responses"


def test_ttl_bounds_keep_the_routes_freshness(tpl, rules):
    params = tpl["Parameters"]
    default_ttl, max_ttl = params["DefaultTTL"]["Default"], params["MaxTTL"]["Default"]
    assert 0 <= default_ttl <= max_ttl
    longest = max(r.get("s_maxage", r.get("max_age", 0)) for r in rules)
    assert max_ttl >= longest, f"MaxTTL {max_ttl} would shorten an s-maxage of {longest}"
    for b in all_behaviours(tpl):
        kind, p = cache_policy(tpl, b)
        if kind == "custom":
            assert p["DefaultTTL"] == {"Ref": "DefaultTTL"} and p["MaxTTL"] == {"Ref": "MaxTTL"}


def test_behaviours_are_get_head_https(tpl):
    for b in all_behaviours(tpl):
        assert sorted(b["AllowedMethods"]) == ["GET", "HEAD"]
        assert b["ViewerProtocolPolicy"] in ("redirect-to-https", "https-only")
        assert b["Compress"] is True


# --------------------------------------------------------------------------------------------
# Lambda@Edge
# --------------------------------------------------------------------------------------------


def handler_triggers():
    """Event types for which wasm-pkg/index.js does work (not a pass-through return)."""
    source = HANDLER_JS.read_text(encoding="utf-8")
    return set(re.findall(r"case '([a-z-]+)':\s*return \w+\(", source))


def test_edge_associations_are_exactly_the_triggers_the_handler_implements(tpl):
    implemented = handler_triggers()
    assert implemented == {"viewer-request", "origin-response"}, implemented
    for b in all_behaviours(tpl):
        assocs = b["LambdaFunctionAssociations"]
        assert sorted(a["EventType"] for a in assocs) == sorted(implemented)
        for a in assocs:
            # A numbered version (SAM AutoPublishAlias), never $LATEST or an alias.
            assert a["LambdaFunctionARN"] == {"Ref": "EdgeFunction.Version"}
            assert a.get("IncludeBody", False) is False


def test_edge_function_is_a_valid_lambda_at_edge(tpl):
    fn = tpl["Resources"]["EdgeFunction"]
    assert fn["Type"] == "AWS::Serverless::Function"
    p = fn["Properties"]
    for runtime in parameter_values(tpl, p["Runtime"]):
        m = re.fullmatch(r"nodejs(\d+)\.x", runtime)
        assert m and int(m.group(1)) >= 22, f"edge runtime {runtime}: nodejs22.x or newer"
    assert p["Handler"] == "index.handler"
    assert p["CodeUri"] == "../dist/edge-worker-lambda.zip"
    assert p["MemorySize"] == 128 and p["Timeout"] == 5
    assert p["AutoPublishAlias"]
    assert p.get("Architectures", ["x86_64"]) == ["x86_64"], "Lambda@Edge runs x86_64 only"
    for forbidden in ("Environment", "Layers", "VpcConfig", "DeadLetterQueue", "Tracing"):
        assert forbidden not in p, f"Lambda@Edge does not allow {forbidden}"
    assert "Globals" not in tpl or "Function" not in tpl["Globals"], "Globals would reach the edge function"


def test_edge_role_trusts_edgelambda(tpl):
    role = tpl["Resources"][ref_name(tpl["Resources"]["EdgeFunction"]["Properties"]["Role"])]
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
# Origin, tables, warm-up, origin access
# --------------------------------------------------------------------------------------------


def test_cache_table_is_on_demand_with_ttl_on_expires_at(tpl):
    p = tpl["Resources"]["CacheTable"]["Properties"]
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert p["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert p["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert p["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}


def test_catalogue_table_matches_the_origin_schema(tpl):
    p = tpl["Resources"]["CatalogueTable"]["Properties"]
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert p["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]


def test_origin_function_runtime_and_environment(tpl):
    p = tpl["Resources"]["OriginFunction"]["Properties"]
    assert p["Runtime"] == "provided.al2023" and p["Handler"] == "bootstrap"
    assert p["Architectures"] == ["arm64"]
    assert p["CodeUri"] == "../dist/origin-function.zip"
    env = p["Environment"]["Variables"]
    # Names read by origin-function/src/config.rs.
    assert env["ORIGIN_CACHE_TABLE"] == {"Ref": "CacheTable"}
    assert env["ORIGIN_CATALOGUE_TABLE"] == {"Ref": "CatalogueTable"}


def test_origin_env_names_exist_in_the_origin_source(tpl):
    config_rs = ROOT / "origin-function" / "src" / "config.rs"
    if not config_rs.exists():
        pytest.skip("origin-function/src/config.rs not present")
    source = config_rs.read_text(encoding="utf-8")
    env = tpl["Resources"]["OriginFunction"]["Properties"]["Environment"]["Variables"]
    for name in env:
        if name.startswith("ORIGIN_VERIFY_"):
            continue  # proposed to the origin (README: origin access); not read yet
        assert f'"{name}"' in source, f"{name} is not read by origin-function/src/config.rs"


def test_origin_iam_is_least_privilege(tpl):
    statements = [st for pol in tpl["Resources"]["OriginFunction"]["Properties"]["Policies"] for st in pol["Statement"]]
    allowed = {
        "CacheTable": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query"},
        "CatalogueTable": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query"},
    }
    seen = set()
    for st in statements:
        assert st["Effect"] == "Allow"
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        for r in resources:
            table = ref_name(r)
            assert table in allowed, f"statement on {r}: only the two tables"
            seen.add(table)
            for action in st["Action"]:
                assert "*" not in action and action in allowed[table], action
    assert seen == set(allowed)


def test_warmup_rule_every_five_minutes(tpl):
    rules = resources_of_type(tpl, "AWS::Events::Rule")
    (name, rule), = rules.items()
    p = rule["Properties"]
    assert p["ScheduleExpression"] == "rate(5 minutes)"
    (target,) = p["Targets"]
    assert ref_name(target["Arn"]) == "OriginFunction"
    assert json.loads(target["Input"]) == {"warmup": True}
    perms = [
        r["Properties"]
        for r in resources_of_type(tpl, "AWS::Lambda::Permission").values()
        if r["Properties"]["Principal"] == "events.amazonaws.com"
    ]
    assert perms and ref_name(perms[0]["SourceArn"]) == name
    assert perms[0]["Action"] == "lambda:InvokeFunction"


def test_origin_is_reachable_only_through_cloudfront(tpl):
    """Either OAC (AWS_IAM + lambda OAC + CloudFront-only permission) or a secret header that
    CloudFront sends and the origin is configured to require."""
    url = tpl["Resources"]["OriginFunctionUrl"]["Properties"]
    (origin,) = distribution_config(tpl)["Origins"]
    perms = [r["Properties"] for r in resources_of_type(tpl, "AWS::Lambda::Permission").values()]
    if url["AuthType"] == "AWS_IAM":
        oac = tpl["Resources"][ref_name(origin["OriginAccessControlId"])]["Properties"]["OriginAccessControlConfig"]
        assert oac["OriginAccessControlOriginType"] == "lambda"
        cf = [p for p in perms if p["Principal"] == "cloudfront.amazonaws.com"]
        assert {p["Action"] for p in cf} == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
        assert all(p.get("SourceArn") for p in cf)
    else:
        assert url["AuthType"] == "NONE"
        headers = {h["HeaderName"].lower(): h["HeaderValue"] for h in origin.get("OriginCustomHeaders", [])}
        env = tpl["Resources"]["OriginFunction"]["Properties"]["Environment"]["Variables"]
        assert env["ORIGIN_VERIFY_HEADER"] in headers
        secret = headers[env["ORIGIN_VERIFY_HEADER"]]
        assert secret == env["ORIGIN_VERIFY_SECRET"] == {"Ref": "OriginVerifySecret"}
        param = tpl["Parameters"]["OriginVerifySecret"]
        assert param["NoEcho"] is True and param["MinLength"] >= 32 and "Default" not in param
        # Since October 2025 a function URL needs both actions.
        public = {p["Action"] for p in perms if p["Principal"] == "*"}
        assert public == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}


def test_outputs(tpl):
    out = tpl["Outputs"]
    assert out["DistributionUrl"]["Value"] == {"Fn::Sub": "https://${Distribution.DomainName}"}
    for name in ("OriginFunctionName", "EdgeFunctionName", "CacheTableName", "CatalogueTableName"):
        assert name in out


# --------------------------------------------------------------------------------------------
# API Gateway cache stack
# --------------------------------------------------------------------------------------------


def method_path(apigw, method):
    """'/api/products/{id}' for a Method resource."""
    parts = []
    rid = method["Properties"]["ResourceId"]
    while isinstance(rid, dict) and "Ref" in rid:
        res = apigw["Resources"][rid["Ref"]]["Properties"]
        parts.append(res["PathPart"])
        rid = res["ParentId"]
    return "/" + "/".join(reversed(parts))


def apigw_methods(apigw):
    return {method_path(apigw, m): m["Properties"] for m in resources_of_type(apigw, "AWS::ApiGateway::Method").values()}


def stage_settings(apigw):
    (stage,) = resources_of_type(apigw, "AWS::ApiGateway::Stage").values()
    return stage["Properties"]


def caching_enabled(apigw, path):
    """Effective CachingEnabled for GET <path>: the most specific MethodSetting wins."""
    encoded = path.replace("/", "~1")
    enabled = None
    for s in stage_settings(apigw)["MethodSettings"]:
        if s["ResourcePath"] == "/*" and enabled is None:
            enabled = s.get("CachingEnabled")
    for s in stage_settings(apigw)["MethodSettings"]:
        if s["ResourcePath"] == "/" + encoded and s["HttpMethod"] in ("GET", "*"):
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


def test_apigw_products_route_keys_equal_rules_allow_list(apigw, rules):
    products = next(r for r in rules if r["name"] == "products")
    methods = apigw_methods(apigw)
    for pattern in products["patterns"]:
        (path,) = [p for p in methods if api_path_for(pattern).fullmatch(p)]
        keys = methods[path]["Integration"]["CacheKeyParameters"]
        assert sorted(k.rsplit(".", 1)[1] for k in keys if ".querystring." in k) == sorted(products["query_allow"])


def test_apigw_every_route_has_a_method(apigw, rules):
    paths = set(apigw_methods(apigw))
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


def test_apigw_uses_lambda_proxy_to_the_given_function(apigw):
    assert "OriginFunctionArn" in apigw["Parameters"]
    for path, m in apigw_methods(apigw).items():
        integ = m["Integration"]
        assert integ["Type"] == "AWS_PROXY" and integ["IntegrationHttpMethod"] == "POST", path
        assert "${OriginFunctionArn}" in integ["Uri"]["Fn::Sub"], path
