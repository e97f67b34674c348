# VaultGuard: `make run` starts the embedded stack, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CLI := $(VENV)/bin/vaultguard
# Two stamps: `make run` installs only what running needs; `make test` adds the rest.
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
# --no-compile: Python compiles what it imports on first use, not all of botocore and moto now.
PIP := $(PY) -m pip install --quiet --disable-pip-version-check --no-compile
PORT ?= 8000

.PHONY: run test unit functional e2e lint typecheck bench clean help package screenshots

help:
	@echo "make run    - start VaultGuard locally on http://127.0.0.1:$(PORT) (moto, demo data)"
	@echo "make test   - install what is needed and run every test"
	@echo "make pending / approve ID=... / reject ID=...  - decide step-up requests (local stack)"
	@echo "make audit-verify TENANT=<id> [SINCE=...]  - check the audit export against its signed digests"
	@echo "make dashboard - build the admin dashboard (make run serves it at /dashboard/)"
	@echo "make screenshots - the README's dashboard screenshots (docs/), from a throw-away stack"
	@echo "make package / deploy / bootstrap - build, deploy to AWS, create the first operator (infra/README.md)"
	@echo "make lint / typecheck / bench / clean"

$(RUN_STAMP): requirements.txt requirements-run.txt sdk/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements-run.txt
	@touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP) requirements-dev.txt
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(PIP) -r requirements-dev.txt
	@touch $(STAMP)

# The API reference page (GET /docs): the pinned Redoc of api-reference/package-lock.json.
DOCS_STAMP := api-reference/node_modules/.installed
$(DOCS_STAMP): api-reference/package.json api-reference/package-lock.json
	cd api-reference && npm ci --no-audit --no-fund --loglevel=error
	@touch $(DOCS_STAMP)

# The local identity provider (node-oidc-provider, pinned in local-idp/package-lock.json); it
# would install itself on first start too (chalicelib/local/idp.py), this does it up front.
IDP_STAMP := local-idp/node_modules/.installed
$(IDP_STAMP): local-idp/package.json local-idp/package-lock.json
	cd local-idp && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $(IDP_STAMP)

