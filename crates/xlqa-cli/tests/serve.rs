//! `xlqa serve` as a process on a real socket: the same answers as
//! `xlqa ask --json`, no serving beyond loopback without a key, and SIGTERM
//! letting a request in flight finish before the server exits.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

fn demo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../data/demo/{name}"))
}

/// A served index: the process and its address.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `xlqa serve IDX --addr 127.0.0.1:0 EXTRA` and waits for its address.
fn start(idx: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xlqa"))
        .args(["serve", idx.to_str().unwrap(), "--addr", "127.0.0.1:0"])
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start xlqa serve");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("xlqa serve ended before it listened")
            .unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split('/').next().unwrap().parse().unwrap();
        }
    };
    // keep draining stderr so the server never blocks on a full pipe
    std::thread::spawn(move || for _ in lines {});
    Server { child, addr }
}

/// One HTTP/1.1 exchange; returns the status and the body.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

fn untimed(mut v: serde_json::Value) -> serde_json::Value {
    v.as_object_mut().unwrap().remove("timings");
    v
}

#[test]
fn the_server_answers_as_the_cli_and_drains_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = tmp.path().join("idx");
    let coll = demo("collection.jsonl");
    common::ok(&[
        "index",
        coll.to_str().unwrap(),
        "--out",
        idx.to_str().unwrap(),
        "--quiet",
    ]);
    let qfile = demo("questions.jsonl");
    let cli = common::ok(&[
        "ask",
        idx.to_str().unwrap(),
        "--questions",
        qfile.to_str().unwrap(),
        "--json",
    ]);

    let mut server = start(&idx, &[]);
    let questions = std::fs::read_to_string(&qfile).unwrap();
    for (line, want) in questions.lines().zip(cli.lines()) {
        let (status, body) = http(server.addr, "POST", "/v1/ask", line);
        assert_eq!(status, 200, "{body}");
        let got: serde_json::Value = serde_json::from_str(&body).unwrap();
        let want: serde_json::Value = serde_json::from_str(want).unwrap();
        assert_eq!(untimed(got), untimed(want), "{line}");
    }

    // a batch of every question is in flight when SIGTERM comes
    let batch = format!(
        "{{\"questions\": [{}]}}",
        questions.lines().collect::<Vec<_>>().join(",")
    );
    let addr = server.addr;
    let client = std::thread::spawn(move || http(addr, "POST", "/v1/ask/batch", &batch));
    std::thread::sleep(Duration::from_millis(300));
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let (status, body) = client.join().unwrap();
    assert_eq!(status, 200, "the request in flight finishes: {body}");
    let n = serde_json::from_str::<serde_json::Value>(&body).unwrap()["results"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(n, questions.lines().count());
    let t = Instant::now();
    loop {
        if let Some(code) = server.child.try_wait().unwrap() {
            assert!(code.success(), "exit after SIGTERM: {code}");
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the server did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        TcpStream::connect(addr).is_err(),
        "nothing listens after the drain"
    );
}

#[test]
fn binding_beyond_loopback_needs_a_key() {
    let e = common::err(&["serve", "/nonexistent-index", "--addr", "0.0.0.0:0"]);
    assert!(
        e.contains("would expose the API beyond this machine without a key"),
        "{e}"
    );
    assert!(e.contains("--api-key"), "{e}");
}

#[test]
fn add_and_delete_change_an_index_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = tmp.path().join("idx");
    let coll = demo("collection.jsonl");
    let i = idx.to_str().unwrap();
    common::ok(&["index", coll.to_str().unwrap(), "--out", i, "--quiet"]);
    let docs = tmp.path().join("new.jsonl");
    std::fs::write(
        &docs,
        "{\"id\":\"lake-en\",\"title\":\"Lake Zirbel\",\"text\":\"Lake Zirbel lies at 2,114 metres in the Alps. It freezes every winter for five months and is known for its clear water.\"}\n",
    )
    .unwrap();
    let out = common::ok(&["add", i, docs.to_str().unwrap(), "--json"]);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (r["added_documents"].as_u64(), r["generation"].as_u64()),
        (Some(1), Some(1))
    );
    let ask = |q: &str| -> serde_json::Value {
        let o = common::ok(&[
            "ask",
            i,
            q,
            "--retriever",
            "bm25",
            "--reader",
            "none",
            "--json",
            "-k",
            "1",
        ]);
        serde_json::from_str(o.trim()).unwrap()
    };
    assert_eq!(
        ask("Where does Lake Zirbel lie?")["passages"][0]["doc_id"],
        "lake-en"
    );
    let out = common::ok(&["delete", i, "lake-en"]);
    assert!(out.contains("deleted 1; index generation 2"), "{out}");
    assert_ne!(
        ask("Where does Lake Zirbel lie?")["passages"][0]["doc_id"],
        "lake-en"
    );
    let e = common::err(&["delete", i, "lake-en"]);
    assert!(
        e.contains("none of the ids is in the index: lake-en"),
        "{e}"
    );
    let short = tmp.path().join("short.jsonl");
    std::fs::write(
        &short,
        "{\"id\":\"s\",\"text\":\"Too short.\",\"lang\":\"en\"}\n",
    )
    .unwrap();
    let e = common::err(&["add", i, short.to_str().unwrap()]);
    assert!(
        e.contains("too short to index") && e.contains("nothing was changed"),
        "{e}"
    );
}
