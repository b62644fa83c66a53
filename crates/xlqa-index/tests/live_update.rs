//! Live updates of a built index (update.rs): adds, replacements and
//! deletes are visible at once and after reopening; what an interrupted
//! update leaves behind is ignored, then cut; a crash between tantivy's
//! commit and the manifest's rename is rolled forward; stale handles and
//! concurrent writers are refused.

use std::path::Path;

use xlqa_index::pool::{passage, write_index};
use xlqa_index::{Index, Update, DENSE_FILE, MANIFEST_FILE, PASSAGES_FILE};

const DIM: usize = 4;

fn unit(i: usize) -> Vec<f32> {
    let mut v = vec![0.0; DIM];
    v[i % DIM] = 1.0;
    v
}

fn base(dir: &Path) -> Index {
    let ps = vec![
        passage("tower", "en", "The old tower is 84 metres high."),
        passage("bridge", "en", "The harbour bridge opened in 1932."),
        passage("turm", "de", "Der alte Turm ist 84 Meter hoch."),
    ];
    let vs: Vec<Vec<f32>> = (0..3).map(unit).collect();
    write_index(dir, &ps, &vs, DIM, &["en", "de"]).unwrap();
    Index::open(dir).unwrap()
}

/// BM25 rows for `word` analyzed as English.
fn bm25(ix: &Index, word: &str) -> Vec<u32> {
    let en = xlqa_core::Lang::parse("en").unwrap();
    let terms: Vec<String> = xlqa_text::analyze::Analyzer::for_lang(&en)
        .analyze(word)
        .into_iter()
        .map(|t| t.text)
        .collect();
    ix.lexical
        .search(&terms, 10, &|_| true)
        .unwrap()
        .into_iter()
        .map(|h| h.passage)
        .collect()
}

fn live_docs(ix: &Index) -> Vec<String> {
    let mut d: Vec<String> = (0..ix.store.len() as u32)
        .filter(|&r| ix.is_live(r))
        .map(|r| ix.store.get(r).unwrap().doc_id.clone())
        .collect();
    d.sort();
    d
}

#[test]
fn adds_replacements_and_deletes_are_visible_now_and_after_reopening() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut ix = base(&dir);
    let r = ix
        .update(&Update {
            add: vec![
                (
                    passage("lake", "en", "The blue lake freezes every winter."),
                    unit(3),
                ),
                (
                    passage("tower", "en", "The old tower is 85 metres high since 2020."),
                    unit(0),
                ),
            ],
            delete: vec!["bridge".into(), "nowhere".into()],
        })
        .unwrap();
    assert_eq!(r.generation, 1);
    assert_eq!((r.added_documents, r.added_passages), (2, 2));
    assert_eq!((r.replaced_documents, r.deleted_documents), (1, 1));
    assert_eq!(r.not_found, vec!["nowhere".to_string()]);
    for ix in [&ix, &Index::open(&dir).unwrap()] {
        assert_eq!(live_docs(ix), vec!["lake", "tower", "turm"]);
        assert_eq!(ix.manifest.counts.documents, 3);
        assert_eq!(ix.manifest.live_passages(), 3);
        assert_eq!(ix.manifest.counts.passages_by_lang["en"], 2);
        assert_eq!(ix.manifest.deleted_rows, vec![0, 1]);
        assert_eq!(bm25(ix, "freezes"), vec![3]);
        assert_eq!(bm25(ix, "harbour"), Vec::<u32>::new(), "deleted from BM25");
        assert_eq!(
            bm25(ix, "2020"),
            vec![4],
            "the replacement, not the old row"
        );
        let d = ix.dense.search(&unit(3), 1, &|r| ix.is_live(r as u32));
        assert_eq!(d[0].passage, 3);
        assert_eq!(ix.dense.len(), 5);
    }
}