# The admin dashboard (dashboard/): the API's OpenAPI document dumped from the code, its
# TypeScript types generated from it, `tsc` strict, then Vite into dashboard/dist, which the
# local server serves at /dashboard/. A changed endpoint or source file rebuilds it.
DASHBOARD_NPM := dashboard/node_modules/.installed
DASHBOARD_STAMP := dashboard/dist/.built
DASHBOARD_SOURCES := $(shell find dashboard/src dashboard/scripts -type f ! -name schema.d.ts 2>/dev/null) \
	dashboard/index.html dashboard/tsconfig.json dashboard/vite.config.ts \
	$(wildcard chalicelib/api/*.py chalicelib/domain/*.py)
$(DASHBOARD_NPM): dashboard/package.json dashboard/package-lock.json
	cd dashboard && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	@touch $(DASHBOARD_NPM)
$(DASHBOARD_STAMP): $(RUN_STAMP) $(DASHBOARD_NPM) $(DASHBOARD_SOURCES)
	$(PY) dashboard/scripts/dump_openapi.py dashboard/openapi.json
	cd dashboard && npm run --silent build
	@touch $(DASHBOARD_STAMP)
.PHONY: dashboard
dashboard: $(DASHBOARD_STAMP)

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium

# checkov (tests/infra/test_checkov.py) in a virtualenv of its own: its many dependencies
# would fight requirements-dev.txt's pins. `make .venv-checkov`.
# (Defined before `test`, whose prerequisites make expands as it reads them.)
CHECKOV_VERSION := 3.2.533
CHECKOV := .venv-checkov/bin/checkov
$(CHECKOV):
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
.PHONY: .venv-checkov
.venv-checkov: $(CHECKOV)

run: $(RUN_STAMP) $(DOCS_STAMP) $(IDP_STAMP) $(DASHBOARD_STAMP)
	$(PY) -m chalicelib.local --port $(PORT)

# Serial for now: `-n 2 --dist loadfile` (pytest-xdist, installed, and the test fixtures support
# it) takes 9.5 min instead of 24 here, but its summary counted 2101 passed of 2219 collected
# with no failure or skip reported; until the difference is explained, every test runs serially.
test: $(STAMP) $(DOCS_STAMP) $(IDP_STAMP) $(DASHBOARD_STAMP) $(CHROMIUM) $(CHECKOV) lint typecheck
	$(PY) -m pytest tests -q --timeout=300; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; rc=0; fi; exit $$rc

unit: $(STAMP)
	$(PY) -m pytest tests/unit -q

functional: $(STAMP) $(DOCS_STAMP)
	$(PY) -m pytest tests/functional -q

e2e: $(STAMP) $(DOCS_STAMP) $(IDP_STAMP) $(DASHBOARD_STAMP) $(CHROMIUM)
	$(PY) -m pytest tests/e2e -q

screenshots: $(STAMP) $(IDP_STAMP) $(DASHBOARD_STAMP) $(CHROMIUM)
	$(PY) dashboard/scripts/screenshots.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy chalicelib app.py local_aws infra sdk/src examples bench

bench: $(STAMP)
	$(PY) -m bench

# The deployable template in build/ (no AWS account needed): `chalice package --stage prod`
# merged with infra/template.json, then one Lambda and least-privilege role per route (infra/package.py).
package: $(STAMP)
	$(PY) -m infra.package build

# The stack on AWS (infra/deploy.py: boto3 with your AWS credentials, no AWS CLI needed), built
# first if build/ is missing or stale: `make deploy [STACK=vaultguard] [REGION=...]
# [ISSUER=https://<custom domain>] [ARTIFACTS_BUCKET=...]`; the first deploy runs in two phases
# (infra/README.md). `make bootstrap [STACK=...] [REGION=...]` then prints the first platform
# operator client's id and secret, once. The variables reach the shell as environment variables.
.PHONY: deploy bootstrap
deploy: $(STAMP)
	$(PY) -m infra.deploy $${STACK:+--stack "$$STACK"} $${REGION:+--region "$$REGION"} \
		$${ISSUER:+--issuer "$$ISSUER"} $${ARTIFACTS_BUCKET:+--artifacts-bucket "$$ARTIFACTS_BUCKET"}

bootstrap: $(STAMP)
	$(PY) -m infra.bootstrap $${STACK:+--stack "$$STACK"} $${REGION:+--region "$$REGION"}

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache

# The approver's CLI (the SDK's `vaultguard` console script, .venv/bin/vaultguard) against
# `make run`'s stack, with the credentials of ${VAULTGUARD_STATE_DIR:-.vaultguard}/local.json:
# `make pending [TENANT=natsupply]`, `make approve ID=<delegation_id|auth_req_id> [REASON=...]`,
# `make reject ID=... [REASON=...]`; for another state dir add VAULTGUARD_STATE_DIR=<dir>.
# ID, REASON and TENANT reach the shell as environment variables, so quotes in them are safe.
# VAULTGUARD_CLI_HINTS=make makes the CLI's hints name these targets.
.PHONY: pending approve reject
pending: $(RUN_STAMP)
	@VAULTGUARD_CLI_HINTS=make $(CLI) pending $${TENANT:+--tenant "$$TENANT"}

approve reject: $(RUN_STAMP)
	@test -n "$${ID:-}" || { echo "usage: make $@ ID=<delegation_id|auth_req_id> [REASON=...] [TENANT=...]" >&2; exit 2; }
	@VAULTGUARD_CLI_HINTS=make $(CLI) $@ "$$ID" $${REASON:+--reason "$$REASON"} $${TENANT:+--tenant "$$TENANT"}

# Check a tenant's audit export against its signed hour digests (`make run`'s persisted bucket
# mirror in the state dir; real S3 when VAULTGUARD_AWS_ENDPOINT is set or the stage is not local):
# `make audit-verify TENANT=<tenant_id> [SINCE=2030-01-01T00:00:00Z]`.
.PHONY: audit-verify
audit-verify: $(RUN_STAMP)
	@test -n "$${TENANT:-}" || { echo "usage: make audit-verify TENANT=<tenant_id> [SINCE=<iso8601>]" >&2; exit 2; }
	@$(PY) -m chalicelib.jobs.audit_verify --tenant "$$TENANT" $${SINCE:+--since "$$SINCE"}

# The demo (issue 5): MediCore's agent against NatSupply's LMIS through VaultGuard, offline
# planner unless ANTHROPIC_API_KEY is set. Uses `make run`'s stack when it is up, else starts its
# own; `make demo INTERACTIVE=1` waits for a human `make approve ID=...` instead of the scripted admin.
.PHONY: demo
demo: $(STAMP)
	@$(PY) -m examples.demo $${INTERACTIVE:+--interactive}
