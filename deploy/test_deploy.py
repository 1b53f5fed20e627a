"""The deploy recipes, run for real: `make deploy` and its siblings with a fake `sam` and `aws`
first on PATH (deploy/fake_cli.py) that record their arguments and answer `list
stack-outputs`, `describe-stacks` and the rest from canned answers. `make -n` could not show
what the recipes compute (the settings file, the secrets, the other stacks' outputs), so
each scenario runs the recipe and reads what the fake was called with.

Every `sam deploy` must name every parameter of its template, read from the template here:
a parameter added to a template and not stated by the recipe fails these tests.

Run: python3 -m pytest deploy/      (offline; nothing reaches AWS)
"""
import importlib.metadata
import json
import os
import pathlib
import re
import stat
import subprocess
import sys

import pytest

from cfn_template import load_template

DEPLOY = pathlib.Path(__file__).resolve().parent
ROOT = DEPLOY.parent
STACK = "edge-cache"
L2_STACK = "edge-cache-l2"
APIGW_STACK = "edge-cache-apigw"
L2_OUTPUTS = [
    {"OutputKey": "RedisUrl", "OutputValue": "rediss://master.edge-cache-l2.abc123.use1.cache.amazonaws.com:6379"},
    {"OutputKey": "OriginSubnetIds", "OutputValue": "subnet-0a,subnet-0b"},
    {"OutputKey": "OriginSecurityGroupId", "OutputValue": "sg-0123abcd"},
    {"OutputKey": "RedisIamUser", "OutputValue": "edge-cache-origin"},
    {"OutputKey": "RedisCacheName", "OutputValue": "edge-cache-l2"},
    {"OutputKey": "CacheSecurityGroupId", "OutputValue": "sg-0456cdef"},
]
L2_PARAMETERS = {"RedisUrl": "RedisUrl", "OriginSubnetIds": "OriginSubnetIds",
                 "OriginSecurityGroupIds": "OriginSecurityGroupId", "RedisIamUser": "RedisIamUser",
                 "RedisCacheName": "RedisCacheName"}


def template_parameters(name="template.yaml"):
    return list(load_template(name)["Parameters"])


