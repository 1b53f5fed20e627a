"""What a deploy deploys: every template parameter's value, from the settings file
(`deploy/<stack>.env`), what the command gives, the deployed stack and the template's defaults,
checked against the template before `sam` runs; and the old -> new lines."""
import dataclasses
import hashlib
import os
import pathlib
import re

from aws_cli import DeployError, say
from cfn_template import load_template

SECRET = "OriginVerifySecret"
PREVIOUS_SECRET = "OriginVerifySecretPrevious"
SECRET_PARAMETERS = (SECRET, PREVIOUS_SECRET)
# The main stack's L2 parameters and the ElastiCache stack's outputs they come from. Cleared
# when the main stack switches back to DynamoDB.
L2_OUTPUTS = {
    "RedisUrl": "RedisUrl",
    "OriginSubnetIds": "OriginSubnetIds",
    "OriginSecurityGroupIds": "OriginSecurityGroupId",
    "RedisIamUser": "RedisIamUser",
    "RedisCacheName": "RedisCacheName",
}


@dataclasses.dataclass(frozen=True)
class Parameter:
    name: str
    kind: str
    default: str | None
    no_echo: bool
    allowed_values: tuple | None
    allowed_pattern: str | None

    def check(self, value):
        """The reason CloudFormation would refuse `value`, or None."""
        items = value.split(",") if self.kind == "CommaDelimitedList" or self.kind.startswith("List<") else [value]
        if self.allowed_values is not None and value not in self.allowed_values:
            return f"{self.name}={value!r}: allowed values are {', '.join(self.allowed_values)}"
        if self.allowed_pattern is not None:
            for item in items:
                if not re.fullmatch(self.allowed_pattern, item.strip()):
                    return f"{self.name}: {'a value' if self.no_echo else repr(item)} does not match {self.allowed_pattern}"
        if self.kind == "Number" and not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value):
            return f"{self.name}={value!r}: not a number"
        return None


def as_text(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(as_text(v) for v in value)
    return str(value)


def parameters_of(template_name):
    """The template's parameters in their order."""
    declared = load_template(template_name).get("Parameters", {})
    return {
        name: Parameter(
            name=name,
            kind=p["Type"],
            default=as_text(p.get("Default")),
            no_echo=bool(p.get("NoEcho", False)),
            allowed_values=tuple(as_text(v) for v in p["AllowedValues"]) if "AllowedValues" in p else None,
            allowed_pattern=p.get("AllowedPattern"),
        )
        for name, p in declared.items()
    }


SETTINGS_HEADER = """\
# Settings of stack {stack} ({template}), written by deploy/deploy.py after each successful
# deploy: every template parameter but the secrets (deploy/.origin-verify-secret*).
# `make {target}` deploys exactly these; `make {target} Name=value` (or a make variable such as
# NAME_PREFIX=...) changes one and rewrites this file. Edit values by hand if you like; a name
# that is not a template parameter is refused. Comments are not kept.
"""


def read_settings(path, parameters):
    values = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep:
            raise DeployError(f"{path}:{number}: not a `Name=value` line: {line!r}")
        if name not in parameters:
            raise DeployError(f"{path}:{number}: {name} is not a parameter of the template (remove the line)")
        if name in SECRET_PARAMETERS:
            raise DeployError(f"{path}:{number}: {name} lives in the secret files, not here (remove the line)")
        values[name] = value
    return values


def write_settings(path, values, parameters, header):
    lines = [header] + [f"{name}={values[name]}\n" for name in parameters if name in values]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    os.replace(tmp, path)


def fingerprint(value):
    if value == "":
        return "(empty)"
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:8]


def show_changes(old, new, parameters):
    changed = []
    for name, p in parameters.items():
        before, after = old.get(name), new[name]
        if before == after:
            continue
        if p.no_echo:
            before = "(none)" if before is None else fingerprint(before)
            after = fingerprint(after)
        else:
            before = "(none)" if before is None else (before or '""')
            after = after or '""'
        changed.append(f"  {name}: {before} -> {after}")
    say(*(["parameter changes:"] + changed if changed else ["no parameter changes"]))


