"""`make teardown`: the API Gateway stack, the main stack (around the Lambda@Edge replicas:
the edge function retained, the command to delete it later printed), then the ElastiCache
stack once Lambda has released the origin's network interfaces in its security group."""
import time

from aws_cli import REGION, DeployError, aws_json, describe_stack, run, say
from stack_settings import L2_OUTPUTS, SETTINGS_HEADER, parameters_of, read_settings, write_settings


# Lambda@Edge: what may be left of the main stack while CloudFront removes the replicas.
EDGE_RESOURCE_TYPES = {"AWS::Lambda::Function", "AWS::Lambda::Version", "AWS::Lambda::Alias"}


def failed_resources(stack):
    resources = aws_json("cloudformation", "describe-stack-resources", "--stack-name", stack)["StackResources"]
    return [r for r in resources if r["ResourceStatus"] == "DELETE_FAILED"]


def delete_stack(stack, retain=()):
    """Delete and wait. True when the stack is gone."""
    args = ["cloudformation", "delete-stack", "--stack-name", stack]
    if retain:
        args += ["--retain-resources", *retain]
    aws_json(*args)
    rc, _, err = run(["aws", "cloudformation", "wait", "stack-delete-complete", "--stack-name", stack,
                      "--region", REGION], capture=True)
    return rc == 0


def origin_network_interfaces(security_group):
    found = aws_json("ec2", "describe-network-interfaces", "--filters",
                     f"Name=group-id,Values={security_group}", "Name=interface-type,Values=lambda",
                     "--query", "NetworkInterfaces[].NetworkInterfaceId")
    return found or []


def dependency_violation(stack):
    events = aws_json("cloudformation", "describe-stack-events", "--stack-name", stack,
                      "--query", "StackEvents[?ResourceStatus=='DELETE_FAILED'].ResourceStatusReason")
    return any("DependencyViolation" in (reason or "") or "dependent object" in (reason or "") for reason in events or [])


def teardown(ctx, pause_seconds, attempts):
    # 1. The API Gateway stack (it invokes the origin function).
    if describe_stack(ctx.apigw_stack) is not None:
        say(f"teardown: deleting stack {ctx.apigw_stack}")
        if not delete_stack(ctx.apigw_stack):
            raise DeployError(f"stack {ctx.apigw_stack} was not deleted: see its events in the CloudFormation console")

    # 2. The main stack. Lambda@Edge replicas outlive the distribution by hours, and until they
    #    are gone the edge function can't be deleted: the stack is then deleted around it (the
    #    function retained) and the command that deletes the function later is printed.
    retained = []
    if describe_stack(ctx.stack) is not None:
        say(f"teardown: deleting stack {ctx.stack} (the distribution takes several minutes)")
        if not delete_stack(ctx.stack):
            failed = failed_resources(ctx.stack)
            others = [r for r in failed if r["ResourceType"] not in EDGE_RESOURCE_TYPES]
            if others or not failed:
                names = ", ".join(f"{r['LogicalResourceId']} ({r.get('ResourceStatusReason', '')})" for r in others)
                raise DeployError(f"stack {ctx.stack} was not deleted: {names or 'see its events'}")
            retained = failed
            say(f"teardown: the edge function can't be deleted while CloudFront removes its replicas; "
                f"deleting the stack without {', '.join(r['LogicalResourceId'] for r in retained)}")
            if not delete_stack(ctx.stack, retain=[r["LogicalResourceId"] for r in retained]):
                raise DeployError(f"stack {ctx.stack} was not deleted even with the edge function retained")

    # 3. The ElastiCache stack, once Lambda has let go of the origin's network interfaces in its
    #    security group (minutes after the function is gone): before that, deleting the group
    #    fails with DependencyViolation, and the delete is tried again.
    l2 = describe_stack(ctx.l2_stack)
    if l2 is not None:
        outputs = {o["OutputKey"]: o["OutputValue"] for o in l2.get("Outputs", [])}
        group = outputs.get("OriginSecurityGroupId")
        for attempt in range(1, attempts + 1):
            busy = origin_network_interfaces(group) if group else []
            if busy:
                say(f"teardown: Lambda still holds {len(busy)} network interface(s) in {group} "
                    f"({', '.join(busy)}); waiting {pause_seconds} s ({attempt}/{attempts})")
                time.sleep(pause_seconds)
                continue
            say(f"teardown: deleting stack {ctx.l2_stack}")
            if delete_stack(ctx.l2_stack):
                break
            if not dependency_violation(ctx.l2_stack):
                raise DeployError(f"stack {ctx.l2_stack} was not deleted: see its events")
            say(f"teardown: DependencyViolation (network interfaces being released); again in {pause_seconds} s "
                f"({attempt}/{attempts})")
            time.sleep(pause_seconds)
        else:
            raise DeployError(f"stack {ctx.l2_stack} still not deleted after {attempts} attempts: run make teardown again "
                              "later (it bills per node-hour until then)")
        forget_l2_settings(ctx)

    say(f"teardown: done (settings kept in {ctx.state}/*.env for a redeploy)")
    if retained:
        functions = [r["PhysicalResourceId"] for r in retained if r["ResourceType"] == "AWS::Lambda::Function"]
        say("Retained until CloudFront has removed the Lambda@Edge replicas (usually a few hours). Then:")
        for name in functions or [f"{ctx.stack}-edge"]:
            say(f"  aws lambda delete-function --region {REGION} --function-name {name}")


def forget_l2_settings(ctx):
    """The main stack's settings point at the deleted cache no more: DynamoDB next time."""
    path = ctx.settings_path(ctx.stack)
    if not path.exists():
        return
    parameters = parameters_of("template.yaml")
    values = read_settings(path, parameters)
    if values.get("L2Backend") != "redis":
        return
    values.update({"L2Backend": "dynamodb", **{name: "" for name in L2_OUTPUTS}})
    write_settings(path, values, parameters,
                   SETTINGS_HEADER.format(stack=ctx.stack, template="template.yaml", target="deploy"))
    say(f"teardown: {path}: L2Backend=dynamodb (the ElastiCache stack is gone)")
