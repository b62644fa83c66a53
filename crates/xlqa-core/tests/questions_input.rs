//! Bad `xlqa ask --questions FILE` input, table-driven: every problem is
//! an error that names the file, the line (0: the file as a whole) and
//! what is wrong; with `skip_invalid` the bad lines are counted instead
//! and the good ones kept.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use xlqa_core::{read_questions, ReadOptions};

/// A questions file with `content`, removed on drop.
struct File(PathBuf);

impl File {
    fn new(content: &[u8]) -> File {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "xlqa-questions-{}-{}.jsonl",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&p, content).unwrap();
        File(p)
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const STRICT: ReadOptions = ReadOptions {
    skip_invalid: false,
};
const SKIP: ReadOptions = ReadOptions { skip_invalid: true };

#[test]
fn each_bad_input_names_file_line_and_problem() {
    // (case, file content, line of the error, what the problem says)
    let table: &[(&str, &[u8], usize, &str)] = &[
        (
            "malformed JSON line",
            b"{\"id\":\"a\",\"question\":\"Who?\"}\n{\"id\":\"b\",\"question\":\n",
            2,
            "malformed JSON",
        ),
        (
            "missing question field",
            b"{\"id\":\"a\",\"lang\":\"en\"}\n",
            1,
            "missing field \"question\"",
        ),
        (
            "empty question",
            b"{\"id\":\"a\",\"question\":\"Who?\"}\n\n{\"id\":\"b\",\"question\":\"  \"}\n",
            3, // the blank line 2 is skipped but still counted
            "field \"question\" is empty",
        ),
        (
            "question of the wrong type",
            b"{\"id\":\"a\",\"question\":[\"Who?\"]}\n",
            1,
            "field \"question\" must be a string, found an array",
        ),
        (
            "malformed lang code",
            b"{\"id\":\"a\",\"question\":\"Who?\",\"lang\":\"klingon\"}\n",
            1,
            "field \"lang\": 'klingon' is not a language code",
        ),
        (
            "unknown two-letter lang code",
            b"{\"id\":\"a\",\"question\":\"Who?\",\"lang\":\"xx\"}\n",
            1,
            "field \"lang\": 'xx' is not an ISO 639-1 language code",
        ),
        ("empty file", b"", 0, "no questions in the file"),
        ("only blank lines", b"\n   \n\r\n", 0, "no questions in the file"),
        (
            "duplicate ids",
            b"{\"id\":\"a\",\"question\":\"Who?\"}\n{\"id\":\"b\",\"question\":\"What?\"}\n{\"id\":\"a\",\"question\":\"When?\"}\n",
            3,
            "duplicate question id \"a\" (first on line 1)",
        ),
        (
            // a plain line's id is q + its line number
            "a JSON id equal to a plain line's id",
            b"Who wrote Faust?\n{\"id\":\"q1\",\"question\":\"When?\"}\n",
            2,
            "duplicate question id \"q1\" (first on line 1)",
        ),
        (
            "invalid UTF-8",
            b"Who?\n\xff\xfe?\n",
            2,
            "invalid UTF-8 at byte 0 of the line",
        ),
    ];
    for (case, content, line, problem) in table {
        let f = File::new(content);
        let e = read_questions(&f.0, &STRICT)
            .err()
            .unwrap_or_else(|| panic!("{case}: accepted"));
        assert_eq!(e.file, f.0, "{case}");
        assert_eq!(e.line, *line, "{case}: {e}");
        assert!(e.problem.contains(problem), "{case}: {e}");
        // the message a user sees: FILE:LINE: PROBLEM
        let shown = e.to_string();
        let head = format!("{}:{line}: ", f.0.display());
        assert!(shown.starts_with(&head), "{case}: {shown}");
    }
    // a file that is not there
    let missing = std::env::temp_dir().join("xlqa-questions-no-such-file.jsonl");
    let e = read_questions(&missing, &STRICT).unwrap_err();
    assert_eq!((e.file.as_path(), e.line), (missing.as_path(), 0));
    assert!(e.problem.starts_with("cannot open"), "{e}");
}

#[test]
fn good_lines_are_read_as_given() {
    // the counterpart of the table: nothing above fails for the wrong reason
    let f = File::new(
        "{\"id\":\"a\",\"question\":\"Who?\",\"lang\":\"EN\"}\n\nWer schrieb Faust?\n{\"qid\":7,\"query\":\"谁？\",\"language\":\"zh-Hant\"}\n".as_bytes(),
    );
    let (qs, rep) = read_questions(&f.0, &STRICT).unwrap();
    let got: Vec<(&str, &str, Option<&str>)> = qs
        .iter()
        .map(|q| {
            (
                q.id.as_str(),
                q.question.as_str(),
                q.lang.as_ref().map(|l| l.as_str()),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("a", "Who?", Some("en")),
            ("q3", "Wer schrieb Faust?", None), // plain line 3
            ("7", "谁？", Some("zh-Hant")),
        ]
    );
    assert_eq!((rep.read, rep.skipped), (3, 0));
}

#[test]
fn skip_invalid_counts_the_bad_lines_and_keeps_the_good_ones() {
    let content = [
        "{\"id\":\"a\",\"question\":\"Who?\"}",   // 1 ok
        "{\"id\":\"b\",\"question\":",            // 2 malformed
        "",                                       // 3 blank: ignored, not counted
        "{\"id\":\"c\",\"lang\":\"en\"}",         // 4 no question
        "{\"id\":\"d\",\"question\":\"What?\"}",  // 5 ok
        "{\"id\":\"a\",\"question\":\"Again?\"}", // 6 duplicate of line 1
        "{\"id\":\"e\",\"question\":\"Where?\",\"lang\":\"klingon\"}", // 7 bad lang
        "Wann?",                                  // 8 ok, id q8
        "{\"id\":\"f\",\"question\":\"\"}",       // 9 empty
    ]
    .join("\n");
    let f = File::new(content.as_bytes());
    // strict: the first problem stops the read
    assert_eq!(read_questions(&f.0, &STRICT).unwrap_err().line, 2);
    let (qs, rep) = read_questions(&f.0, &SKIP).unwrap();
    let ids: Vec<&str> = qs.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(ids, ["a", "d", "q8"]);
    // the first "a" is kept, the duplicate skipped
    assert_eq!(qs[0].question, "Who?");
    // 9 lines: 3 read, 5 skipped, 1 blank
    assert_eq!((rep.read, rep.skipped), (3, 5));
    let lines: Vec<usize> = rep.examples.iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 4, 6, 7, 9]);
    assert!(rep.examples.iter().all(|e| e.file == f.0));
    assert!(rep.examples[2]
        .problem
        .contains("duplicate question id \"a\""));

