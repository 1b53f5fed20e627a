#!/usr/bin/env python3
"""The deploy recipes of deploy/deploy.mk: every `sam deploy` names every parameter of its
template, from settings that persist, so nothing is inherited from the stack's previous
values and nothing silently resets.

`sam deploy` sends CloudFormation `UsePreviousValue` for every template parameter missing from
`--parameter-overrides`. So a deploy here always names them all, from:

- `deploy/<stack>.env` (git-ignored): one `Parameter=value` line per parameter, written after
  every successful deploy. The first deploy of a stack starts from the template's defaults,
  or, when the stack already exists (a fresh clone), from its deployed values.
- what the command gives: make variables (`NAME_PREFIX=...`, `L2_BACKEND=redis`, ...), any
  template parameter by its own name (`make deploy SecondEdgeUrl=on`), and `DEPLOY_PARAMETERS`
  (`L2_PARAMETERS`, `APIGW_PARAMETERS`) as `Name=value Name=value`;
- the secret files (`deploy/.origin-verify-secret`, and `deploy/.origin-verify-secret.next`
  during a rotation), never the settings file;
- other stacks' outputs: the ElastiCache stack's when the main stack switches to the Redis L2,
  the main stack's function ARN for the API Gateway stack.

Every deploy prints old -> new for each parameter that changes (a fingerprint for NoEcho ones).

    deploy.py deploy [--plan] [--rotate start|finish] [--rollback]   the main stack
    deploy.py deploy-l2 [--plan]                                     deploy/elasticache.yaml
    deploy.py deploy-apigw [--plan]                                  deploy/apigw-cache.yaml
    deploy.py teardown                                               every stack, in order

Modules: aws_cli.py (the CLIs), stack_settings.py (the values and the settings file),
teardown.py; deploy/cfn_template.py reads the templates (PyYAML, in the deploy venv). `sam` and
`aws` are found on PATH (deploy.mk puts the venv's first).
"""
import argparse
import dataclasses
import hashlib
import os
import pathlib
import secrets
import shutil
import sys
import tempfile

from aws_cli import REGION, DeployError, describe_stack, override, run, say, stack_outputs
from stack_settings import (
    L2_OUTPUTS,
    PREVIOUS_SECRET,
    SECRET,
    SECRET_PARAMETERS,
    SETTINGS_HEADER,
    Context,
    deployed_values,
    given_values,
    parameters_of,
    previous_settings,
    read_settings,
    resolve,
    show_changes,
    write_settings,
)
from teardown import teardown

DEPLOY = pathlib.Path(__file__).resolve().parent
ROOT = DEPLOY.parent
# The template text the main stack's zips are named by; a deploy names the zips it was given.
EDGE_CODE_URI = "CodeUri: ../dist/edge-worker-lambda.zip"
ORIGIN_CODE_URI = "CodeUri: ../dist/origin-function.zip"


# --------------------------------------------------------------------------------------------
# One stack's deploy
# --------------------------------------------------------------------------------------------


def sam_deploy(template, stack, values, plan, capabilities=False, resolve_s3=False):
    argv = ["sam", "deploy", "--template-file", str(template), "--stack-name", stack, "--region", REGION,
            "--no-confirm-changeset", "--no-fail-on-empty-changeset"]
    if capabilities:
        argv += ["--capabilities", "CAPABILITY_IAM"]
    if resolve_s3:
        argv += ["--resolve-s3"]
    if plan:
        argv += ["--no-execute-changeset"]
    argv += ["--parameter-overrides"] + [override(k, v) for k, v in values.items()]
    return run(argv)[0] == 0