class Rig:
    """A scratch deploy directory, dist directory and fake tools venv, and the fake CLIs' rules."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.state = tmp_path / "state"
        self.dist = tmp_path / "dist"
        self.venv = tmp_path / "venv"
        self.log = tmp_path / "calls.jsonl"
        self.script = tmp_path / "rules.json"
        self.stacks = tmp_path / "stacks.json"
        for d in (self.state, self.dist, self.venv / "bin"):
            d.mkdir(parents=True)
        bin_dir = self.venv / "bin"
        # The "venv": this Python (it has PyYAML, which deploy.py reads the templates with) and
        # the fakes. deploy-tools finds its one pin installed and installs nothing.
        python = bin_dir / "python"
        python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        fake = (DEPLOY / "fake_cli.py").read_text()
        for tool in ("sam", "aws"):
            (bin_dir / tool).write_text(f"#!{sys.executable}\n{fake}")
        for f in bin_dir.iterdir():
            f.chmod(0o755)
        self.requirements = tmp_path / "requirements.txt"
        self.requirements.write_text(f"pyyaml=={importlib.metadata.version('pyyaml')}\n")
        self.package(b"edge zip 1")
        (self.dist / "origin-function.zip").write_bytes(b"origin zip")
        self.rules = []

    def package(self, content):
        (self.dist / "edge-worker-lambda.zip").write_bytes(content)

    def answer(self, tool, args, rc=0, stdout="", stderr="", options=None, answers=None):
        """A rule for the fakes; a later rule for the same call takes precedence."""
        rule = {"tool": tool, "args": args, "options": options or {},
                "answers": answers or [{"rc": rc, "stdout": stdout, "stderr": stderr}]}
        self.rules.insert(0, rule)

    def make(self, target, **variables):
        self.script.write_text(json.dumps(self.rules))
        self.log.write_text("")
        env = {
            "PATH": f"{self.venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "HOME": os.environ.get("HOME", str(self.tmp)),
            "FAKE_CLI_LOG": str(self.log),
            "FAKE_CLI_SCRIPT": str(self.script),
            "FAKE_CLI_STACKS": str(self.stacks),
        }
        args = [
            "make", "--no-print-directory", "-f", "deploy/deploy.mk", target,
            f"DEPLOY_VENV={self.venv}", f"DEPLOY_REQUIREMENTS={self.requirements}", "DEPLOY_TOOLS=",
            f"DEPLOY_STATE={self.state}", f"DEPLOY_DIST={self.dist}",
            f"EDGE_ZIP={self.dist / 'edge-worker-lambda.zip'}", f"ORIGIN_ZIP={self.dist / 'origin-function.zip'}",
            "TEARDOWN_PAUSE=0",
        ] + [f"{k}={v}" for k, v in variables.items()]
        return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    def ok(self, target, **variables):
        run = self.make(target, **variables)
        assert run.returncode == 0, run.stdout + run.stderr
        return run

    def calls(self, tool=None, *prefix):
        out = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [c for c in out if (tool is None or c["tool"] == tool) and c["argv"][: len(prefix)] == list(prefix)]

    def the_deploy(self):
        (call,) = self.calls("sam", "deploy")
        return call

    # -- files ------------------------------------------------------------------------------

    @property
    def secret_file(self):
        return self.state / ".origin-verify-secret"

    @property
    def next_file(self):
        return self.state / ".origin-verify-secret.next"

    def settings(self, stack=STACK):
        path = self.state / f"{stack}.env"
        return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))

    def files(self):
        return {p.name: p.read_bytes() for p in sorted(self.state.iterdir())}


def overrides(call):
    """`--parameter-overrides` of a `sam deploy` call, as SAM CLI reads them; an empty value must
    be spelled `Name=""`, and no name twice."""
    argv = call["argv"]
    start = argv.index("--parameter-overrides") + 1
    values = {}
    for item in argv[start:]:
        if item.startswith("--"):
            break
        m = re.fullmatch(r"([A-Za-z0-9]+)=(.*)", item, re.S)
        assert m, f"not Name=value: {item!r}"
        name, value = m.groups()
        if value.startswith('"'):
            assert value.endswith('"') and len(value) >= 2, item
            value = value[1:-1]
        else:
            assert value, f'{name}: an empty value is written {name}="" (SAM CLI ignores {name}=)'
        assert name not in values, f"{name} given twice"
        values[name] = value
    return values


def names_every_parameter(call, template="template.yaml"):
    """The parameters of a `sam deploy` call, asserted to be exactly the template's."""
    values = overrides(call)
    declared = template_parameters(template)
    missing = [n for n in declared if n not in values]
    extra = [n for n in values if n not in declared]
    assert not missing, f"sam deploy leaves out {missing}: CloudFormation would reuse their previous values"
    assert not extra, f"not parameters of {template}: {extra}"
    return values


def option(call, name):
    return call["argv"][call["argv"].index(name) + 1]


@pytest.fixture
def rig(tmp_path):
    return Rig(tmp_path)


@pytest.fixture
def deployed(rig):
    """A rig after a first deploy."""
    rig.ok("deploy")
    return rig


def defaults():
    return {name: p.get("Default") for name, p in load_template("template.yaml")["Parameters"].items()}


# --------------------------------------------------------------------------------------------
# The check itself
# --------------------------------------------------------------------------------------------


def test_the_check_fails_when_a_recipe_leaves_a_parameter_out():
    declared = template_parameters()
    call = {"argv": ["deploy", "--parameter-overrides"] + [f'{n}=""' for n in declared[1:]] + ["--region", "x"]}
    with pytest.raises(AssertionError, match=declared[0]):
        names_every_parameter(call)
    with pytest.raises(AssertionError, match="an empty value"):
        overrides({"argv": ["--parameter-overrides", "A="]})


# --------------------------------------------------------------------------------------------
# First deploy, plain redeploy, a changed setting, the plan
# --------------------------------------------------------------------------------------------


