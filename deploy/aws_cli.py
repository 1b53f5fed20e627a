"""The AWS CLIs the deploy recipes call (`sam`, `aws`), found on PATH: deploy.mk puts the
tools' venv first, the tests a fake (deploy/fake_cli.py)."""
import json
import os
import re
import shutil
import subprocess

REGION = "us-east-1"


class DeployError(Exception):
    """A deploy that must stop, with the reason for the operator."""


def say(*lines):
    for line in lines:
        print(line, flush=True)


def cli_env():
    return dict(os.environ, AWS_DEFAULT_REGION=REGION, AWS_REGION=REGION, SAM_CLI_TELEMETRY="0",
                AWS_PAGER="")


def tool(name):
    path = shutil.which(name)
    if path is None:
        raise DeployError(f"`{name}` is not on PATH: run `make deploy-tools` (it installs the pinned tools into deploy/.venv)")
    return path


def run(argv, capture=False):
    """Run a CLI; with `capture`, its (returncode, stdout, stderr)."""
    argv = [tool(argv[0]), *argv[1:]]
    if capture:
        done = subprocess.run(argv, env=cli_env(), capture_output=True, text=True)
        return done.returncode, done.stdout, done.stderr
    return subprocess.run(argv, env=cli_env()).returncode, None, None


def aws_json(*args):
    rc, out, err = run(["aws", *args, "--region", REGION, "--output", "json"], capture=True)
    if rc != 0:
        raise DeployError(f"aws {' '.join(args[:2])}: {err.strip() or out.strip()}")
    return json.loads(out or "null")


def describe_stack(stack):
    """The stack's DescribeStacks entry, or None when there is no such stack."""
    rc, out, err = run(["aws", "cloudformation", "describe-stacks", "--stack-name", stack, "--region", REGION,
                        "--output", "json"], capture=True)
    if rc != 0:
        if "does not exist" in err:
            return None
        raise DeployError(f"cannot read stack {stack} (aws cloudformation describe-stacks): {err.strip()}")
    return json.loads(out)["Stacks"][0]


def stack_outputs(stack):
    """{OutputKey: OutputValue} of a stack, by `sam list stack-outputs`."""
    rc, out, err = run(["sam", "list", "stack-outputs", "--stack-name", stack, "--region", REGION, "--output", "json"],
                       capture=True)
    if rc != 0:
        raise DeployError(f"cannot read the outputs of stack {stack}: {(err or out).strip()}")
    return {o["OutputKey"]: o["OutputValue"] for o in json.loads(out)}


def override(name, value):
    """One `--parameter-overrides` item as SAM CLI parses it: an empty value is `Name=""`."""
    if any(c in value for c in '"\\\n'):
        raise DeployError(f"{name}: a value with a quote, backslash or newline can't be passed to sam deploy")
    if value == "" or re.search(r"\s", value):
        return f'{name}="{value}"'
    return f"{name}={value}"
