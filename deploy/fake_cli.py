#!/usr/bin/env python3
"""A stand-in for `sam` and `aws` in deploy/test_deploy.py, installed under both names first on
the recipes' PATH. It records every call (and, for `sam deploy`, the template it was given)
as one JSON line in $FAKE_CLI_LOG, and answers from the rules in $FAKE_CLI_SCRIPT:

    [{"tool": "sam", "args": ["list", "stack-outputs"], "options": {"--stack-name": "s-l2"},
      "answers": [{"rc": 0, "stdout": "...", "stderr": ""}, ...]}, ...]

The first rule whose tool, leading arguments and options match answers; its answers are given
in turn, the last one again and again. Without a matching rule, two calls behave like AWS on
a tiny state ($FAKE_CLI_STACKS): `sam deploy` succeeds and, unless it only creates a change
set, stores the stack's parameters (NoEcho ones as `****`, as CloudFormation shows them);
`aws cloudformation describe-stacks` answers them, or "does not exist". Any other call fails
(rc 99), so a recipe can't call something the test did not expect and still pass.
"""
import json
import os
import pathlib
import sys

import yaml


def option(argv, name):
    return argv[argv.index(name) + 1] if name in argv[:-1] else None


def overrides(argv):
    out = {}
    for item in argv[argv.index("--parameter-overrides") + 1:]:
        if item.startswith("--"):
            break
        name, _, value = item.partition("=")
        out[name] = value[1:-1] if value.startswith('"') else value
    return out


def no_echo_parameters(template_text):
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    declared = yaml.load(template_text, Loader=Loader).get("Parameters", {})
    return {name for name, p in declared.items() if p.get("NoEcho")}


def answer(rc=0, stdout="", stderr=""):
    sys.stdout.write(stdout if isinstance(stdout, str) else json.dumps(stdout))
    sys.stderr.write(stderr)
    sys.exit(rc)


def builtin(tool, argv, record):
    state_path = pathlib.Path(os.environ["FAKE_CLI_STACKS"])
    stacks = json.loads(state_path.read_text()) if state_path.exists() else {}
    stack = option(argv, "--stack-name")
    if tool == "sam" and argv[:1] == ["deploy"]:
        if "--no-execute-changeset" not in argv:
            hidden = no_echo_parameters(record["template"])
            stacks[stack] = {k: "****" if k in hidden else v for k, v in overrides(argv).items()}
            state_path.write_text(json.dumps(stacks))
        answer(stdout=f"Successfully created/updated stack - {stack} in us-east-1\n")
    if tool == "aws" and argv[:2] == ["cloudformation", "describe-stacks"]:
        if stack not in stacks:
            answer(254, stderr=f"An error occurred (ValidationError) when calling the DescribeStacks operation: "
                               f"Stack with id {stack} does not exist\n")
        parameters = [{"ParameterKey": k, "ParameterValue": v} for k, v in stacks[stack].items()]
        answer(stdout={"Stacks": [{"StackName": stack, "StackStatus": "UPDATE_COMPLETE", "Parameters": parameters}]})


def main():
    tool = pathlib.Path(sys.argv[0]).name
    argv = sys.argv[1:]
    record = {"tool": tool, "argv": argv}
    if tool == "sam" and argv[:1] == ["deploy"]:
        template = option(argv, "--template-file")
        record["template"] = pathlib.Path(template).read_text(encoding="utf-8") if template else None
    with open(os.environ["FAKE_CLI_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")

    script = pathlib.Path(os.environ["FAKE_CLI_SCRIPT"])
    rules = json.loads(script.read_text(encoding="utf-8"))
    for rule in rules:
        if rule["tool"] != tool or argv[: len(rule["args"])] != rule["args"]:
            continue
        if any(option(argv, k) != v for k, v in rule.get("options", {}).items()):
            continue
        answers = rule["answers"]
        chosen = answers[min(rule.get("calls", 0), len(answers) - 1)]
        rule["calls"] = rule.get("calls", 0) + 1
        script.write_text(json.dumps(rules), encoding="utf-8")
        answer(chosen.get("rc", 0), chosen.get("stdout", ""), chosen.get("stderr", ""))
    builtin(tool, argv, record)
    answer(99, stderr=f"fake {tool}: no answer for {' '.join(argv)}\n")


if __name__ == "__main__":
    main()
