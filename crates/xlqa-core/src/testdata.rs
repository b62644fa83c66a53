//! The shared data folder for tests and benchmarks (`../shared/data`).
//!
//! Every test that reads real data asks [`shared_or_skip`] for the file or
//! folder it needs. When it is missing, the test is skipped with a line
//! that names the test and the path — unless `XLQA_REQUIRE_DATA=1` (set by
//! `.ci/run`), where a missing file fails the test: CI cannot pass by
//! skipping.

use std::path::{Path, PathBuf};

/// Set to `1` to make a missing data file a test failure.
pub const REQUIRE_ENV: &str = "XLQA_REQUIRE_DATA";

/// `$XLQA_DATA`, else `../shared/data` beside the workspace.
pub fn shared_data_root() -> PathBuf {
    match std::env::var_os("XLQA_DATA").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    }
}

/// Whether missing data fails tests (`XLQA_REQUIRE_DATA=1`).
pub fn data_required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// The shared data folder when it holds `rel` (a file or folder under it).
/// Otherwise `None` after a SKIP line naming `test` and the path, or a
/// panic (a test failure) when data is required.
pub fn shared_or_skip(test: &str, rel: &str) -> Option<PathBuf> {
    let root = shared_data_root();
    let path = root.join(rel);
    if path.exists() {
        return Some(root);
    }
    let msg = format!(
        "{test}: {} is missing (set XLQA_DATA to the shared data folder)",
        path.display()
    );
    assert!(
        !data_required(),
        "{msg}; {REQUIRE_ENV}=1 makes missing data a failure"
    );
    eprintln!("SKIP {msg}");
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_data_skips_or_fails_by_the_variable() {
        // one test touches the variable, so no other test of this crate races it
        std::env::remove_var(REQUIRE_ENV);
        assert!(shared_or_skip("t", "no/such/file-xyz").is_none());
        std::env::set_var(REQUIRE_ENV, "1");
        let r = std::panic::catch_unwind(|| shared_or_skip("t", "no/such/file-xyz"));
        std::env::remove_var(REQUIRE_ENV);
        assert!(r.is_err(), "required data that is missing must fail");
    }
}
