# AWS deployment targets. Included by the root Makefile (`include deploy/deploy.mk`), or run
# on its own from the repository root: `make -f deploy/deploy.mk test-deploy`.
#
#   deploy-tools    the pinned tools of deploy/requirements.txt in their own venv, deploy/.venv
#   test-deploy     offline: cfn-lint + `sam validate --lint` on every template, then pytest
#                   deploy/ (templates vs rules.toml, behaviours.toml, each other and AWS; the
#                   deploy recipes against a fake sam and aws)
#   check-edge-zip  fail when the edge zip is over Lambda@Edge's 1,048,576-byte limit
#   package-origin  dist/origin-function.zip (arm64 `bootstrap`, via cargo-lambda)
#   deploy          deploy/template.yaml to us-east-1 with every parameter from deploy/<stack>.env
#                   (Name=value on the command line changes one; never run in CI)
#   deploy-plan     the same, as a change set that is shown and not executed
#   rotate-secret   rotation step 1: a new origin secret, the current one still accepted
#   rotate-secret-finish  rotation step 2: the new secret alone
#   deploy-rollback the previous edge zip (dist/edge-worker-lambda.prev.zip) again
#   deploy-elasticache  the optional ElastiCache L2 (deploy/elasticache.yaml; VPC_ID, SUBNET_IDS,
#                   ROUTE_TABLE_IDS); then `make deploy L2_BACKEND=redis`
#   deploy-apigw    the optional API Gateway cache stack (deploy/apigw-cache.yaml)
#   deploy-curl     two requests through CloudFront, showing X-Cache and Cache-Status
#   deploy-purge-check  a purge on the real distribution: three cached variants, each a miss after
#   teardown        delete the stacks (see deploy/README.md: Lambda@Edge replicas)
#
# The recipes' logic is deploy/deploy.py (tested by deploy/test_deploy.py with fake CLIs).
# Recipes are plain POSIX sh so they behave the same under the root Makefile's bash -eu.

DEPLOY_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
DEPLOY_DIST ?= $(dir $(DEPLOY_DIR))dist
# The Python that creates the tools' venv (any 3.11+ with its venv module; the tools never go
# into it: Debian's and Homebrew's are externally managed, PEP 668).
DEPLOY_PYTHON ?= python3
DEPLOY_VENV ?= $(DEPLOY_DIR)/.venv
DEPLOY_BIN = $(DEPLOY_VENV)/bin
DEPLOY_REQUIREMENTS ?= $(DEPLOY_DIR)/requirements.txt
# What deploy-tools installs (cargo-lambda comes with package-origin). Empty: every pin.
DEPLOY_TOOLS ?= cfn-lint aws-sam-cli awscli pytest
# Where deploy/<stack>.env and the secret files live.
DEPLOY_STATE ?= $(DEPLOY_DIR)
DEPLOY_REGION := us-east-1
DEPLOY_ENV := AWS_DEFAULT_REGION=$(DEPLOY_REGION) AWS_REGION=$(DEPLOY_REGION) SAM_CLI_TELEMETRY=0

STACK_NAME ?= edge-cache
APIGW_STACK_NAME ?= $(STACK_NAME)-apigw
L2_STACK_NAME ?= $(STACK_NAME)-l2
ORIGIN_ZIP ?= $(DEPLOY_DIST)/origin-function.zip
# The root Makefile sets EDGE_ZIP first; this default serves `make -f deploy/deploy.mk`.
EDGE_ZIP ?= $(DEPLOY_DIST)/edge-worker-lambda.zip
# Lambda@Edge's cap on a viewer-trigger function's zipped package (lambda-edge-rules.md).
EDGE_ZIP_LIMIT := 1048576
CARGO_LAMBDA_DIR ?= $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),target)/lambda
# teardown: seconds between ElastiCache-stack delete attempts while Lambda releases the
# origin's network interfaces, and how many attempts.
TEARDOWN_PAUSE ?= 60
TEARDOWN_ATTEMPTS ?= 45