def test_first_deploy_names_every_parameter_and_writes_the_settings_and_the_secret(rig):
    run = rig.ok("deploy")
    call = rig.the_deploy()
    values = names_every_parameter(call)
    # Defaults, the stack's name as the prefix, a new secret and no previous one.
    for name, default in defaults().items():
        if name not in ("NamePrefix", "OriginVerifySecret"):
            assert values[name] == ("" if default is None else str(default)), name
    assert values["NamePrefix"] == STACK
    secret = rig.secret_file.read_text().strip()
    assert values["OriginVerifySecret"] == secret and re.fullmatch(r"[0-9a-f]{64}", secret)
    assert values["OriginVerifySecretPrevious"] == ""
    assert stat.S_IMODE(rig.secret_file.stat().st_mode) == 0o600
    # The settings: every parameter but the secrets, as deployed.
    settings = rig.settings()
    assert settings == {k: v for k, v in values.items() if not k.startswith("OriginVerifySecret")}
    assert secret not in (rig.state / f"{STACK}.env").read_text()
    # The command: us-east-1, IAM, SAM's bucket, no prompt; the stack looked up first.
    assert option(call, "--stack-name") == STACK and option(call, "--region") == "us-east-1"
    assert option(call, "--capabilities") == "CAPABILITY_IAM"
    assert "--resolve-s3" in call["argv"] and "--no-confirm-changeset" in call["argv"]
    assert "--no-execute-changeset" not in call["argv"]
    assert rig.calls("aws", "cloudformation", "describe-stacks")
    # The zips deployed are the ones given (the template names them).
    assert f"CodeUri: {rig.dist / 'edge-worker-lambda.zip'}" in call["template"]
    assert f"CodeUri: {rig.dist / 'origin-function.zip'}" in call["template"]
    assert "PriceClass: (none) -> PriceClass_100" in run.stdout
    assert secret not in run.stdout + run.stderr, "a secret is printed as a fingerprint only"


def test_plain_redeploy_keeps_every_setting_and_reads_no_stack(deployed):
    rig = deployed
    settings = rig.state / f"{STACK}.env"
    settings.write_text(settings.read_text().replace("SecondEdgeUrl=off", "SecondEdgeUrl=on")
                        .replace("OriginReservedConcurrency=0", "OriginReservedConcurrency=50"))
    before = rig.files()
    run = rig.ok("deploy")
    values = names_every_parameter(rig.the_deploy())
    assert (values["SecondEdgeUrl"], values["OriginReservedConcurrency"]) == ("on", "50"), "nothing silently resets"
    assert values["OriginVerifySecret"] == rig.secret_file.read_text().strip()
    assert values["OriginVerifySecretPrevious"] == ""
    assert rig.files() == before
    assert not rig.calls("sam", "list"), "no other stack is read"
    # Old -> new against what runs, so a hand edit shows too, and nothing else.
    assert "SecondEdgeUrl: off -> on" in run.stdout and "OriginReservedConcurrency: 0 -> 50" in run.stdout
    assert "NamePrefix" not in run.stdout and "OriginVerifySecret" not in run.stdout
    rig.ok("deploy")
    assert "no parameter changes" in rig.make("deploy").stdout


def test_a_setting_on_the_command_line_is_deployed_shown_and_kept(deployed):
    rig = deployed
    run = rig.ok("deploy", PRICE_CLASS="PriceClass_All", OriginMemorySize="1024",
                 DEPLOY_PARAMETERS="OriginHotPaths=/api/config,/api/products?page=1 OriginHost=")
    values = names_every_parameter(rig.the_deploy())
    assert values["PriceClass"] == "PriceClass_All" and values["OriginMemorySize"] == "1024"
    assert values["OriginHotPaths"] == "/api/config,/api/products?page=1"
    assert "PriceClass: PriceClass_100 -> PriceClass_All" in run.stdout
    assert "OriginMemorySize: 512 -> 1024" in run.stdout
    assert "NamePrefix" not in run.stdout, "only changed parameters are shown"
    # Kept for the next plain deploy.
    rig.ok("deploy")
    again = names_every_parameter(rig.the_deploy())
    assert (again["PriceClass"], again["OriginMemorySize"]) == ("PriceClass_All", "1024")


def test_a_refused_value_stops_before_sam(deployed):
    rig = deployed
    run = rig.make("deploy", PRICE_CLASS="PriceClass_Cheap")
    assert run.returncode != 0 and "allowed values" in run.stderr
    assert not rig.calls("sam", "deploy")
    run = rig.make("deploy", DEPLOY_PARAMETERS="NoSuchParameter=1")
    assert run.returncode != 0 and "NoSuchParameter" in run.stderr


def test_the_secret_is_not_a_setting(deployed):
    rig = deployed
    for variables in ({"ORIGIN_VERIFY_SECRET": "x" * 64}, {"OriginVerifySecret": "x" * 64}):
        run = rig.make("deploy", **variables)
        assert run.returncode != 0 and "rotate" in run.stderr
    assert not rig.calls("sam", "deploy")