    // every line bad: skipping leaves nothing, which is still an error
    let f = File::new(b"{\"id\":\"x\"}\n{oops\n");
    let e = read_questions(&f.0, &SKIP).unwrap_err();
    assert_eq!(e.line, 0);
    assert!(e.problem.contains("no questions in the file"), "{e}");

    // 25 bad lines: all counted, the first 20 kept as examples
    let mut many = "{\"id\":\"ok\",\"question\":\"Who?\"}\n".to_string();
    many += &"{bad\n".repeat(25);
    let f = File::new(many.as_bytes());
    let (qs, rep) = read_questions(&f.0, &SKIP).unwrap();
    assert_eq!((qs.len(), rep.read, rep.skipped), (1, 1, 25));
    assert_eq!(rep.examples.len(), 20);
    assert_eq!(rep.examples[0].line, 2);
    assert_eq!(rep.examples[19].line, 21);
}

#[test]
fn document_bodies_are_all_or_nothing_with_every_problem_listed() {
    let ok = xlqa_core::parse_documents(
        "{\"id\":\"a\",\"text\":\"Alpha.\"}\n\n{\"_id\":\"b\",\"title\":\"B\",\"text\":\"Beta.\",\"lang\":\"de\"}\n",
    )
    .unwrap();
    assert_eq!(ok.len(), 2);
    assert_eq!(ok[1].lang.as_ref().unwrap().as_str(), "de");
    let arr =
        xlqa_core::parse_documents(r#"[{"id":"a","text":"Alpha."},{"id":"b","text":"Beta."}]"#)
            .unwrap();
    assert_eq!(arr.len(), 2);
    let bad = xlqa_core::parse_documents(
        "{\"id\":\"a\",\"text\":\"Alpha.\"}\n{\"id\":\"b\"}\n{\"id\":\"a\",\"text\":\"Again.\"}\nnot json\n{\"id\":\"c\",\"text\":\"C\",\"lang\":\"xx\"}\n",
    )
    .unwrap_err();
    let lines: Vec<usize> = bad.iter().map(|(n, _)| *n).collect();
    assert_eq!(lines, vec![2, 3, 4, 5], "{bad:?}");
    assert!(bad[0].1.contains("missing field \"text\""));
    assert!(bad[1].1.contains("duplicate document id \"a\""));
    assert!(bad[2].1.contains("malformed JSON"));
    assert!(bad[3].1.contains("lang"));
    let e = xlqa_core::parse_documents("[{\"id\":1,\"text\":\"x\"}, 5]").unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0, 2);
    assert!(xlqa_core::parse_documents("  \n").is_err());
    assert!(xlqa_core::parse_documents("[1,").is_err());
}