# deploy/deploy.py with the venv's tools first on PATH. It reads the settings given on the
# command line from its environment (make exports command-line variables): the knobs
# NAME_PREFIX, PRICE_CLASS, DEFAULT_TTL, MAX_TTL, L2_BACKEND (VPC_ID, SUBNET_IDS, ROUTE_TABLE_IDS
# for deploy-elasticache), any template parameter by name, and DEPLOY_PARAMETERS /
# L2_PARAMETERS / APIGW_PARAMETERS ("Name=value Name=value").
DEPLOY_RUN = PATH="$(abspath $(DEPLOY_BIN)):$$PATH" $(DEPLOY_BIN)/python $(DEPLOY_DIR)/deploy.py
DEPLOY_ARGS = --stack $(STACK_NAME) --l2-stack $(L2_STACK_NAME) --apigw-stack $(APIGW_STACK_NAME) \
	--state-dir $(DEPLOY_STATE) --dist $(DEPLOY_DIST) --edge-zip $(EDGE_ZIP) --origin-zip $(ORIGIN_ZIP)

.PHONY: deploy-help deploy-tools test-deploy check-edge-zip package-origin deploy deploy-plan rotate-secret \
	rotate-secret-finish deploy-rollback deploy-elasticache deploy-apigw deploy-outputs deploy-curl teardown \
	deploy-purge-check

deploy-help:
	@sed -n '4,20p' $(DEPLOY_DIR)/deploy.mk | sed 's/^# \{0,1\}//'

deploy-tools:
	@$(DEPLOY_PYTHON) $(DEPLOY_DIR)/tools.py --venv $(DEPLOY_VENV) --requirements $(DEPLOY_REQUIREMENTS) $(DEPLOY_TOOLS)

test-deploy: deploy-tools
	$(DEPLOY_BIN)/cfn-lint $(DEPLOY_DIR)/template.yaml $(DEPLOY_DIR)/apigw-cache.yaml $(DEPLOY_DIR)/elasticache.yaml
	for t in template apigw-cache elasticache; do \
		$(DEPLOY_ENV) $(DEPLOY_BIN)/sam validate --lint --template $(DEPLOY_DIR)/$$t.yaml; done
	$(DEPLOY_BIN)/python -m pytest -q -p no:cacheprovider $(DEPLOY_DIR)

# `make package` runs this after zipping; `make deploy` again before uploading.
check-edge-zip:
	@test -f "$(EDGE_ZIP)" || { echo "check-edge-zip: missing $(EDGE_ZIP): run 'make package' first"; exit 1; }
	@size=$$(wc -c < "$(EDGE_ZIP)" | tr -d ' '); \
	if [ "$$size" -gt $(EDGE_ZIP_LIMIT) ]; then \
		echo "$(EDGE_ZIP): $$size bytes, over Lambda@Edge's viewer-trigger limit of $(EDGE_ZIP_LIMIT) bytes (zipped): CloudFront would refuse it"; \
		exit 1; fi; \
	echo "$(EDGE_ZIP): $$size bytes (Lambda@Edge viewer-trigger limit: $(EDGE_ZIP_LIMIT))"

# Cross-compiles offline (cargo-lambda bundles zig; ~6 min cold). Not part of test-deploy.
package-origin:
	@$(DEPLOY_PYTHON) $(DEPLOY_DIR)/tools.py --venv $(DEPLOY_VENV) --requirements $(DEPLOY_REQUIREMENTS) cargo-lambda
	$(DEPLOY_BIN)/cargo-lambda lambda build --release --arm64 -p origin-function --bin origin-function \
		--output-format zip --lambda-dir $(CARGO_LAMBDA_DIR)
	mkdir -p $(DEPLOY_DIST)
	cp $(CARGO_LAMBDA_DIR)/origin-function/bootstrap.zip $(ORIGIN_ZIP)
	@echo "$(ORIGIN_ZIP): $$(wc -c < $(ORIGIN_ZIP) | tr -d ' ') bytes (contains: $$($(DEPLOY_BIN)/python -c 'import sys, zipfile; print(" ".join(zipfile.ZipFile(sys.argv[1]).namelist()))' $(ORIGIN_ZIP)))"

# Every parameter named, from deploy/$(STACK_NAME).env (written after each successful deploy),
# the secret files and, for L2_BACKEND=redis, the outputs of $(L2_STACK_NAME).
deploy: deploy-tools check-edge-zip
	@$(DEPLOY_RUN) deploy $(DEPLOY_ARGS)