def test_the_plan_shows_the_change_set_and_writes_nothing(deployed):
    rig = deployed
    before = rig.files()
    run = rig.ok("deploy-plan", PRICE_CLASS="PriceClass_200")
    call = rig.the_deploy()
    assert "--no-execute-changeset" in call["argv"]
    assert names_every_parameter(call)["PriceClass"] == "PriceClass_200"
    assert rig.files() == before, "a plan changes no file"
    assert "PriceClass: PriceClass_100 -> PriceClass_200" in run.stdout


def test_a_plan_before_the_first_deploy_writes_no_secret(rig):
    rig.ok("deploy-plan")
    names_every_parameter(rig.the_deploy())
    assert list(rig.state.iterdir()) == []


def test_a_failed_deploy_changes_no_file(deployed):
    rig = deployed
    before = rig.files()
    rig.answer("sam", ["deploy"], rc=1, stderr="Error: Failed to create/update the stack\n")
    run = rig.make("deploy", PRICE_CLASS="PriceClass_All")
    assert run.returncode != 0
    assert rig.files() == before


def test_a_failed_first_deploy_leaves_no_secret_behind(rig):
    rig.answer("sam", ["deploy"], rc=1)
    assert rig.make("deploy").returncode != 0
    assert list(rig.state.iterdir()) == []


def test_a_fresh_clone_takes_the_deployed_stacks_parameters(rig):
    """No settings file, but the stack exists: its values are the starting point, not the
    defaults (SecondEdgeUrl stays on), and the secret must be restored, not replaced."""
    deployed_parameters = [{"ParameterKey": k, "ParameterValue": v} for k, v in (
        ("NamePrefix", "shop"), ("SecondEdgeUrl", "on"), ("OriginReservedConcurrency", "50"),
        ("OriginVerifySecret", "****"), ("PriceClass", "PriceClass_200"))]
    rig.answer("aws", ["cloudformation", "describe-stacks"], stdout={"Stacks": [
        {"StackName": STACK, "StackStatus": "UPDATE_COMPLETE", "Parameters": deployed_parameters}]})
    run = rig.make("deploy")
    assert run.returncode != 0 and "get-function-configuration" in run.stderr and "shop-origin" in run.stderr
    assert not rig.calls("sam", "deploy") and not rig.secret_file.exists()
    rig.secret_file.write_text("a" * 64 + "\n")
    rig.ok("deploy")
    values = names_every_parameter(rig.the_deploy())
    assert (values["NamePrefix"], values["SecondEdgeUrl"], values["OriginReservedConcurrency"],
            values["PriceClass"]) == ("shop", "on", "50", "PriceClass_200")
    assert values["OriginVerifySecret"] == "a" * 64


def test_a_stack_left_in_review_by_a_plan_is_a_new_stack(rig):
    """A plan of a new stack leaves it REVIEW_IN_PROGRESS, with nothing created: the first
    deploy then writes the secret as for a new stack."""
    rig.answer("aws", ["cloudformation", "describe-stacks"], stdout={"Stacks": [
        {"StackName": STACK, "StackStatus": "REVIEW_IN_PROGRESS", "Parameters": []}]})
    rig.ok("deploy")
    assert overrides(rig.the_deploy())["OriginVerifySecret"] == rig.secret_file.read_text().strip()


def test_a_stack_whose_creation_failed_must_be_deleted_first(rig):
    rig.answer("aws", ["cloudformation", "describe-stacks"], stdout={"Stacks": [
        {"StackName": STACK, "StackStatus": "ROLLBACK_COMPLETE", "Parameters": []}]})
    run = rig.make("deploy")
    assert run.returncode != 0 and "ROLLBACK_COMPLETE" in run.stderr and "make teardown" in run.stderr
    assert not rig.calls("sam", "deploy") and list(rig.state.iterdir()) == []


def test_a_settings_file_with_an_unknown_name_is_refused(deployed):
    rig = deployed
    path = rig.state / f"{STACK}.env"
    path.write_text(path.read_text() + "SecondEdgeURL=on\n")
    run = rig.make("deploy")
    assert run.returncode != 0 and "SecondEdgeURL is not a parameter" in run.stderr


# --------------------------------------------------------------------------------------------
# Secret rotation
# --------------------------------------------------------------------------------------------


