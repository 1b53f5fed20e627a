# AWS deployment targets. Included by the root Makefile (`include deploy/deploy.mk`), or run
# on its own from the repository root: `make -f deploy/deploy.mk test-deploy`.
#
#   deploy-tools    pip-install the pinned tools of deploy/requirements.txt (skipped when present)
#   test-deploy     offline: cfn-lint + `sam validate --lint` on every template, then pytest
#                   deploy/ (templates vs rules.toml, behaviours.toml, each other and AWS)
#   check-edge-zip  fail when the edge zip is over Lambda@Edge's 1,048,576-byte limit
#   package-origin  dist/origin-function.zip (arm64 `bootstrap`, via cargo-lambda)
#   deploy          sam deploy deploy/template.yaml to us-east-1 (needs AWS credentials;
#                   never run in CI). `make package package-origin` first. L2_BACKEND=redis
#                   takes the L2 from the stack deploy-elasticache made.
#   deploy-elasticache  the optional ElastiCache L2 (deploy/elasticache.yaml; VPC_ID, SUBNET_IDS,
#                   ROUTE_TABLE_IDS)
#   deploy-apigw    the optional API Gateway cache stack (deploy/apigw-cache.yaml)
#   deploy-curl     two requests through CloudFront, showing X-Cache and Cache-Status
#   teardown        delete the stacks (see deploy/README.md: Lambda@Edge replicas)
#
# Recipes are plain POSIX sh so they behave the same under the root Makefile's bash -eu.

DEPLOY_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
DEPLOY_DIST := $(dir $(DEPLOY_DIR))dist
DEPLOY_PYTHON ?= python3
# Where pip puts console scripts for that Python (pyenv shims or not, CI or not).
DEPLOY_BIN = $(shell $(DEPLOY_PYTHON) -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
DEPLOY_REGION := us-east-1
DEPLOY_ENV := AWS_DEFAULT_REGION=$(DEPLOY_REGION) AWS_REGION=$(DEPLOY_REGION) SAM_CLI_TELEMETRY=0

STACK_NAME ?= edge-cache
APIGW_STACK_NAME ?= $(STACK_NAME)-apigw
L2_STACK_NAME ?= $(STACK_NAME)-l2
NAME_PREFIX ?= $(STACK_NAME)
PRICE_CLASS ?= PriceClass_100
DEFAULT_TTL ?= 60
MAX_TTL ?= 31536000
ORIGIN_ZIP := $(DEPLOY_DIST)/origin-function.zip
# The root Makefile sets EDGE_ZIP first; this default serves `make -f deploy/deploy.mk`.
EDGE_ZIP ?= $(DEPLOY_DIST)/edge-worker-lambda.zip
# Lambda@Edge's cap on a viewer-trigger function's zipped package (lambda-edge-rules.md).
EDGE_ZIP_LIMIT := 1048576
# dynamodb, or redis: the L2 of the stack `make deploy-elasticache` made (its outputs).
L2_BACKEND ?= dynamodb
CARGO_LAMBDA_DIR ?= $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),target)/lambda

.PHONY: deploy-help deploy-tools test-deploy check-edge-zip package-origin deploy deploy-elasticache deploy-apigw \
	deploy-outputs deploy-curl teardown

deploy-help:
	@sed -n '4,17p' $(DEPLOY_DIR)/deploy.mk | sed 's/^# \{0,1\}//'

deploy-tools:
	@$(DEPLOY_PYTHON) $(DEPLOY_DIR)/tools.py cfn-lint aws-sam-cli pytest

test-deploy: deploy-tools
	$(DEPLOY_BIN)/cfn-lint $(DEPLOY_DIR)/template.yaml $(DEPLOY_DIR)/apigw-cache.yaml $(DEPLOY_DIR)/elasticache.yaml
	for t in template apigw-cache elasticache; do \
		$(DEPLOY_ENV) $(DEPLOY_BIN)/sam validate --lint --template $(DEPLOY_DIR)/$$t.yaml; done
	$(DEPLOY_PYTHON) -m pytest -q -p no:cacheprovider $(DEPLOY_DIR)

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
	@$(DEPLOY_PYTHON) $(DEPLOY_DIR)/tools.py cargo-lambda
	$(DEPLOY_BIN)/cargo-lambda lambda build --release --arm64 -p origin-function --bin origin-function \
		--output-format zip --lambda-dir $(CARGO_LAMBDA_DIR)
	mkdir -p $(DEPLOY_DIST)
	cp $(CARGO_LAMBDA_DIR)/origin-function/bootstrap.zip $(ORIGIN_ZIP)
	@echo "$(ORIGIN_ZIP): $$(wc -c < $(ORIGIN_ZIP) | tr -d ' ') bytes (contains: $$($(DEPLOY_PYTHON) -c 'import sys, zipfile; print(" ".join(zipfile.ZipFile(sys.argv[1]).namelist()))' $(ORIGIN_ZIP)))"

# The shared secret CloudFront sends as X-Origin-Verify: $ORIGIN_VERIFY_SECRET, else the one
# kept in deploy/.origin-verify-secret (git-ignored), else a new one written there. During a
# rotation, ORIGIN_VERIFY_SECRET_PREVIOUS is the old one, still accepted (README).
# L2_BACKEND=redis: RedisUrl, OriginSubnetIds and OriginSecurityGroupIds from the outputs of
# $(L2_STACK_NAME) (make deploy-elasticache).
stack_output = $(DEPLOY_ENV) $(DEPLOY_BIN)/sam list stack-outputs --stack-name $(1) --region $(DEPLOY_REGION) --output json \
	| $(DEPLOY_PYTHON) -c 'import json, sys; print(next(o["OutputValue"] for o in json.load(sys.stdin) if o["OutputKey"] == sys.argv[1]))' $(2)

