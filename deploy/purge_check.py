"""`make deploy-purge-check` (never in CI, like deploy-curl): a purge on the real distribution.

Caches a product's category listing under two query strings and the product under a
percent-encoded spelling, checks each is a CloudFront hit, purges the category's tag with the
purge CLI (`--wait`: until CloudFront says Completed), and shows each variant missing
afterwards. The local edge emulates CloudFront's matching; only this proves it.
"""
import argparse
import os
import subprocess
import sys
import urllib.request

from aws_cli import DeployError, REGION, say, stack_outputs

# Product 42 is in category music (the demo catalogue: CATEGORIES[id % 10]).
VARIANTS = (
    "/api/products?category=music&per_page=100",
    "/api/products?per_page=100&sort=price&category=music&utm_source=check",
    "/api/products/%34%32",
)
TAG = "category:music"


def x_cache(url):
    """The `X-Cache` of one GET."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        return response.headers.get("x-cache", "")


def purge_env(outputs, backend):
    env = dict(os.environ, AWS_REGION=REGION, AWS_DEFAULT_REGION=REGION)
    env.update(
        PURGE_DISTRIBUTION_ID=outputs["DistributionId"],
        ORIGIN_PURGE_TABLE=outputs["PurgeTableName"],
        ORIGIN_CACHE_TABLE=outputs["CacheTableName"],
        PURGE_FUNCTION=outputs["OriginFunctionName"],
        PURGE_BACKEND=backend,
    )
    return env


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--purge-bin", required=True)
    parser.add_argument("--backend", default="dynamodb", choices=("dynamodb", "invoke"))
    args = parser.parse_args(argv)
    try:
        outputs = stack_outputs(args.stack)
    except DeployError as e:
        say(f"deploy-purge-check: {e}")
        return 1
    base = outputs["DistributionUrl"]
    failed = False
    for path in VARIANTS:
        first, second = x_cache(base + path), x_cache(base + path)
        say(f"before: {path}: {first} then {second}")
        failed |= not second.lower().startswith("hit")
    done = subprocess.run([args.purge_bin, "--tag", TAG, "--wait"], env=purge_env(outputs, args.backend))
    if done.returncode != 0:
        say(f"deploy-purge-check: the purge failed (exit {done.returncode})")
        return 1
    for path in VARIANTS:
        after = x_cache(base + path)
        say(f"after:  {path}: {after}")
        failed |= not after.lower().startswith("miss")
    say("deploy-purge-check: " + ("a variant was not purged as expected" if failed else "every variant missed after the purge"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