def test_rotation_step_1_sends_the_new_secret_and_keeps_accepting_the_old(deployed):
    rig = deployed
    old = rig.secret_file.read_text().strip()
    run = rig.ok("rotate-secret")
    values = names_every_parameter(rig.the_deploy())
    new = rig.next_file.read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", new) and new != old
    assert (values["OriginVerifySecret"], values["OriginVerifySecretPrevious"]) == (new, old)
    assert rig.secret_file.read_text().strip() == old, "the current file changes only in step 2"
    assert stat.S_IMODE(rig.next_file.stat().st_mode) == 0o600
    assert "wrangler secret put ORIGIN_VERIFY_SECRET <" in run.stdout and ".origin-verify-secret.next" in run.stdout
    assert "make rotate-secret-finish" in run.stdout
    # A plain deploy meanwhile keeps the rotation's state (it doesn't send the old secret again).
    rig.ok("deploy")
    plain = names_every_parameter(rig.the_deploy())
    assert (plain["OriginVerifySecret"], plain["OriginVerifySecretPrevious"]) == (new, old)


def test_rotation_step_2_deploys_the_new_secret_alone_then_makes_it_current(deployed):
    rig = deployed
    old = rig.secret_file.read_text().strip()
    rig.ok("rotate-secret")
    new = rig.next_file.read_text().strip()
    run = rig.ok("rotate-secret-finish")
    values = names_every_parameter(rig.the_deploy())
    assert (values["OriginVerifySecret"], values["OriginVerifySecretPrevious"]) == (new, "")
    assert rig.secret_file.read_text().strip() == new and not rig.next_file.exists()
    assert old not in run.stdout + run.stderr
    # Later deploys send the new one.
    rig.ok("deploy")
    later = names_every_parameter(rig.the_deploy())
    assert (later["OriginVerifySecret"], later["OriginVerifySecretPrevious"]) == (new, "")


def test_a_failed_rotation_step_leaves_both_files_as_they_were(deployed):
    rig = deployed
    before = rig.files()
    rig.answer("sam", ["deploy"], rc=1)
    assert rig.make("rotate-secret").returncode != 0
    assert rig.files() == before and not rig.next_file.exists()
    rig.answer("sam", ["deploy"], rc=0)
    rig.ok("rotate-secret")
    before = rig.files()
    rig.answer("sam", ["deploy"], rc=1)
    assert rig.make("rotate-secret-finish").returncode != 0
    assert rig.files() == before, "step 2 failed: the new secret stays in .next, the current one current"


def test_step_1_again_reuses_the_new_secret(deployed):
    rig = deployed
    rig.ok("rotate-secret")
    new = rig.next_file.read_text()
    rig.ok("rotate-secret")
    assert rig.next_file.read_text() == new
    assert overrides(rig.the_deploy())["OriginVerifySecret"] == new.strip()


def test_step_2_without_step_1_is_refused(deployed):
    rig = deployed
    run = rig.make("rotate-secret-finish")
    assert run.returncode != 0 and "make rotate-secret" in run.stderr
    assert not rig.calls("sam", "deploy")


# --------------------------------------------------------------------------------------------
# The L2 switch
# --------------------------------------------------------------------------------------------


def test_a_redis_deploy_takes_the_l2_stacks_outputs(deployed):
    rig = deployed
    rig.answer("sam", ["list", "stack-outputs"], options={"--stack-name": L2_STACK}, stdout=L2_OUTPUTS)
    run = rig.ok("deploy", L2_BACKEND="redis")
    values = names_every_parameter(rig.the_deploy())
    outputs = {o["OutputKey"]: o["OutputValue"] for o in L2_OUTPUTS}
    assert values["L2Backend"] == "redis"
    for parameter, output in L2_PARAMETERS.items():
        assert values[parameter] == outputs[output], parameter
    assert rig.settings()["RedisUrl"] == outputs["RedisUrl"]
    assert "L2Backend: dynamodb -> redis" in run.stdout
    # The next plain deploy stays on Redis without asking the L2 stack again.
    rig.ok("deploy")
    again = names_every_parameter(rig.the_deploy())
    assert again["L2Backend"] == "redis" and again["RedisUrl"] == outputs["RedisUrl"]
    assert not rig.calls("sam", "list")