deploy-plan: deploy-tools check-edge-zip
	@$(DEPLOY_RUN) deploy --plan $(DEPLOY_ARGS)

# Secret rotation (README "Rotating the secret"). Step 1: a new secret in
# deploy/.origin-verify-secret.next, sent by CloudFront, the current one still accepted; it
# prints the `wrangler secret put` line for the Worker. Step 2: the new secret alone, then
# moved into deploy/.origin-verify-secret. A failed step leaves both files as they were.
rotate-secret: deploy-tools check-edge-zip
	@$(DEPLOY_RUN) deploy --rotate start $(DEPLOY_ARGS)

rotate-secret-finish: deploy-tools check-edge-zip
	@$(DEPLOY_RUN) deploy --rotate finish $(DEPLOY_ARGS)

# The edge zip deployed before the current one (kept as dist/edge-worker-lambda.prev.zip).
# PLAN=1 shows the change set only.
deploy-rollback: deploy-tools
	@$(DEPLOY_RUN) deploy --rollback $(if $(PLAN),--plan) $(DEPLOY_ARGS)

# The ElastiCache L2 in an existing VPC: VPC_ID, SUBNET_IDS (comma-separated, private, two AZs)
# and ROUTE_TABLE_IDS (their route tables: the DynamoDB gateway endpoint). ~10-15 minutes.
# Settings in deploy/$(L2_STACK_NAME).env; PLAN=1 shows the change set only.
deploy-elasticache: deploy-tools
	@$(DEPLOY_RUN) deploy-l2 $(if $(PLAN),--plan) $(DEPLOY_ARGS)

# Settings in deploy/$(APIGW_STACK_NAME).env; the origin's ARN from the main stack's outputs.
deploy-apigw: deploy-tools
	@$(DEPLOY_RUN) deploy-apigw $(if $(PLAN),--plan) $(DEPLOY_ARGS)

deploy-outputs: deploy-tools
	@$(DEPLOY_ENV) $(DEPLOY_BIN)/sam list stack-outputs --stack-name $(STACK_NAME) --region $(DEPLOY_REGION)

CURL_PATH ?= /api/products?category=books&utm_source=x
deploy-curl: deploy-tools
	@url=$$($(DEPLOY_ENV) $(DEPLOY_BIN)/sam list stack-outputs --stack-name $(STACK_NAME) --region $(DEPLOY_REGION) --output json \
		| $(DEPLOY_BIN)/python -c 'import json, sys; print(next(o["OutputValue"] for o in json.load(sys.stdin) if o["OutputKey"] == "DistributionUrl"))'); \
	for i in 1 2; do echo "--- GET $$url$(CURL_PATH) ($$i)"; \
		curl -sS --compressed -o /dev/null -D - "$$url$(CURL_PATH)" | grep -i -E '^(HTTP/|x-cache|cache-status|cache-control|age):' || true; done

# docs/purge.md, "Deployed": purges a product cached under two query strings and a
# percent-encoded spelling, and shows each variant missing afterwards (the local edge emulates
# CloudFront's matching; only the real one proves it). Your credentials need the stack's
# PurgeOperatorPolicy output. PURGE_BACKEND=invoke with the Redis L2. Never run in CI.
PURGE_BACKEND ?= dynamodb
deploy-purge-check: deploy-tools
	cargo build -q --release -p purge --bin purge
	@PATH="$(abspath $(DEPLOY_BIN)):$$PATH" $(DEPLOY_BIN)/python $(DEPLOY_DIR)/purge_check.py --stack $(STACK_NAME) \
		--backend $(PURGE_BACKEND) --purge-bin $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),target)/release/purge

# The API Gateway stack, the main stack (the Lambda@Edge function retained when CloudFront
# still holds replicas, with the command to delete it later printed), then the ElastiCache
# stack once Lambda has released the origin's network interfaces (README: Teardown).
teardown: deploy-tools
	@$(DEPLOY_RUN) teardown --pause-seconds $(TEARDOWN_PAUSE) --attempts $(TEARDOWN_ATTEMPTS) $(DEPLOY_ARGS)
