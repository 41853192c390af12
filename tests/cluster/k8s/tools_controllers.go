//go:build tools

// The control plane's controllers this module builds (tests/cluster/build.sh): the controller
// manager (Deployments get ReplicaSets and pods) and the scheduler (pods get a node).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
