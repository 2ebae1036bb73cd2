//! The one integration-test binary. Each module tests a feature through the real `openlsp`
//! executable; the modules under e2e/ run it against a real API server. A test that needs a real
//! daemon or server skips with `SKIP <test>: <reason>`, counted by scripts/test.sh, unless
//! OPENLSP_TEST_REQUIRE_ALL=1 (set by scripts/test.sh) turns the skip into a failure. The addon
//! CRDs are the exception: they come from outside the project, so without them those tests skip
//! even then (and are counted).

#[macro_use]
mod common;

mod apps;
mod architecture;
mod backup;
mod bitcoind;
mod bootstrap;
mod bootstrap_ssh;
mod btcd;
mod btcpay;
mod cli;
mod cln;
mod cln_exporter;
mod connection_errors;
mod e2e;
mod init;
mod monitoring;
mod network_policy;
mod networking;
mod profile_errors;
mod render;
mod schema;
mod secrets;
mod tls;
mod tor;
mod tunnel;
