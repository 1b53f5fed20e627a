"""Reading the deployment templates the way CloudFormation does, for the offline tests.

- `load_template(name)`: YAML with CloudFormation's short-form tags (`!Ref`, `!If`, ...) turned
  into their long form (`{"Ref": ...}`, `{"Fn::If": [...]}`).
- `Stack(template, **parameters)`: one template under one set of parameter values (the
  defaults, overridden by keyword): which Conditions hold, which Rules fail, which resources
  exist, and any property with its `Fn::If` branches chosen and `AWS::NoValue` removed.

Only what the templates use is implemented; anything else raises, so a test can't pass by
not understanding a template.
"""
import pathlib

import yaml

DEPLOY = pathlib.Path(__file__).resolve().parent


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


def ref_name(value):
    """The logical id a {'Ref': X} or {'Fn::GetAtt': [X, ...]} points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
    return None


_NO_VALUE = object()


class Stack:
    """A template under one set of parameter values (defaults unless given)."""

    def __init__(self, template, **parameters):
        self.template = template
        declared = template.get("Parameters", {})
        unknown = set(parameters) - set(declared)
        assert not unknown, f"not parameters of the template: {sorted(unknown)}"
        self.parameters = {name: p.get("Default") for name, p in declared.items()}
        self.parameters.update(parameters)

    # -- parameters, conditions, rules ---------------------------------------------------------

    def param(self, name):
        """A parameter's value; a list type's (`CommaDelimitedList`, `List<...>`) as a list."""
        value = self.parameters[name]
        assert value is not None, f"parameter {name} has no default and was not given"
        kind = self.template["Parameters"][name]["Type"]
        if kind == "CommaDelimitedList" or kind.startswith("List<"):
            return value if isinstance(value, list) else [v.strip() for v in str(value).split(",")]
        return value

    def _as_string(self, value):
        # CloudFormation compares parameter values as strings (a Number parameter too).
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def _eval(self, expr):
        """A condition or rule expression: Fn::Equals/Not/And/Or/Contains/EachMemberEquals,
        Condition."""
        if isinstance(expr, dict) and len(expr) == 1:
            (fn, args), = expr.items()
            if fn == "Fn::Equals":
                a, b = (self._scalar(x) for x in args)
                return self._as_string(a) == self._as_string(b)
            if fn == "Fn::Not":
                return not self._eval(args[0])
            if fn == "Fn::And":
                return all(self._eval(a) for a in args)
            if fn == "Fn::Or":
                return any(self._eval(a) for a in args)
            if fn == "Fn::Contains":
                haystack, needle = args
                return self._as_string(self._scalar(needle)) in [self._as_string(self._scalar(h)) for h in haystack]
            if fn == "Fn::EachMemberEquals":
                members, value = args
                return all(self._as_string(m) == self._as_string(self._scalar(value)) for m in self._scalar(members))
            if fn == "Condition":
                return self.condition(args)
        raise AssertionError(f"unsupported condition expression: {expr!r}")

    def _scalar(self, value):
        if isinstance(value, dict) and set(value) == {"Ref"}:
            if value["Ref"] == "AWS::Region":
                return "us-east-1"
            return self.param(value["Ref"])
        if isinstance(value, dict) and set(value) == {"Fn::Join"}:
            sep, items = value["Fn::Join"]
            items = self._scalar(items)
            return sep.join(self._as_string(i) for i in items)
        if isinstance(value, dict):
            return self._eval(value)
        return value

    def condition(self, name):
        return self._eval(self.template["Conditions"][name])

    def failed_rules(self):
        """Names of the Rules whose assertions fail for these parameter values."""
        failed = []
        for name, rule in self.template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self._eval(rule["RuleCondition"]):
                continue
            if not all(self._eval(a["Assert"]) for a in rule["Assertions"]):
                failed.append(name)
        return failed

    # -- resources -------------------------------------------------------------------------------

    def resolve(self, value):
        """`value` with every Fn::If decided and AWS::NoValue removed (other intrinsics kept)."""
        out = self._resolve(value)
        return None if out is _NO_VALUE else out

    def _resolve(self, value):
        if isinstance(value, dict):
            if set(value) == {"Fn::If"}:
                cond, yes, no = value["Fn::If"]
                return self._resolve(yes if self.condition(cond) else no)
            if value == {"Ref": "AWS::NoValue"}:
                return _NO_VALUE
            out = {}
            for k, v in value.items():
                r = self._resolve(v)
                if r is not _NO_VALUE:
                    out[k] = r
            return out
        if isinstance(value, list):
            return [r for r in (self._resolve(v) for v in value) if r is not _NO_VALUE]
        return value

    def value(self, value):
        """A literal, or the value of a !Ref'd parameter (after Fn::If)."""
        value = self.resolve(value)
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in self.parameters:
            return self.param(value["Ref"])
        return value

    def exists(self, logical_id):
        res = self.template["Resources"][logical_id]
        return "Condition" not in res or self.condition(res["Condition"])

    def resources(self, type_name=None):
        """{logical id: resolved resource} for the resources these parameters create."""
        return {
            k: self.resolve(v)
            for k, v in self.template["Resources"].items()
            if (type_name is None or v["Type"] == type_name) and self.exists(k)
        }

    def resource(self, logical_id):
        assert self.exists(logical_id), f"{logical_id} is not created with these parameters"
        return self.resolve(self.template["Resources"][logical_id])

    def outputs(self):
        return {
            k: self.resolve(v)
            for k, v in self.template.get("Outputs", {}).items()
            if "Condition" not in v or self.condition(v["Condition"])
        }

    # -- CloudFront --------------------------------------------------------------------------------

    def distribution_config(self):
        (dist,) = self.resources("AWS::CloudFront::Distribution").values()
        return dist["Properties"]["DistributionConfig"]

    def behaviours(self):
        """CacheBehaviors in order, then the default behaviour (PathPattern "*")."""
        config = self.distribution_config()
        return config.get("CacheBehaviors", []) + [dict(config["DefaultCacheBehavior"], PathPattern="*")]

    _POLICIES = {
        "CachePolicyId": ("AWS::CloudFront::CachePolicy", "CachePolicyConfig"),
        "OriginRequestPolicyId": ("AWS::CloudFront::OriginRequestPolicy", "OriginRequestPolicyConfig"),
    }

    def policy(self, behaviour, id_key):
        """A behaviour's CachePolicyId or OriginRequestPolicyId: ('managed', id),
        ('custom', the policy resource's config) or ('none', None)."""
        pid = behaviour.get(id_key)
        if pid is None:
            return "none", None
        if isinstance(pid, str):
            return "managed", pid
        type_name, config_key = self._POLICIES[id_key]
        res = self.resource(ref_name(pid))
        assert res["Type"] == type_name, pid
        return "custom", res["Properties"][config_key]
