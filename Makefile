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

.PHONY: fmt
fmt: ## Run go fmt.
	$(GO) fmt ./...

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: verify
verify: manifests generate ## Fail when generated files differ from what is committed.
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

.PHONY: bench
bench: ## Run the benchmarks (figures are recorded in docs/benchmarks.md).
	$(GO) test ./... -run '^$$' -bench . -benchmem -count 5

.PHONY: fuzz
fuzz: ## Fuzz the policy engine for a minute per target.
	$(GO) test ./internal/policy -run '^$$' -fuzz FuzzCaseWeight -fuzztime 60s
	$(GO) test ./internal/policy -run '^$$' -fuzz FuzzCapacity -fuzztime 60s

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager and the kubectl plugin into bin/.
	$(GO) build -o $(LOCALBIN)/manager ./cmd/manager

.PHONY: run
run: manifests generate ## Start the operator on a local control plane with a sample council.
	@assets=$$($(SETUP_ENVTEST)); KUBEBUILDER_ASSETS="$$assets" $(GO) run ./cmd/manager

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

.PHONY: helm
helm: $(HELM) ## Install helm into bin/ (built through the Go module proxy).
$(HELM):
	@echo "helm: building $(HELM_VERSION) into $(LOCALBIN) (about 2 minutes)"
	@mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
