//! Any bytes as a profile: `validate` must answer without panicking, and every diagnostic must
//! be short and carry a hint (openlsp::fuzzing::check_profile asserts both). Seeds: the example
//! profiles and the bad-profile corpus of tests/profile_errors.rs (fuzz/corpus/profile).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = openlsp::fuzzing::check_profile(data);
});
