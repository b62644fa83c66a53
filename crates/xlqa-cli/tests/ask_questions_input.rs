//! `xlqa ask --questions FILE` on a bad file, through the binary: the
//! questions are read before the index is opened, so this needs neither an
//! index nor a model (the library-level table of cases is
//! crates/xlqa-core/tests/questions_input.rs).

mod common;

#[test]
fn a_bad_questions_file_fails_naming_file_line_and_problem() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("questions.jsonl");
    std::fs::write(
        &f,
        "{\"id\":\"a\",\"question\":\"Who?\"}\n{\"id\":\"b\",\"question\":\n{\"id\":\"a\",\"question\":\"Again?\"}\nWann?\n",
    )
    .unwrap();
    let fs = f.to_str().unwrap();
    // the index does not exist: the run must stop at the questions first
    let index = dir.path().join("no-index");
    let index = index.to_str().unwrap();

    let o = common::xlqa(&["ask", index, "--questions", fs]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: {fs}:2: malformed JSON")),
        "{stderr}"
    );
    assert!(o.stdout.is_empty());

    // --skip-invalid: lines 2 (malformed) and 3 (duplicate id "a") are
    // counted, then the run goes on to the index (which fails here; an
    // empty model home with an unreachable model index keeps it from
    // installing anything)
    let home = dir.path().join("home");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_xlqa"))
        .args(["ask", index, "--questions", fs, "--skip-invalid"])
        .env("XLQA_HOME", &home)
        .env("XLQA_PYPI_INDEX", "file:///nonexistent-xlqa-index")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!("skipped 2 invalid lines of {fs}\n")),
        "{stderr}"
    );
    assert!(!stderr.contains(&format!("{fs}:")), "{stderr}");
}
