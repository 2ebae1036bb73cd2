//! The one integration-test binary. Each module tests a feature through the real `openlsp`
//! executable. Tests that need a real daemon skip with a printed reason, unless
//! OPENLSP_TEST_REQUIRE_ALL=1 (set by scripts/test.sh), which turns a skip into a failure. The
//! addon CRDs are the exception: they come from outside the project, so without them those tests
//! skip even then.

mod common;

mod bitcoind;
mod cli;
mod cluster;
mod init;
mod lifecycle;
mod profile_errors;
mod render;
mod secrets;
mod stack;
mod tls;