def test_switching_back_to_dynamodb_clears_the_redis_settings(deployed):
    rig = deployed
    rig.answer("sam", ["list", "stack-outputs"], options={"--stack-name": L2_STACK}, stdout=L2_OUTPUTS)
    rig.ok("deploy", L2_BACKEND="redis")
    run = rig.ok("deploy", L2_BACKEND="dynamodb")
    values = names_every_parameter(rig.the_deploy())
    assert values["L2Backend"] == "dynamodb"
    for parameter in L2_PARAMETERS:
        assert values[parameter] == "", parameter
        assert rig.settings()[parameter] == ""
    assert "back to DynamoDB" in run.stdout
    assert re.search(r"OriginSubnetIds: subnet-0a,subnet-0b -> \"\"", run.stdout)


def test_redis_without_the_l2_stack_stops_before_sam(deployed):
    rig = deployed
    rig.answer("sam", ["list", "stack-outputs"], rc=1, stderr="Error: stack does not exist\n")
    run = rig.make("deploy", L2_BACKEND="redis")
    assert run.returncode != 0 and L2_STACK in run.stderr
    assert not rig.calls("sam", "deploy")


# --------------------------------------------------------------------------------------------
# Rollback
# --------------------------------------------------------------------------------------------


def test_rollback_redeploys_the_previous_edge_zip(deployed):
    rig = deployed
    first = (rig.dist / "edge-worker-lambda.zip").read_bytes()
    run = rig.make("deploy-rollback")
    assert run.returncode != 0 and "no previous deploy" in run.stderr
    rig.package(b"edge zip 2")
    rig.ok("deploy")
    prev = rig.dist / "edge-worker-lambda.prev.zip"
    assert prev.read_bytes() == first
    rig.ok("deploy")
    assert prev.read_bytes() == first, "redeploying the same zip keeps the previous one"
    before = {p.name: p.read_bytes() for p in rig.dist.iterdir()}
    rig.ok("deploy-rollback", PLAN="1")
    assert "--no-execute-changeset" in rig.the_deploy()["argv"]
    assert {p.name: p.read_bytes() for p in rig.dist.iterdir()} == before, "a plan swaps nothing"
    rig.ok("deploy-rollback")
    call = rig.the_deploy()
    names_every_parameter(call)
    assert f"CodeUri: {prev}" in call["template"]
    # Rolled back: the previous is now the one rolled back from, so rollback again rolls forward.
    assert prev.read_bytes() == b"edge zip 2"
    assert (rig.dist / "edge-worker-lambda.deployed.zip").read_bytes() == first


# --------------------------------------------------------------------------------------------
# The other two stacks
# --------------------------------------------------------------------------------------------


def test_the_elasticache_stack_names_every_parameter_and_keeps_its_settings(deployed):
    rig = deployed
    run = rig.make("deploy-elasticache")
    assert run.returncode != 0 and "VpcId has no default" in run.stderr
    rig.ok("deploy-elasticache", VPC_ID="vpc-0a", SUBNET_IDS="subnet-0a,subnet-0b", ROUTE_TABLE_IDS="rtb-0a")
    call = rig.the_deploy()
    values = names_every_parameter(call, "elasticache.yaml")
    assert option(call, "--stack-name") == L2_STACK
    assert (values["VpcId"], values["SubnetIds"], values["DynamoDbRouteTableIds"]) == ("vpc-0a", "subnet-0a,subnet-0b",
                                                                                      "rtb-0a")
    assert values["NamePrefix"] == STACK and values["OriginSecurityGroupId"] == ""
    rig.ok("deploy-elasticache", DEPLOY_PARAMETERS="PriceClass=x", L2_PARAMETERS="Nodes=2")
    again = names_every_parameter(rig.the_deploy(), "elasticache.yaml")
    assert (again["VpcId"], again["Nodes"]) == ("vpc-0a", "2")


def test_the_api_gateway_stack_names_every_parameter(deployed):
    rig = deployed
    arn = "arn:aws:lambda:us-east-1:123456789012:function:edge-cache-origin"
    rig.answer("sam", ["list", "stack-outputs"], options={"--stack-name": STACK},
               stdout=[{"OutputKey": "OriginFunctionArn", "OutputValue": arn}])
    rig.ok("deploy-apigw", APIGW_PARAMETERS="ThrottlingRateLimit=20")
    call = rig.the_deploy()
    values = names_every_parameter(call, "apigw-cache.yaml")
    assert option(call, "--stack-name") == APIGW_STACK
    assert (values["OriginFunctionArn"], values["ApiName"], values["ThrottlingRateLimit"], values["DetailedMetrics"]) == (
        arn, "edge-cache-apigw", "20", "off")


