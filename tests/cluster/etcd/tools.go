//go:build tools

// Package tools pins the etcd command this module builds (tests/cluster/build.sh).
package tools

import _ "go.etcd.io/etcd/server/v3"