deploy: deploy-tools check-edge-zip
	@test -f "$(ORIGIN_ZIP)" || { echo "missing $(ORIGIN_ZIP): run 'make package-origin' first"; exit 1; }
	@secret="$${ORIGIN_VERIFY_SECRET:-}"; \
	if [ -z "$$secret" ]; then \
		f=$(DEPLOY_DIR)/.origin-verify-secret; \
		if [ ! -s "$$f" ]; then (umask 077; $(DEPLOY_PYTHON) -c 'import secrets; print(secrets.token_hex(32))' > "$$f"); \
			echo "deploy: new origin secret written to $$f"; fi; \
		secret=$$(cat "$$f"); fi; \
	extra=""; \
	if [ -n "$${ORIGIN_VERIFY_SECRET_PREVIOUS:-}" ]; then extra="OriginVerifySecretPrevious=$$ORIGIN_VERIFY_SECRET_PREVIOUS"; fi; \
	l2=""; \
	if [ "$(L2_BACKEND)" = redis ]; then \
		l2="L2Backend=redis RedisUrl=$$($(call stack_output,$(L2_STACK_NAME),RedisUrl))"; \
		l2="$$l2 OriginSubnetIds=$$($(call stack_output,$(L2_STACK_NAME),OriginSubnetIds))"; \
		l2="$$l2 OriginSecurityGroupIds=$$($(call stack_output,$(L2_STACK_NAME),OriginSecurityGroupId))"; fi; \
	echo "deploy: stack $(STACK_NAME) in $(DEPLOY_REGION), L2 $(L2_BACKEND)"; \
	$(DEPLOY_ENV) $(DEPLOY_BIN)/sam deploy --template-file $(DEPLOY_DIR)/template.yaml \
		--stack-name $(STACK_NAME) --region $(DEPLOY_REGION) \
		--capabilities CAPABILITY_IAM --resolve-s3 \
		--no-confirm-changeset --no-fail-on-empty-changeset \
		--parameter-overrides NamePrefix=$(NAME_PREFIX) PriceClass=$(PRICE_CLASS) \
			DefaultTTL=$(DEFAULT_TTL) MaxTTL=$(MAX_TTL) OriginVerifySecret=$$secret \
			$$extra $$l2 \
			$(DEPLOY_PARAMETERS)

# The ElastiCache L2 in an existing VPC: VPC_ID, SUBNET_IDS (comma-separated, private, two AZs)
# and ROUTE_TABLE_IDS (their route tables: the DynamoDB gateway endpoint). ~10-15 minutes.
deploy-elasticache: deploy-tools
	@test -n "$(VPC_ID)" -a -n "$(SUBNET_IDS)" || { echo "deploy-elasticache: set VPC_ID and SUBNET_IDS (and ROUTE_TABLE_IDS)"; exit 1; }
	$(DEPLOY_ENV) $(DEPLOY_BIN)/sam deploy --template-file $(DEPLOY_DIR)/elasticache.yaml \
		--stack-name $(L2_STACK_NAME) --region $(DEPLOY_REGION) \
		--no-confirm-changeset --no-fail-on-empty-changeset \
		--parameter-overrides NamePrefix=$(NAME_PREFIX) VpcId=$(VPC_ID) SubnetIds=$(SUBNET_IDS) \
			$(if $(ROUTE_TABLE_IDS),DynamoDbRouteTableIds=$(ROUTE_TABLE_IDS)) $(L2_PARAMETERS)

deploy-outputs:
	@$(DEPLOY_ENV) $(DEPLOY_BIN)/sam list stack-outputs --stack-name $(STACK_NAME) --region $(DEPLOY_REGION)

deploy-apigw: deploy-tools
	@arn=$$($(call stack_output,$(STACK_NAME),OriginFunctionArn)); \
	test -n "$$arn"; \
	$(DEPLOY_ENV) $(DEPLOY_BIN)/sam deploy --template-file $(DEPLOY_DIR)/apigw-cache.yaml \
		--stack-name $(APIGW_STACK_NAME) --region $(DEPLOY_REGION) --resolve-s3 \
		--no-confirm-changeset --no-fail-on-empty-changeset \
		--parameter-overrides OriginFunctionArn=$$arn ApiName=$(NAME_PREFIX)-apigw

CURL_PATH ?= /api/products?category=books&utm_source=x
deploy-curl:
	@url=$$($(call stack_output,$(STACK_NAME),DistributionUrl)); \
	for i in 1 2; do echo "--- GET $$url$(CURL_PATH) ($$i)"; \
		curl -sS --compressed -o /dev/null -D - "$$url$(CURL_PATH)" | grep -i -E '^(HTTP/|x-cache|cache-status|cache-control|age):' || true; done

# Lambda@Edge replicas outlive the distribution by up to a few hours: the first teardown
# usually deletes everything but the edge function; run it again later (README: Teardown).
teardown: deploy-tools
	-$(DEPLOY_ENV) $(DEPLOY_BIN)/sam delete --stack-name $(APIGW_STACK_NAME) --region $(DEPLOY_REGION) --no-prompts
	@$(DEPLOY_ENV) $(DEPLOY_BIN)/sam delete --stack-name $(STACK_NAME) --region $(DEPLOY_REGION) --no-prompts || { \
		echo "teardown: stack $(STACK_NAME) not fully deleted. If the edge function failed with 'replicated function',"; \
		echo "CloudFront is still removing its replicas: run 'make teardown' again in 1-3 hours."; exit 1; }
	@# After the main stack: its function (in the VPC) holds ENIs in the cache stack's security group.
	-$(DEPLOY_ENV) $(DEPLOY_BIN)/sam delete --stack-name $(L2_STACK_NAME) --region $(DEPLOY_REGION) --no-prompts