@dataclasses.dataclass
class Context:
    """One make invocation: the stacks, where the settings, secrets and zips live, and the
    environment the command's values come from."""

    stack: str
    l2_stack: str
    apigw_stack: str
    state: pathlib.Path
    dist: pathlib.Path
    edge_zip: pathlib.Path
    origin_zip: pathlib.Path
    environ: dict

    def settings_path(self, stack):
        return self.state / f"{stack}.env"

    @property
    def secret_path(self):
        return self.state / ".origin-verify-secret"

    @property
    def next_secret_path(self):
        return self.state / ".origin-verify-secret.next"


# Make variables a deploy reads from its environment (make exports command-line variables),
# per template: {variable: parameter}.
KNOBS = {
    "template.yaml": {
        "NAME_PREFIX": "NamePrefix",
        "PRICE_CLASS": "PriceClass",
        "DEFAULT_TTL": "DefaultTTL",
        "MAX_TTL": "MaxTTL",
        "L2_BACKEND": "L2Backend",
    },
    "elasticache.yaml": {
        "NAME_PREFIX": "NamePrefix",
        "VPC_ID": "VpcId",
        "SUBNET_IDS": "SubnetIds",
        "ROUTE_TABLE_IDS": "DynamoDbRouteTableIds",
    },
    "apigw-cache.yaml": {},
}
LIST_VARIABLE = {"template.yaml": "DEPLOY_PARAMETERS", "elasticache.yaml": "L2_PARAMETERS",
                 "apigw-cache.yaml": "APIGW_PARAMETERS"}


def given_values(template_name, parameters, environ):
    """What this command sets: make variables, parameters by their own name, the list variable."""
    given = {}

    def put(name, value, source):
        if name in given and given[name] != value:
            raise DeployError(f"{name} given twice with different values ({source})")
        given[name] = value

    for variable, name in KNOBS[template_name].items():
        if variable in environ:
            put(name, environ[variable], variable)
    for name in parameters:
        if name in environ:
            put(name, environ[name], name)
    for item in environ.get(LIST_VARIABLE[template_name], "").split():
        name, sep, value = item.partition("=")
        if not sep or name not in parameters:
            raise DeployError(f"{LIST_VARIABLE[template_name]}: {item!r} is not `Parameter=value` of {template_name}")
        put(name, value, LIST_VARIABLE[template_name])
    for name in SECRET_PARAMETERS:
        if name in given:
            raise DeployError(f"{name} comes from the secret files; to change it, rotate it "
                              "(make rotate-secret, then make rotate-secret-finish: deploy/README.md)")
    for variable in ("ORIGIN_VERIFY_SECRET", "ORIGIN_VERIFY_SECRET_PREVIOUS"):
        if environ.get(variable):
            raise DeployError(f"{variable} is not read: the secret lives in deploy/.origin-verify-secret; "
                              "to change it, rotate it (make rotate-secret, then make rotate-secret-finish)")
    return given


def deployed_values(deployed, parameters):
    """The deployed stack's parameter values (NoEcho ones are `****` there: left out)."""
    values = {}
    for p in (deployed or {}).get("Parameters", []):
        name, value = p["ParameterKey"], p.get("ParameterValue", "")
        if name in parameters and not parameters[name].no_echo:
            values[name] = value
    return values


def previous_settings(ctx, stack, parameters, deployed):
    """(the settings to start from, where they came from): the settings file, else the deployed
    stack's parameters (a fresh clone), else nothing (a new stack)."""
    path = ctx.settings_path(stack)
    if path.exists():
        return read_settings(path, parameters), str(path)
    if deployed is None:
        return {}, None
    return deployed_values(deployed, parameters), f"the deployed stack {stack} ({path} did not exist)"


def resolve(parameters, defaults, previous, given, derived):
    """Every parameter's value: derived (the secrets, other stacks' outputs), else given, else
    the settings, else the default; each checked as CloudFormation would."""
    values = {}
    for name, p in parameters.items():
        for source in (derived, given, previous, defaults):
            if name in source:
                values[name] = source[name]
                break
        else:
            if p.default is None:
                raise DeployError(f"{name} has no default and no value: give it (make ... {name}=...)")
            values[name] = p.default
    for name, p in parameters.items():
        reason = p.check(values[name])
        if reason:
            raise DeployError(reason)
    return values
