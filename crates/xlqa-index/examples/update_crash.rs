//! The crash test's worker for live updates (driven by
//! `bench/update_crash.py`, which kills it with SIGKILL at random moments):
//!
//! - `update_crash DIR init`: a three-passage index in DIR;
//! - `update_crash DIR run START`: adds document `dSTART`, `dSTART+1`, … one
//!   update each (every third update also deletes the document added two
//!   before), printing `ACK id` / `DEL id` once the update returned;
//! - `update_crash DIR verify ACKS`: opens DIR and checks every line of the
//!   ACKS file: acknowledged documents live (and found by BM25 by their
//!   own word), acknowledged deletions gone; prints `OK n` or the failures.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use xlqa_index::pool::{passage, write_index};
use xlqa_index::{Index, Update};

const DIM: usize = 8;

fn vector(n: u64) -> Vec<f32> {
    let mut v = vec![0.1f32; DIM];
    v[(n % DIM as u64) as usize] = 1.0;
    v
}

/// The word only document `n` contains.
fn word(n: u64) -> String {
    let letters: String = n
        .to_string()
        .bytes()
        .map(|b| (b'a' + (b - b'0')) as char)
        .collect();
    format!("zq{letters}")
}

fn doc(n: u64) -> (xlqa_core::Passage, Vec<f32>) {
    let p = passage(
        &format!("d{n}"),
        "en",
        &format!("Document {n} is about {}.", word(n)),
    );
    (p, vector(n))
}

fn run(dir: &Path, start: u64) -> Result<(), Box<dyn std::error::Error>> {
    let mut ix = Index::open(dir)?;
    let out = std::io::stdout();
    for n in start.. {
        let mut u = Update {
            add: vec![doc(n)],
            delete: vec![],
        };
        if n.is_multiple_of(3) && n >= start + 2 {
            u.delete.push(format!("d{}", n - 2));
        }
        ix.update(&u)?;
        let mut o = out.lock();
        writeln!(o, "ACK d{n}")?;
        for d in &u.delete {
            writeln!(o, "DEL {d}")?;
        }
        o.flush()?;
    }
    Ok(())
}

fn verify(dir: &Path, acks: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let ix = Index::open(dir)?;
    let live: BTreeSet<&str> = (0..ix.store.len() as u32)
        .filter(|&r| ix.is_live(r))
        .filter_map(|r| ix.store.get(r).map(|p| p.doc_id.as_str()))
        .collect();
    let (mut acked, mut deleted) = (BTreeSet::new(), BTreeSet::new());
    for line in std::fs::read_to_string(acks)?.lines() {
        match line.split_once(' ') {
            Some(("ACK", id)) => acked.insert(id.to_string()),
            Some(("DEL", id)) => deleted.insert(id.to_string()),
            _ => continue,
        };
    }
    let mut bad = Vec::new();
    for id in &acked {
        let n: u64 = id[1..].parse()?;
        if deleted.contains(id) {
            if live.contains(id.as_str()) {
                bad.push(format!("{id}: deletion acknowledged, still live"));
            }
            continue;
        }
        if !live.contains(id.as_str()) {
            // the update that adds d(n+2) deletes d(n) when n+2 is a multiple
            // of 3: committed, it may have died before its acknowledgement
            let later = format!("d{}", n + 2);
            if !(n + 2).is_multiple_of(3) || !live.contains(later.as_str()) {
                bad.push(format!("{id}: acknowledged, not live"));
            }
            continue;
        }
        let hits = ix.lexical.search(&[word(n)], 5, &|_| true)?;
        if !hits
            .iter()
            .any(|h| ix.store.get(h.passage).is_some_and(|p| &p.doc_id == id))
        {
            bad.push(format!("{id}: live but BM25 does not find it"));
        }
    }
    let m = &ix.manifest;
    if m.counts.documents != live.len() || m.live_passages() != live.len() {
        bad.push(format!(
            "manifest counts {} documents / {} live passages, the store has {} live",
            m.counts.documents,
            m.live_passages(),
            live.len()
        ));
    }
    if bad.is_empty() {
        println!(
            "OK {} acknowledged, {} live, generation {}",
            acked.len(),
            live.len(),
            m.generation
        );
        Ok(())
    } else {
        Err(bad.join("\n").into())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    let usage = "usage: update_crash DIR init | run START | verify ACKS";
    let dir = Path::new(a.get(1).ok_or(usage)?);
    match a.get(2).map(String::as_str) {
        Some("init") => {
            let ps = vec![passage("base", "en", "The first document.")];
            write_index(dir, &ps, &[vector(0)], DIM, &["en"])?;
            Ok(())
        }
        Some("run") => run(dir, a.get(3).ok_or(usage)?.parse()?),
        Some("verify") => verify(dir, Path::new(a.get(3).ok_or(usage)?)),
        _ => Err(usage.into()),
    }
}
