# AmanCair — the two commands that matter are `make run` and `make test`.
SHELL := /bin/bash
MODULES := pkg services/identity services/device services/contacts services/audit devstack deploy/check
PKGS := $(addprefix ./,$(addsuffix /...,$(MODULES)))
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

.PHONY: run sms test test-race bench deploy-check tools build vet fmt tidy

## run: bring up PostgreSQL, NATS, Vault, the four services and the gateway on :8000
run: tools
	@scripts/postgres.sh
	go run ./devstack/cmd/devstack

## sms: print the SMS messages (login codes) the local stack would send
sms:
	go run ./devstack/cmd/smsgateway

## test: every test of every module, against real servers
test:
	scripts/test.sh

## test-race: the same tests with the race detector (needs gcc)
test-race:
	scripts/postgres.sh && scripts/tools.sh && scripts/deploy-tools.sh
	go test -race -count=1 -timeout 30m $(PKGS)

## bench: vegeta load through the gateway; prints throughput and latency per endpoint
bench: tools
	@scripts/postgres.sh
	go run ./devstack/cmd/bench

## deploy-check: chart, compose, skaffold, Dockerfile and gateway-route checks
deploy-check:
	scripts/deploy-tools.sh && scripts/tools.sh caddy
	go test -count=1 ./deploy/check/...

## tools: build the pinned nats-server, caddy and vault into bin/ (first Vault build ~6-10 min)
tools:
	scripts/tools.sh

## build: the four service binaries into bin/, version-stamped
build:
	go build -trimpath -ldflags "-s -w -X amancair.dev/pkg/platform.Version=$(VERSION)" -o bin/ \
		./services/identity/cmd/identity ./services/device/cmd/device \
		./services/contacts/cmd/contacts ./services/audit/cmd/audit

vet:
	go vet $(PKGS)

fmt:
	gofmt -w $(MODULES)

tidy:
	for m in $(MODULES); do (cd $$m && go mod tidy); done