#[test]
fn leftovers_of_an_interrupted_update_are_ignored_then_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    drop(base(&dir));
    // a crash after the appends, before tantivy's commit
    for (f, junk) in [
        (PASSAGES_FILE, &b"{\"id\":\"half"[..]),
        (DENSE_FILE, &[7u8; 9][..]),
    ] {
        let mut bytes = std::fs::read(dir.join(f)).unwrap();
        bytes.extend_from_slice(junk);
        std::fs::write(dir.join(f), bytes).unwrap();
    }
    let mut ix = Index::open(&dir).unwrap();
    assert_eq!(ix.store.len(), 3);
    ix.update(&Update {
        add: vec![(passage("lake", "en", "The blue lake."), unit(3))],
        delete: vec![],
    })
    .unwrap();
    let ix = Index::open(&dir).unwrap();
    assert_eq!(ix.store.len(), 4);
    assert_eq!(ix.store.get(3).unwrap().doc_id, "lake");
    assert_eq!(
        std::fs::metadata(dir.join(DENSE_FILE)).unwrap().len(),
        (4 * DIM * 4) as u64,
        "the junk was cut"
    );
    assert_eq!(ix.dense.vector(3).unwrap(), unit(3));
}

#[test]
fn a_crash_between_tantivys_commit_and_the_manifest_is_rolled_forward() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let ix = base(&dir);
    let before = std::fs::read(dir.join(MANIFEST_FILE)).unwrap();
    let c = ix
        .commit_update(&Update {
            add: vec![(passage("lake", "en", "The blue lake freezes."), unit(3))],
            delete: vec!["bridge".into()],
        })
        .unwrap();
    drop(c);
    drop(ix);
    // as if the process died before the rename
    std::fs::write(dir.join(MANIFEST_FILE), before).unwrap();
    let ix = Index::open(&dir).unwrap();
    assert_eq!(ix.manifest.generation, 1);
    assert_eq!(live_docs(&ix), vec!["lake", "tower", "turm"]);
    assert_eq!(bm25(&ix, "freezes"), vec![3]);
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(MANIFEST_FILE)).unwrap()).unwrap();
    assert_eq!(on_disk["generation"], 1, "the manifest was written again");
}

#[test]
fn stale_handles_and_concurrent_writers_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut a = base(&dir);
    let mut b = Index::open(&dir).unwrap();
    let add = |doc: &str| Update {
        add: vec![(passage(doc, "en", "Some text about a lake."), unit(1))],
        delete: vec![],
    };
    a.update(&add("one")).unwrap();
    let e = b.update(&add("two")).unwrap_err().to_string();
    assert!(e.contains("changed on disk since it was opened"), "{e}");
    let lock = std::fs::File::create(dir.join(xlqa_index::update::LOCK_FILE)).unwrap();
    lock.try_lock().unwrap();
    let e = a.update(&add("three")).unwrap_err().to_string();
    assert!(e.contains("being updated by another process"), "{e}");
    lock.unlock().unwrap();
    a.update(&add("three")).unwrap();
    assert_eq!(Index::open(&dir).unwrap().manifest.generation, 2);
}

#[test]
fn a_language_without_a_lexical_field_is_added_for_dense_retrieval_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut ix = base(&dir);
    let r = ix
        .update(&Update {
            add: vec![(
                passage("ziwa", "sw", "Ziwa la buluu huganda kila baridi."),
                unit(2),
            )],
            delete: vec![],
        })
        .unwrap();
    assert_eq!(r.lexical_skipped.get("sw"), Some(&1));
    assert!(bm25(&ix, "ziwa").is_empty());
    assert!(ix.is_live(3));
    assert_eq!(ix.manifest.added_by_lang.get("sw"), Some(&1));
}

#[test]
fn a_handle_on_an_index_rebuilt_since_it_was_opened_refuses_to_write() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let mut stale = base(&dir);
    // a rebuild of the same folder (as `xlqa index --force` swaps it in)
    let fresh = tmp.path().join("fresh");
    let ps = vec![passage("only", "en", "A rebuilt index with one document.")];
    write_index(&fresh, &ps, &[unit(0)], DIM, &["en"]).unwrap();
    std::fs::rename(&dir, tmp.path().join("old")).unwrap();
    std::fs::rename(&fresh, &dir).unwrap();
    let e = stale
        .update(&Update {
            add: vec![(passage("lake", "en", "The blue lake."), unit(3))],
            delete: vec![],
        })
        .unwrap_err();
    assert!(matches!(e, xlqa_index::IndexError::Conflict(_)), "{e}");
    assert!(e.to_string().contains("rebuilt since it was opened"), "{e}");
    let now = Index::open(&dir).unwrap();
    assert_eq!(now.store.len(), 1, "the rebuilt index is untouched");
    assert_eq!(now.manifest.generation, 0);
}
