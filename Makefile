# caseload-operator: weighted caseload caps for social-work teams, enforced by Kubernetes.
# `make run` starts the operator on a local control plane with a sample council; `make test`
# runs every test against a real kube-apiserver and etcd. Both install what they need.

# Tools are installed into bin/ on first use.
LOCALBIN ?= $(shell pwd)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
CONTROLLER_TOOLS_VERSION ?= v0.23.0
ENVTEST_K8S_VERSION ?= 1.37.2
HELM ?= $(LOCALBIN)/helm
HELM_VERSION ?= v3.22.0

GO ?= go
# Tests that reach an apiserver read KUBEBUILDER_ASSETS; hack/setup-envtest.sh prints it (and
# downloads or builds the binaries first when they are missing).
SETUP_ENVTEST = ENVTEST_K8S_VERSION=$(ENVTEST_K8S_VERSION) LOCALBIN=$(LOCALBIN) hack/setup-envtest.sh

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show the targets and what they do.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRDs, RBAC and webhook configuration, and copy the CRDs into the chart.
	@echo "manifests: generating CRDs, RBAC and webhook configuration into config/"
	$(CONTROLLER_GEN) rbac:roleName=caseload-operator crd webhook paths="./..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac \
		output:webhook:artifacts:config=config/webhook
	@mkdir -p charts/caseload-operator/crds
	@rm -f charts/caseload-operator/crds/*.yaml
	@cp config/crd/bases/*.yaml charts/caseload-operator/crds/

.PHONY: generate
generate: controller-gen ## Generate the deepcopy code of the API types.
	@echo "generate: writing zz_generated.deepcopy.go"
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: samples
samples: ## Regenerate the sample council in config/samples/council (seeded: the same every time).
	@echo "samples: writing config/samples/council from hack/gen-samples"
	$(GO) run ./hack/gen-samples

.PHONY: fmt
fmt: ## Run go fmt.
	$(GO) fmt ./...

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: verify
verify: manifests generate chart-files ## Fail when generated files (CRDs, RBAC, webhooks, the chart's copies) differ from what is committed.
	@if [ -n "$$(git status --porcelain -- api config charts)" ]; then \
		echo "verify: generated files are out of date; run 'make manifests generate' and commit:"; \
		git status --porcelain -- api config charts; git --no-pager diff --stat -- api config charts; exit 1; \
	fi
	@echo "verify: generated files are up to date"

.PHONY: envtest
envtest: ## Make kube-apiserver and etcd available to the tests (downloads or builds them).
	@assets=$$($(SETUP_ENVTEST)); echo "envtest: kube-apiserver and etcd $(ENVTEST_K8S_VERSION) in $$assets"

.PHONY: test
test: manifests generate fmt vet ## Run the unit, fuzz-seed and envtest integration tests.
	@echo "test: kube-apiserver and etcd come from hack/setup-envtest.sh (a first run may build them)"
	@assets=$$($(SETUP_ENVTEST)); echo "test: KUBEBUILDER_ASSETS=$$assets"; \
	KUBEBUILDER_ASSETS="$$assets" $(GO) test ./... -count=1 -timeout 30m

SIM_SEEDS ?= 20000
.PHONY: sim
sim: ## Run the simulation of admission over SIM_SEEDS seeded histories (20,000 unless set), then check it finds every hole put back (a few minutes; no control plane).
	@echo "sim: $(SIM_SEEDS) seeded histories of replicas, caches, clocks and faults (docs/admission.md); a failure prints its seed"
	CASELOAD_SIMULATION_ONLY=1 $(GO) test ./internal/webhook/v1alpha1 -run '^TestSimulation$$' -count=1 -v -timeout 60m -sim.seeds=$(SIM_SEEDS) | grep -v '^=== RUN'
	@echo "sim: every known hole put back must be found"
	CASELOAD_SIMULATION_ONLY=1 $(GO) test ./internal/webhook/v1alpha1 -run '^TestSimulationFindsEveryHole$$' -count=1 -timeout 30m

.PHONY: bench
bench: ## Run the benchmarks (figures are recorded in docs/benchmarks.md).
	$(GO) test ./... -run '^$$' -bench . -benchmem -count 5

.PHONY: bench-admission
bench-admission: ## Measure admission against no webhook, a webhook that allows everything (the floor) and ResourceQuota on envtest with the real manager, and write the table into docs/benchmarks.md (a few minutes).
	@echo "bench-admission: kube-apiserver and etcd from hack/setup-envtest.sh, the manager built from ./cmd/manager"
	@assets=$$($(SETUP_ENVTEST)); KUBEBUILDER_ASSETS="$$assets" BENCH_ADMISSION=full $(GO) test ./test/bench/ -run TestAdmissionSideBySide -count=1 -v -timeout 60m

BENCH_CASES ?= 30000
.PHONY: bench-scale
bench-scale: ## Load BENCH_CASES generated cases (30,000 unless set; 320,000 for England) into envtest with the real manager, measure start-up, memory, work per change, a policy change and admission, and record the table in docs/benchmarks.md.
	@echo "bench-scale: $(BENCH_CASES) cases; kube-apiserver and etcd from hack/setup-envtest.sh, the manager built from ./cmd/manager"
	@assets=$$($(SETUP_ENVTEST)); KUBEBUILDER_ASSETS="$$assets" BENCH_SCALE=full BENCH_CASES=$(BENCH_CASES) $(GO) test ./test/bench/ -run TestScale -count=1 -v -timeout 90m

.PHONY: fuzz
fuzz: ## Fuzz the policy engine for a minute per target.
	$(GO) test ./internal/policy -run '^$$' -fuzz FuzzCaseWeight -fuzztime 60s
	$(GO) test ./internal/policy -run '^$$' -fuzz FuzzCapacity -fuzztime 60s

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager and the kubectl plugin into bin/.
	$(GO) build -o $(LOCALBIN)/manager ./cmd/manager
	$(GO) build -o $(LOCALBIN)/kubectl-caseload ./cmd/kubectl-caseload
	@echo "build: bin/manager and bin/kubectl-caseload (put bin/ on your PATH for \`kubectl caseload\`)"

.PHONY: build-installer
build-installer: ## Write dist/install.yaml: the whole operator of config/default (CRDs, RBAC, manager, webhook, certificate, network policies) in one file for kubectl apply.
	@echo "build-installer: kubectl kustomize config/default > dist/install.yaml (kubectl from hack/setup-envtest.sh)"
	@assets=$$($(SETUP_ENVTEST)); mkdir -p dist; "$$assets/kubectl" kustomize config/default > dist/install.yaml.tmp && mv dist/install.yaml.tmp dist/install.yaml
	@echo "build-installer: dist/install.yaml holds $$(grep -c '^kind:' dist/install.yaml) objects; it needs cert-manager and the Prometheus Operator's CRDs (config/default says how to do without)"

# Release builds: what the release workflow (.github/workflows/release.yaml) runs on a tag, and
# what anyone can run offline to get the same artefacts. docs/release.md says what each holds.
VERSION ?= v0.0.0-dev
IMAGE_DIR ?= $(LOCALBIN)/image
DIST_DIR ?= $(LOCALBIN)/dist
# Where the krew manifest says the plugin's archives are (hack/krew/release.sh has a default).
KREW_URI_BASE ?=

.PHONY: plugin-release
plugin-release: ## Build the kubectl plugin's release archives and krew manifest into bin/dist (VERSION=v0.1.0).
	DIST_DIR=$(DIST_DIR) hack/krew/release.sh $(VERSION) $(KREW_URI_BASE)

# The image is built with buildah FROM scratch: no Docker engine, no network, no base image to
# pull (Debian: apt-get install buildah). hack/image/build.sh says how it is kept reproducible.
.PHONY: image
image: ## Build the operator's image (FROM scratch, buildah, offline) for linux/amd64 and linux/arm64 into bin/image: OCI archive, digest, SPDX SBOM; and the plugin's archives into bin/dist (VERSION=v0.1.0).
	IMAGE_DIR=$(IMAGE_DIR) hack/image/build.sh $(VERSION)
	@$(MAKE) --no-print-directory plugin-release

.PHONY: image-reproducible
image-reproducible: ## Build the image twice from this tree and fail unless both builds have the same digest and SBOM.
	@first=$$(mktemp -d); second=$$(mktemp -d); trap 'rm -rf "$$first" "$$second"' EXIT; \
	IMAGE_DIR=$$first hack/image/build.sh $(VERSION) >/dev/null; \
	IMAGE_DIR=$$second hack/image/build.sh $(VERSION) >/dev/null; \
	echo "image-reproducible: first build  $$(cat $$first/digest)"; \
	echo "image-reproducible: second build $$(cat $$second/digest)"; \
	cmp -s $$first/digest $$second/digest || { echo "image-reproducible: the digests differ"; exit 1; }; \
	cmp -s $$first/sbom.spdx.json $$second/sbom.spdx.json || { echo "image-reproducible: the SBOMs differ"; exit 1; }; \
	echo "image-reproducible: the same digest and SBOM twice"

.PHONY: chart-release
chart-release: helm ## Package the chart into bin/dist with its image pinned to the digest make image wrote (VERSION=v0.1.0).
	HELM=$(HELM) IMAGE_DIR=$(IMAGE_DIR) DIST_DIR=$(DIST_DIR) hack/chart/release.sh $(VERSION) $(IMAGE_DIGEST)

# `make run` starts the operator on its own local control plane (kube-apiserver and etcd from
# envtest) with the sample council loaded, and writes $(SANDBOX_KUBECONFIG) for kubectl.
# USE_EXISTING_CLUSTER=true runs it against the cluster of the current kubeconfig instead (the
# kubebuilder convention). SANDBOX_DATA_DIR=bin/sandbox-data keeps etcd's data between runs.
USE_EXISTING_CLUSTER ?= false
SANDBOX_KUBECONFIG ?= bin/sandbox.kubeconfig
SANDBOX_DATA_DIR ?=
SANDBOX_SAMPLES ?= config/samples/council
SANDBOX_LOG ?= bin/sandbox.log

.PHONY: run
run: manifests generate ## Start the operator on a local control plane with a sample council (USE_EXISTING_CLUSTER=true: the current kubeconfig's).
ifeq ($(USE_EXISTING_CLUSTER),true)
	@echo "run: USE_EXISTING_CLUSTER=true: installing the CRDs into the cluster of the current kubeconfig ($$(kubectl config current-context))"
	kubectl apply --server-side -f config/crd/bases
	@echo "run: building the manager into $(LOCALBIN)/manager"
	@$(GO) build -o $(LOCALBIN)/manager ./cmd/manager
	@echo "run: running the manager against the current kubeconfig until Ctrl-C; webhooks are off (the cluster"
	@echo "run: cannot reach them here: deploy the chart for admission). Load the sample with:"
	@echo "run:   kubectl apply -f $(SANDBOX_SAMPLES)"
	@exec $(LOCALBIN)/manager --enable-webhooks=false
else
	@$(MAKE) --no-print-directory sandbox
endif

.PHONY: sandbox
sandbox: ## Start the local control plane, the operator and the sample council (make run, without regenerating).
	@echo "run: [1/3] kube-apiserver and etcd $(ENVTEST_K8S_VERSION) from hack/setup-envtest.sh (a first run may build them: 10 to 13 minutes on 2 cores)"
	@assets=$$($(SETUP_ENVTEST)); \
	echo "run: [2/3] building the sandbox (the operator on a local control plane) into $(LOCALBIN)/sandbox"; \
	$(GO) build -o $(LOCALBIN)/sandbox ./cmd/sandbox; \
	echo "run: [3/3] starting the sandbox: control plane, CRDs, sample council, operator and its TLS webhook; Ctrl-C stops it all"; \
	KUBEBUILDER_ASSETS="$$assets" exec $(LOCALBIN)/sandbox --kubeconfig-out=$(SANDBOX_KUBECONFIG) \
		--data-dir=$(SANDBOX_DATA_DIR) --samples=$(SANDBOX_SAMPLES) --log=$(SANDBOX_LOG)

# `make docs-outputs` keeps the `$ kubectl` outputs (the plugin's and kubectl's) of README.md and docs/plugin.md true:
# it starts what `make run` starts, on the fixed day hack/docs-outputs names, runs every such
# command of the pages in order and writes what it printed under it. CHECK=1 changes nothing and
# fails listing the blocks that differ (hack/docs-outputs' test does the same under make test).
CHECK ?=
DOCS_OUTPUTS_LOG ?= bin/docs-outputs.log

.PHONY: docs-outputs
docs-outputs: ## Regenerate the output of every `$ kubectl` command (the plugin's and kubectl's) in README.md and docs/plugin.md from the sandbox and the sample council on a fixed day (CHECK=1: list the blocks that differ and fail, writing nothing).
	@echo "docs-outputs: [1/3] kube-apiserver and etcd $(ENVTEST_K8S_VERSION) from hack/setup-envtest.sh (a first run may build them: 10 to 13 minutes on 2 cores)"
	@assets=$$($(SETUP_ENVTEST)); \
	echo "docs-outputs: [2/3] building hack/docs-outputs (the sandbox, the plugin and the pages' commands) into $(LOCALBIN)/docs-outputs"; \
	$(GO) build -o $(LOCALBIN)/docs-outputs ./hack/docs-outputs; \
	echo "docs-outputs: [3/3] $(if $(filter-out 0 false,$(CHECK)),checking,regenerating) the outputs of README.md and docs/plugin.md (operator log: $(DOCS_OUTPUTS_LOG))"; \
	KUBEBUILDER_ASSETS="$$assets" $(LOCALBIN)/docs-outputs --log=$(DOCS_OUTPUTS_LOG) $(if $(filter-out 0 false,$(CHECK)),--check)

##@ Helm chart

.PHONY: chart-files
chart-files: ## Copy the generated RBAC rules and webhook configuration, the alerts and the dashboard from config/ into the chart.
	@mkdir -p charts/caseload-operator/files
	cp config/rbac/role.yaml charts/caseload-operator/files/role.yaml
	cp config/webhook/manifests.yaml charts/caseload-operator/files/webhook-manifests.yaml
	cp config/prometheus/alerts.yaml charts/caseload-operator/files/alerts.yaml
	cp config/grafana/caseload-dashboard.json charts/caseload-operator/files/caseload-dashboard.json

.PHONY: helm-lint
helm-lint: helm manifests chart-files ## Lint the chart, with its defaults and with every optional part switched on.
	$(HELM) lint --strict --kube-version $(ENVTEST_K8S_VERSION) charts/caseload-operator
	$(HELM) lint --strict --kube-version $(ENVTEST_K8S_VERSION) charts/caseload-operator \
		--set webhook.certSource=cert-manager,networkPolicy.enabled=true,serviceMonitor.enabled=true,prometheusRule.enabled=true

.PHONY: chart-test
chart-test: helm manifests chart-files ## Render the chart and config/default and dry-run every object on a real kube-apiserver.
	@assets=$$($(SETUP_ENVTEST)); KUBEBUILDER_ASSETS="$$assets" $(GO) test ./test/chart/ -count=1 -v

##@ Deployment

.PHONY: install
install: manifests ## Install the CRDs into the cluster of the current kubeconfig.
	kubectl apply --server-side -f config/crd/bases

.PHONY: uninstall
uninstall: manifests ## Remove the CRDs (and every Team, Practitioner, Case and quota) from the cluster.
	kubectl delete --ignore-not-found -f config/crd/bases

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen into bin/.
$(CONTROLLER_GEN):
	@echo "controller-gen: installing $(CONTROLLER_TOOLS_VERSION) into $(LOCALBIN)"
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)

KUBE_SCORE ?= $(LOCALBIN)/kube-score
KUBE_SCORE_VERSION ?= v1.20.0
.PHONY: kube-score
kube-score: $(KUBE_SCORE) ## Install kube-score into bin/ (built through the Go module proxy).
$(KUBE_SCORE):
	@echo "kube-score: building $(KUBE_SCORE_VERSION) into $(LOCALBIN) (about a minute)"
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) $(GO) install github.com/zegl/kube-score/cmd/kube-score@$(KUBE_SCORE_VERSION)

.PHONY: helm
helm: $(HELM) ## Install helm into bin/ (built through the Go module proxy).
# The -X flags do what helm's own release build does: report its version, and assume the
# Kubernetes version of its client libraries (1.37 for v3.22) when no cluster is asked, instead of
# 1.20, so `helm template` honours the chart's kubeVersion.
HELM_K8S_MINOR ?= $(word 2,$(subst ., ,$(ENVTEST_K8S_VERSION)))
HELM_LDFLAGS = -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$(HELM_K8S_MINOR) \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$(HELM_K8S_MINOR)
$(HELM):
	@echo "helm: building $(HELM_VERSION) into $(LOCALBIN) (about 2 minutes)"
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) $(GO) install -ldflags '$(HELM_LDFLAGS)' helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
