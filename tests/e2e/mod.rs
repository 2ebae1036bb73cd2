//! Tests against a real kube-apiserver (with etcd and the controller manager; no kubelet) that
//! scripts/test.sh starts: two of them, one the tests install the addon CRDs into and a bare one
//! that never gets them. Each test owns a site with its own namespace, through the harness in
//! tests/common/e2e.rs, and kubectl checks what openlsp did.

mod addons;
mod apply;
mod connection;
mod controller;
mod crds;
mod lock;
mod masking;
mod secrets;
mod state_safety;
mod status;
mod terminal;
