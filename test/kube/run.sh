#!/usr/bin/env bash
# Runs the Kubernetes suite: Hedge against real control planes (kube-apiserver
# with embedded etcd, kube-controller-manager, kube-scheduler, all in-process
# from k8s.io/kubernetes) with KWOK as the kubelet of fake nodes. No download
# at test time beyond Go modules; keep the Go build cache warm between runs
# (a cold build takes 10-20 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")"

# KWOK is built from its own module, with its own Kubernetes libraries.
KWOK_VERSION=v0.8.0
gobin="$(go env GOPATH)/bin"
if [ ! -x "$gobin/kwok" ] || ! "$gobin/kwok" --version 2>/dev/null | grep -q "$KWOK_VERSION"; then
	GOFLAGS=-buildvcs=false GOBIN="$gobin" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
fi
export HEDGE_KWOK="$gobin/kwok"
export HEDGE_KWOK_STAGES="$PWD/testdata/kwok-stages.yaml"

# Charts may declare a kubeVersion: the test API servers must report a real
# version, not the v0.0.0-master of an unstamped build.
v=v1.37.2
ldflags="-X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"
ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$v -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=37"

# -mod=mod: this module follows the main one (replace ../..), so a
# dependency the main module gains is picked up here without a tidy.
go test -mod=mod -vet=off -ldflags "$ldflags" -count=1 -timeout 40m "$@" ./...
