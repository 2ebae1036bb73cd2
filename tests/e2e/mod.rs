//! Tests against a real kube-apiserver (with etcd and the controller manager) that
//! scripts/test.sh starts: two of them, one the tests install the addon CRDs into and a bare one
//! that never gets them. Each test owns a site with its own namespace, through the harness in
//! tests/common/e2e.rs, and kubectl checks what openlsp did. The first server has a real node
//! (docs/testing.md): the tests in pods.rs run their sites' pods on it (tests/common/node.rs);
//! the others place their sites on machines the cluster does not have, and play the kubelet
//! where they need a pod ready. The fault-injection tests (faults.rs) start a control plane of
//! their own instead, since they kill and stop its API server.

mod addons;
mod apply;
mod apps;
mod backup;
mod bootstrap;
mod btcd;
mod btcpay;
mod cln;
mod cln_exporter;
mod cln_tunnel;
mod connection;
mod controller;
mod crds;
mod faults;
mod lock;
mod masking;
mod network_policy;
mod pods;
mod secrets;
mod state_safety;
mod status;
mod terminal;
mod utxo_snapshot;
