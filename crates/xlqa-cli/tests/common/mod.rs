//! Helpers shared by the end-to-end tests of the `xlqa` binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs the built `xlqa` with `args`.
pub fn xlqa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xlqa"))
        .args(args)
        .output()
        .expect("run xlqa")
}

/// Runs `xlqa`, asserts success and returns stdout.
pub fn ok(args: &[&str]) -> String {
    let o = xlqa(args);
    assert!(
        o.status.success(),
        "xlqa {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Runs `xlqa`, asserts failure and returns stderr.
pub fn err(args: &[&str]) -> String {
    let o = xlqa(args);
    assert!(!o.status.success(), "xlqa {args:?} should have failed");
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The shared data folder ($XLQA_DATA or ../shared/data next to the
/// workspace) when it holds `marker`; else prints a SKIP line and gives None.
pub fn shared_data(marker: &str) -> Option<PathBuf> {
    xlqa_core::testdata::shared_or_skip("xlqa-cli test", marker)
}