def sha256_of(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def keep_deployed_edge_zip(ctx, zip_path):
    """After a deploy: the zip now running is edge-worker-lambda.deployed.zip, the one before it
    edge-worker-lambda.prev.zip (what `make deploy-rollback` redeploys)."""
    deployed = ctx.dist / "edge-worker-lambda.deployed.zip"
    prev = ctx.dist / "edge-worker-lambda.prev.zip"
    ctx.dist.mkdir(parents=True, exist_ok=True)
    tmp = deployed.with_name(deployed.name + ".tmp")
    shutil.copyfile(zip_path, tmp)
    if deployed.exists() and sha256_of(deployed) != sha256_of(tmp):
        os.replace(deployed, prev)
    os.replace(tmp, deployed)


def rendered_main_template(directory, edge_zip, origin_zip):
    """template.yaml naming the given zips (absolute paths) instead of dist/'s."""
    text = (DEPLOY / "template.yaml").read_text(encoding="utf-8")
    for uri, zip_path in ((EDGE_CODE_URI, edge_zip), (ORIGIN_CODE_URI, origin_zip)):
        if text.count(uri) != 1:
            raise DeployError(f"template.yaml: expected one `{uri}`")
        text = text.replace(uri, f"CodeUri: {zip_path.resolve()}")
    path = pathlib.Path(directory) / "template.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def write_secret(path, value):
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    os.replace(tmp, path)


def read_secret(path):
    return path.read_text(encoding="utf-8").strip() if path.exists() else None


def new_secret():
    return secrets.token_hex(32)


def existing_stack(stack):
    """The stack's DescribeStacks entry, or None when nothing of it exists."""
    found = describe_stack(stack)
    if found is None or found["StackStatus"] == "REVIEW_IN_PROGRESS":
        # A plan of a new stack leaves it "in review", with nothing created (SAM CLI creates it then).
        return None
    if found["StackStatus"] == "ROLLBACK_COMPLETE":
        raise DeployError(f"stack {stack} is ROLLBACK_COMPLETE (its creation failed and nothing of it remains; "
                          "CloudFormation can't update it): `make teardown`, then deploy again")
    return found


@dataclasses.dataclass
class Secrets:
    """What was deployed last (from the files), what this command deploys, and the files it wrote."""

    old: dict
    new: dict
    created: list


def choose_secrets(ctx, rotate, plan, deployed, prefix):
    current, upcoming = read_secret(ctx.secret_path), read_secret(ctx.next_secret_path)
    created = []
    if current is None:
        if upcoming is not None:
            raise DeployError(f"{ctx.next_secret_path} exists without {ctx.secret_path}: restore the current secret first")
        if rotate:
            raise DeployError(f"no {ctx.secret_path}: nothing to rotate (make deploy writes the first secret)")
        if deployed is not None:
            raise DeployError(
                f"{ctx.secret_path} is missing but stack {ctx.stack} exists: a new secret would lock out the second "
                f"edge. Restore it from the deployed function:\n  aws lambda get-function-configuration --region "
                f"{REGION} --function-name {prefix}-origin --query "
                f"'Environment.Variables.ORIGIN_VERIFY_SECRET' --output text | cut -d, -f1 > {ctx.secret_path}")
        current = new_secret()
        if not plan:
            write_secret(ctx.secret_path, current)
            created.append(ctx.secret_path)
            say(f"new origin secret written to {ctx.secret_path}")
        old = {}
    else:
        old = {SECRET: upcoming or current, PREVIOUS_SECRET: current if upcoming else ""}
    if rotate == "start":
        if upcoming is None:
            upcoming = new_secret()
            if not plan:
                write_secret(ctx.next_secret_path, upcoming)
                created.append(ctx.next_secret_path)
        new = {SECRET: upcoming, PREVIOUS_SECRET: current}
    elif rotate == "finish":
        if upcoming is None:
            raise DeployError(f"no {ctx.next_secret_path}: start a rotation with `make rotate-secret` first")
        new = {SECRET: upcoming, PREVIOUS_SECRET: ""}
    elif upcoming is not None:
        say(f"a rotation is in progress ({ctx.next_secret_path}): the origin keeps accepting both secrets "
            "until `make rotate-secret-finish`")
        new = {SECRET: upcoming, PREVIOUS_SECRET: current}
    else:
        new = {SECRET: current, PREVIOUS_SECRET: ""}
    return Secrets(old=old, new=new, created=created)


def l2_switch(ctx, parameters, previous, given):
    """The L2 parameters this deploy sets: switching to Redis (or naming it again) reads the
    ElastiCache stack's outputs; switching back to DynamoDB clears them. Given values win."""
    before = previous.get("L2Backend", parameters["L2Backend"].default)
    after = given.get("L2Backend", before)
    derived = {}
    if after == "redis" and ("L2Backend" in given or before != "redis"):
        outputs = stack_outputs(ctx.l2_stack)
        for name, output in L2_OUTPUTS.items():
            if name in given:
                continue
            if output not in outputs:
                raise DeployError(f"stack {ctx.l2_stack} has no output {output}: make deploy-elasticache first")
            derived[name] = outputs[output]
        say(f"L2: Redis, from the outputs of stack {ctx.l2_stack}")
    elif after != "redis" and before == "redis":
        derived = {name: "" for name in L2_OUTPUTS if name not in given}
        say("L2: back to DynamoDB (the Redis URL, IAM user, subnets and security groups are cleared)")
    return derived


def deploy_main(ctx, plan=False, rotate=None, rollback=False):
    template_name = "template.yaml"
    parameters = parameters_of(template_name)
    # What runs now: old -> new is shown against it (hand edits of the settings file included).
    deployed = existing_stack(ctx.stack)
    previous, origin = previous_settings(ctx, ctx.stack, parameters, deployed)
    given = given_values(template_name, parameters, ctx.environ)
    edge_zip = ctx.dist / "edge-worker-lambda.prev.zip" if rollback else ctx.edge_zip
    if rollback and not edge_zip.exists():
        raise DeployError(f"no {edge_zip}: there is no previous deploy to roll back to")
    for zip_path in (edge_zip, ctx.origin_zip):
        if not zip_path.exists():
            raise DeployError(f"missing {zip_path}: run `make package` first")

    secrets_of = choose_secrets(ctx, rotate, plan, deployed, previous.get("NamePrefix", ctx.stack))
    ok = False
    try:
        derived = dict(secrets_of.new, **l2_switch(ctx, parameters, previous, given))
        values = resolve(parameters, {"NamePrefix": ctx.stack}, previous, given, derived)
        say(f"{'plan' if plan else 'deploy'}: stack {ctx.stack} in {REGION}, edge zip {edge_zip}, "
            f"settings from {origin or 'the template defaults (first deploy)'}")
        old = dict(deployed_values(deployed, parameters), **secrets_of.old) if deployed else {}
        show_changes(old, values, parameters)
        with tempfile.TemporaryDirectory(prefix="deploy-") as directory:
            template = rendered_main_template(directory, edge_zip, ctx.origin_zip)
            ok = sam_deploy(template, ctx.stack, values, plan, capabilities=True, resolve_s3=True)
    finally:
        if not ok:
            # A failed step leaves the files as they were (CloudFormation rolled the stack back).
            # Killed mid-deploy instead, the files stay: the stack may have taken the new secret.
            for path in secrets_of.created:
                path.unlink(missing_ok=True)
    if not ok:
        raise DeployError("sam deploy failed: the settings and secret files are unchanged")
    if plan:
        say("plan only: the change set above was not executed; nothing was written")
        return
    write_settings(ctx.settings_path(ctx.stack), {k: v for k, v in values.items() if k not in SECRET_PARAMETERS},
                   parameters, SETTINGS_HEADER.format(stack=ctx.stack, template=template_name, target="deploy"))
    keep_deployed_edge_zip(ctx, edge_zip)
    if rotate == "start":
        relative = os.path.relpath(ctx.next_secret_path.resolve(), ROOT / "cf-worker")
        say(f"rotation step 1 done: CloudFront sends the new secret ({ctx.next_secret_path}); the origin accepts both.",
            "If a Worker (or another edge) uses the second URL, give it the new secret now:",
            f"  (cd cf-worker && ../node_modules/.bin/wrangler secret put ORIGIN_VERIFY_SECRET < {relative})",
            "then finish: make rotate-secret-finish")
    elif rotate == "finish":
        os.replace(ctx.next_secret_path, ctx.secret_path)
        say(f"rotation done: {ctx.secret_path} holds the new secret; the old one is refused")
    if rollback:
        say("rolled back: the previous edge zip runs again (make deploy-rollback again rolls forward)")


def deploy_other(ctx, template_name, stack, plan, defaults, derive=None):
    parameters = parameters_of(template_name)
    deployed = existing_stack(stack)
    previous, origin = previous_settings(ctx, stack, parameters, deployed)
    given = given_values(template_name, parameters, ctx.environ)
    derived = derive() if derive else {}
    values = resolve(parameters, defaults, previous, given, derived)
    say(f"{'plan' if plan else 'deploy'}: stack {stack} in {REGION}, settings from "
        f"{origin or 'the template defaults (first deploy)'}")
    show_changes(deployed_values(deployed, parameters), values, parameters)
    if not sam_deploy(DEPLOY / template_name, stack, values, plan, resolve_s3=template_name == "apigw-cache.yaml"):
        raise DeployError("sam deploy failed: the settings file is unchanged")
    if plan:
        say("plan only: the change set above was not executed; nothing was written")
        return
    target = {"elasticache.yaml": "deploy-elasticache", "apigw-cache.yaml": "deploy-apigw"}[template_name]
    write_settings(ctx.settings_path(stack), values, parameters,
                   SETTINGS_HEADER.format(stack=stack, template=template_name, target=target))


def deploy_l2(ctx, plan=False):
    # The main stack's prefix, so both stacks name their resources alike.
    main = ctx.settings_path(ctx.stack)
    prefix = read_settings(main, parameters_of("template.yaml")).get("NamePrefix") if main.exists() else None
    deploy_other(ctx, "elasticache.yaml", ctx.l2_stack, plan, defaults={"NamePrefix": prefix or ctx.stack})


def deploy_apigw(ctx, plan=False):
    def derive():
        return {"OriginFunctionArn": stack_outputs(ctx.stack)["OriginFunctionArn"]}

    deploy_other(ctx, "apigw-cache.yaml", ctx.apigw_stack, plan, defaults={"ApiName": f"{ctx.stack}-apigw"},
                 derive=derive)


# --------------------------------------------------------------------------------------------


def main(argv):
    parser = argparse.ArgumentParser(description="deploy/deploy.mk's deploy recipes")
    parser.add_argument("command", choices=["deploy", "deploy-l2", "deploy-apigw", "teardown"])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--l2-stack", required=True)
    parser.add_argument("--apigw-stack", required=True)
    parser.add_argument("--state-dir", type=pathlib.Path, default=DEPLOY)
    parser.add_argument("--dist", type=pathlib.Path, default=ROOT / "dist")
    parser.add_argument("--edge-zip", type=pathlib.Path, default=ROOT / "dist" / "edge-worker-lambda.zip")
    parser.add_argument("--origin-zip", type=pathlib.Path, default=ROOT / "dist" / "origin-function.zip")
    parser.add_argument("--plan", action="store_true", help="create the change set, don't execute it")
    parser.add_argument("--rotate", choices=["start", "finish"])
    parser.add_argument("--rollback", action="store_true", help="deploy the previous edge zip")
    parser.add_argument("--pause-seconds", type=int, default=60, help="teardown: between L2 delete attempts")
    parser.add_argument("--attempts", type=int, default=45, help="teardown: L2 delete attempts")
    args = parser.parse_args(argv)
    ctx = Context(stack=args.stack, l2_stack=args.l2_stack, apigw_stack=args.apigw_stack, state=args.state_dir,
                  dist=args.dist, edge_zip=args.edge_zip, origin_zip=args.origin_zip, environ=dict(os.environ))
    try:
        if args.command == "deploy":
            deploy_main(ctx, plan=args.plan, rotate=args.rotate, rollback=args.rollback)
        elif args.command == "deploy-l2":
            deploy_l2(ctx, plan=args.plan)
        elif args.command == "deploy-apigw":
            deploy_apigw(ctx, plan=args.plan)
        else:
            teardown(ctx, args.pause_seconds, args.attempts)
    except DeployError as e:
        sys.exit(f"{args.command}: {e}")


if __name__ == "__main__":
    main(sys.argv[1:])