# --------------------------------------------------------------------------------------------
# Teardown
# --------------------------------------------------------------------------------------------


def stack_answer(name, outputs=()):
    return {"Stacks": [{"StackName": name, "StackStatus": "CREATE_COMPLETE",
                        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs]}]}


def retained(call):
    argv = call["argv"]
    if "--retain-resources" not in argv:
        return []
    out = []
    for a in argv[argv.index("--retain-resources") + 1:]:
        if a.startswith("--"):
            break
        out.append(a)
    return out


def test_teardown_finishes_around_the_edge_replicas_and_deletes_the_l2_stack(deployed):
    """The main stack fails on the replicated edge function: it is deleted again with the
    function retained (and the command to delete it later printed); the ElastiCache stack
    waits for Lambda's network interfaces, and a DependencyViolation is tried again."""
    rig = deployed
    path = rig.state / f"{STACK}.env"
    path.write_text(path.read_text().replace("L2Backend=dynamodb", "L2Backend=redis")
                    .replace("RedisUrl=", "RedisUrl=rediss://h:6379"))
    for stack, outputs in ((APIGW_STACK, ()), (STACK, ()), (L2_STACK, [("OriginSecurityGroupId", "sg-0123abcd")])):
        rig.answer("aws", ["cloudformation", "describe-stacks"], options={"--stack-name": stack},
                   stdout=stack_answer(stack, outputs))
    rig.answer("aws", ["cloudformation", "delete-stack"])
    rig.answer("aws", ["cloudformation", "wait", "stack-delete-complete"])
    rig.answer("aws", ["cloudformation", "wait", "stack-delete-complete"], options={"--stack-name": STACK},
               answers=[{"rc": 255, "stderr": "Waiter StackDeleteComplete failed"}, {"rc": 0}])
    rig.answer("aws", ["cloudformation", "describe-stack-resources"], options={"--stack-name": STACK}, stdout={
        "StackResources": [
            {"LogicalResourceId": "EdgeFunction", "ResourceType": "AWS::Lambda::Function",
             "PhysicalResourceId": "edge-cache-edge", "ResourceStatus": "DELETE_FAILED",
             "ResourceStatusReason": "Lambda was unable to delete ... because it is a replicated function."},
            {"LogicalResourceId": "Distribution", "ResourceType": "AWS::CloudFront::Distribution",
             "PhysicalResourceId": "E123", "ResourceStatus": "DELETE_COMPLETE"}]})
    rig.answer("aws", ["cloudformation", "wait", "stack-delete-complete"], options={"--stack-name": L2_STACK},
               answers=[{"rc": 255}, {"rc": 0}])
    rig.answer("aws", ["cloudformation", "describe-stack-events"], options={"--stack-name": L2_STACK}, stdout=[
        "resource sg-0123abcd has a dependent object (Service: Ec2, Status Code: 400, Error Code: DependencyViolation)"])
    rig.answer("aws", ["ec2", "describe-network-interfaces"], answers=[
        {"stdout": json.dumps(["eni-0a", "eni-0b"])}, {"stdout": "[]"}])
    run = rig.ok("teardown")
    deletes = [(option(c, "--stack-name"), retained(c)) for c in rig.calls("aws", "cloudformation", "delete-stack")]
    assert deletes == [(APIGW_STACK, []), (STACK, []), (STACK, ["EdgeFunction"]), (L2_STACK, []), (L2_STACK, [])]
    assert "aws lambda delete-function --region us-east-1 --function-name edge-cache-edge" in run.stdout
    assert "eni-0a" in run.stdout and "DependencyViolation" in run.stdout
    enis = rig.calls("aws", "ec2", "describe-network-interfaces")
    assert enis and all("Name=group-id,Values=sg-0123abcd" in c["argv"] for c in enis)
    # The main stack's settings no longer point at the deleted cache.
    assert rig.settings()["L2Backend"] == "dynamodb" and rig.settings()["RedisUrl"] == ""


def test_teardown_with_nothing_deployed_deletes_nothing(rig):
    run = rig.ok("teardown")
    assert not rig.calls("aws", "cloudformation", "delete-stack")
    assert "done" in run.stdout
