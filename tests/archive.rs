//! Signed archives seen from outside: intact archives verify and chain; every byte of an
//! archive matters; records, manifests and archives that were dropped, duplicated, reordered,
//! swapped or left out are reported precisely, and so are a damaged entry and an altered
//! reference; keys, anchors, archive records and receipt codes are checked; an archive verifies
//! with nothing but `pos-journal`.

mod common;

use common::*;
use pos_core::archive::{
    export_archive, verify_archives, ArchiveError, ArchiveInput, ArchiveSelection, Manifest,
};
use pos_core::body::{ArchiveBody, Body};
use pos_core::closure::Period;
use pos_core::keys::Signer;
use pos_core::prelude::*;
use pos_core::verify::FindingSink;
use pos_workspace::ManualClock;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// A journal of three small closed months (March, April, May 2026) and their archives.
struct Shop {
    dir: tempfile::TempDir,
    db: PathBuf,
    /// The archives of March, April and May, written with the library.
    months: [PathBuf; 3],
    manifests: [Manifest; 3],
    /// A receipt code of the April sale and its total.
    receipt: String,
}

/// Days after 2026-03-02 08:00 Paris, plus hours.
fn at(days: i64, hours: i64) -> i64 {
    T0_MS + days * DAY + hours * HOUR
}

fn shop() -> Shop {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("journal.db");
    let clock = Arc::new(ManualClock::new(at(0, 0)));
    let journal =
        Journal::create(&db, journal_key(), sample_opening(), manual_options(&clock)).unwrap();
    // March: a sale on the 2nd, another on the 31st; the month is closed that evening.
    let first = journal.sale(&simple_sale("PAIN", 2, 130, 550)).unwrap();
    clock.set(at(29, 2));
    journal.sale(&simple_sale("CAFE", 1, 250, 1000)).unwrap();
    clock.set(at(29, 10));
    journal.close_period(Period::Month).unwrap();
    // April: a sale, a refund of a March sale, a month closure.
    clock.set(at(30, 1));
    let april = journal.sale(&simple_sale("VIN", 1, 1290, 2000)).unwrap();
    let receipt = journal.receipt_code(&april).unwrap();
    journal
        .refund(first.seq, &simple_refund(0, 1, 130))
        .unwrap();
    clock.set(at(59, 10));
    journal.close_period(Period::Month).unwrap();
    // May: one sale, closed.
    clock.set(at(63, 1));
    journal.sale(&simple_sale("THE", 3, 400, 550)).unwrap();
    clock.set(at(88, 10));
    journal.close_period(Period::Month).unwrap();
    journal.close();

    let reader = JournalReader::open(&db).unwrap();
    let mut manifests = Vec::new();
    let mut months = Vec::new();
    for month in [3, 4, 5] {
        let out = dir.path().join(format!("2026-{month:02}.zip"));
        let (m, _) = export_archive(
            &reader,
            &journal_key(),
            &ArchiveSelection::Month { year: 2026, month },
            &out,
        )
        .unwrap();
        manifests.push(m);
        months.push(out);
    }
    Shop {
        dir,
        db,
        months: months.try_into().unwrap(),
        manifests: manifests.try_into().unwrap(),
        receipt,
    }
}

/// Collects findings.
#[derive(Default)]
struct Sink(Vec<Finding>);

impl FindingSink for Sink {
    fn finding(&mut self, f: Finding) {
        self.0.push(f);
    }
}

/// Verifies archives in-process with `options`.
fn verify_with(paths: &[&Path], options: &VerifyOptions) -> Result<Vec<Finding>, ArchiveError> {
    let inputs: Vec<ArchiveInput> = paths
        .iter()
        .map(|p| ArchiveInput {
            path: p.to_path_buf(),
        })
        .collect();
    let mut sink = Sink::default();
    let summary = verify_archives(&inputs, options, &mut sink)?;
    // The summary counts every finding, those about archives included.
    assert_eq!(
        summary.records.findings,
        sink.0.len() as u64,
        "every finding is counted"
    );
    assert!(summary.archive_findings <= summary.records.findings);
    Ok(sink.0)
}

fn verify(paths: &[&Path]) -> Vec<Finding> {
    verify_with(paths, &VerifyOptions::default()).expect("the archives are readable")
}

/// Asserts that `findings` are exactly `expected` (sorted `(seq, problem)` pairs).
fn assert_findings(findings: &[Finding], expected: &[(u64, Problem)]) {
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(seq_problems(findings), expected, "findings: {findings:#?}");
}

/// The detail of the one finding with `problem`.
fn detail_of(findings: &[Finding], problem: Problem) -> String {
    let mut all = findings.iter().filter(|f| f.problem == problem);
    let f = all
        .next()
        .unwrap_or_else(|| panic!("no {problem:?} in {findings:#?}"));
    f.detail.clone()
}

fn cli(args: &[&str]) -> Output {
    Command::new(pos_journal_bin()).args(args).output().unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The CLI's JSON findings as `(seq, problem name)`.
fn json_findings(o: &Output) -> Vec<(u64, String)> {
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut v: Vec<(u64, String)> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["seq"].as_u64().unwrap(),
                f["problem"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The entries of an archive, in order, with their contents.
fn entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (f.name().to_string(), data)
        })
        .collect()
}

/// Writes entries as the exporter does (same options, same order): the result differs from
/// an export only where the contents differ.
fn rezip(path: &Path, entries: &[(String, Vec<u8>)]) {
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1))
        .large_file(true)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, data) in entries {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap();
}

fn content<'a>(entries: &'a mut [(String, Vec<u8>)], name: &str) -> &'a mut Vec<u8> {
    &mut entries.iter_mut().find(|(n, _)| n == name).unwrap().1
}

/// Sets the manifest's SHA-256 and size of `name` to match `data`.
fn update_manifest_hash(entries: &mut [(String, Vec<u8>)], name: &str) {
    let data = content(entries, name).clone();
    let manifest = content(entries, "manifest.json");
    let mut m: Manifest = serde_json::from_slice(manifest).unwrap();
    let f = m.files.iter_mut().find(|f| f.name == name).unwrap();
    f.sha256 = hex::encode(Sha256::digest(&data));
    f.bytes = data.len() as u64;
    let mut bytes = serde_json::to_vec_pretty(&m).unwrap();
    bytes.push(b'\n');
    *manifest = bytes;
}

fn record_seqs(lines: &[u8]) -> Vec<u64> {
    lines
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

#[test]
fn intact_archives_verify_and_consecutive_months_chain() {
    let shop = shop();
    let [march, april, may] = &shop.months;
    let [m3, m4, m5] = &shop.manifests;
    assert_eq!((m3.first_seq, m3.prev_hash.as_str()), (1, &*"0".repeat(64)));
    assert_eq!(m4.first_seq, m3.last_seq + 1);
    assert_eq!(
        m4.prev_hash, m3.last_hash,
        "April links to March's last hash"
    );
    assert_eq!(m5.prev_hash, m4.last_hash, "May links to April's last hash");
    // The link is in the records themselves, not only in the manifests.
    let april_entries = entries(april);
    let first: serde_json::Value =
        serde_json::from_slice(april_entries[1].1.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["prev_hash"], m3.last_hash.as_str());
    assert_eq!(first["seq"], m3.last_seq + 1);

    for set in [
        vec![march.as_path()],
        vec![april.as_path()],
        vec![may.as_path()],
        vec![march.as_path(), april.as_path()],
        vec![march.as_path(), april.as_path(), may.as_path()],
    ] {
        assert_findings(&verify(&set), &[]);
    }
    let o = cli(&["verify", s(march), s(april), s(may)]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = text(&o);
    for words in ["2026-03", "2026-04", "2026-05", "Boulangerie"] {
        assert!(out.contains(words), "{words:?} not in {out}");
    }
    let o = cli(&["verify", "--json", s(march), s(april)]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["intact"], true);
    assert_eq!(doc["archives"].as_array().unwrap().len(), 2);
}

/// Verifies every one-byte alteration of an archive; returns the offsets that went unnoticed.
fn unnoticed_flips(bytes: &[u8], work: &Path) -> Vec<usize> {
    use rayon::prelude::*;
    // One file per alteration: the verifier uses rayon too, so a thread waiting inside it can
    // pick up another alteration.
    (0..bytes.len())
        .into_par_iter()
        .map(|i| {
            let path = work.join(format!("flip-{i}.zip"));
            let mut altered = bytes.to_vec();
            altered[i] ^= 0xff;
            std::fs::write(&path, &altered).unwrap();
            let noticed = match verify_with(&[path.as_path()], &VerifyOptions::default()) {
                Err(_) => true,
                Ok(findings) => !findings.is_empty(),
            };
            std::fs::remove_file(&path).unwrap();
            (!noticed).then_some(i)
        })
        .flatten()
        .collect()
}

#[test]
fn every_byte_of_an_archive_matters() {
    let shop = shop();
    let march = &shop.months[0];
    let bytes = std::fs::read(march).unwrap();
    assert!(
        (1000..20_000).contains(&bytes.len()),
        "a small archive: {} bytes",
        bytes.len()
    );
    assert_findings(&verify(&[march.as_path()]), &[]);
    let started = std::time::Instant::now();
    let unnoticed = unnoticed_flips(&bytes, shop.dir.path());
    assert_eq!(
        unnoticed,
        Vec::<usize>::new(),
        "bytes of the {}-byte archive whose change went unnoticed",
        bytes.len()
    );
    eprintln!(
        "{} altered archives verified in {:.1?}",
        bytes.len(),
        started.elapsed()
    );
}

/// `records.jsonl` of an archive with its lines rearranged by `change` (which gets the lines
/// and their seqs), re-zipped; with `update_hash`, the manifest's SHA-256 of `records.jsonl` is
/// updated too (which the manifest signature then no longer covers).
fn with_records(
    src: &Path,
    out: &Path,
    update_hash: bool,
    change: impl Fn(&mut Vec<(u64, Vec<u8>)>),
) {
    let mut e = entries(src);
    let records = content(&mut e, "records.jsonl");
    let seqs = record_seqs(records);
    let mut lines: Vec<(u64, Vec<u8>)> = seqs
        .into_iter()
        .zip(records.split(|b| *b == b'\n').map(|l| l.to_vec()))
        .collect();
    change(&mut lines);
    *records = lines
        .iter()
        .flat_map(|(_, l)| l.iter().copied().chain([b'\n']))
        .collect();
    if update_hash {
        update_manifest_hash(&mut e, "records.jsonl");
    }
    rezip(out, &e);
}

#[test]
fn records_dropped_duplicated_or_reordered_are_reported() {
    let shop = shop();
    let april = &shop.months[1];
    let m = &shop.manifests[1];
    assert_eq!((m.first_seq, m.last_seq), (9, 14));
    let out = shop.dir.path().join("altered.zip");
    // A re-zip of the unchanged records is an intact archive: the findings below come from
    // the changes alone.
    with_records(april, &out, false, |_| {});
    assert_findings(&verify(&[out.as_path()]), &[]);

    let pos = |lines: &Vec<(u64, Vec<u8>)>, seq| lines.iter().position(|(s, _)| *s == seq).unwrap();
    type Change = Box<dyn Fn(&mut Vec<(u64, Vec<u8>)>)>;
    type Case = (&'static str, Change, Vec<(u64, Problem)>);
    let cases: Vec<Case> = vec![
        (
            "sale 11 dropped",
            Box::new(move |l| {
                let i = pos(l, 11);
                l.remove(i);
            }),
            vec![
                (12, Problem::SequenceGap),
                (12, Problem::BrokenLink),
                (13, Problem::ClosureMismatch),
                (14, Problem::ClosureMismatch),
                // Counts and totals.
                (9, Problem::ManifestMismatch),
                (9, Problem::ManifestMismatch),
            ],
        ),
        (
            "sale 11 duplicated",
            Box::new(move |l| {
                let i = pos(l, 11);
                let line = l[i].clone();
                l.insert(i + 1, line);
            }),
            vec![
                (11, Problem::SequenceDuplicate),
                (11, Problem::KindSequenceGap),
                (11, Problem::BrokenLink),
                (11, Problem::BrokenKindLink),
                (13, Problem::ClosureMismatch),
                (14, Problem::ClosureMismatch),
                (9, Problem::ManifestMismatch),
                (9, Problem::ManifestMismatch),
            ],
        ),
        (
            "sale 11 and refund 12 swapped",
            Box::new(move |l| {
                let i = pos(l, 11);
                l.swap(i, i + 1);
            }),
            // 10, 12, 11, 13: each of 12, 11 and 13 breaks the order and the links; the
            // counts and totals are unchanged.
            vec![
                (12, Problem::SequenceGap),
                (12, Problem::BrokenLink),
                (11, Problem::SequenceDuplicate),
                (11, Problem::BrokenLink),
                (13, Problem::SequenceGap),
                (13, Problem::BrokenLink),
                (13, Problem::ClosureMismatch),
                (14, Problem::ClosureMismatch),
            ],
        ),
    ];
    for (what, change, expected) in cases {
        for update_hash in [false, true] {
            let _ = std::fs::remove_file(&out);
            with_records(april, &out, update_hash, &change);
            let findings = verify(&[out.as_path()]);
            let mut expected = expected.clone();
            expected.push(if update_hash {
                // The attacker who updates the hash breaks the manifest signature.
                (0, Problem::ManifestSignature)
            } else {
                (0, Problem::ArchiveFileHash)
            });
            eprintln!("{what}, manifest hash updated: {update_hash}");
            assert_findings(&findings, &expected);
            if !update_hash {
                assert!(detail_of(&findings, Problem::ArchiveFileHash).contains("records.jsonl"));
            }
        }
    }
}

#[test]
fn swapped_manifests_are_reported() {
    let shop = shop();
    let [march, april, _] = &shop.months;
    let (mut e3, mut e4) = (entries(march), entries(april));
    for name in ["manifest.json", "manifest.sig"] {
        std::mem::swap(content(&mut e3, name), content(&mut e4, name));
    }
    let (x3, x4) = (
        shop.dir.path().join("x-03.zip"),
        shop.dir.path().join("x-04.zip"),
    );
    rezip(&x3, &e3);
    rezip(&x4, &e4);
    for (path, manifest) in [(&x3, &shop.manifests[1]), (&x4, &shop.manifests[0])] {
        let findings = verify(&[path.as_path()]);
        // Genuine manifests, genuinely signed: the signature holds, but not the file hashes or
        // the range.
        assert!(
            !findings
                .iter()
                .any(|f| f.problem == Problem::ManifestSignature),
            "{findings:#?}"
        );
        let hashes = findings
            .iter()
            .filter(|f| f.problem == Problem::ArchiveFileHash)
            .map(|f| f.detail.clone())
            .collect::<Vec<_>>();
        assert!(
            hashes.iter().any(|d| d.contains("records.jsonl")),
            "{hashes:#?}"
        );
        let mismatch = findings
            .iter()
            .filter(|f| f.problem == Problem::ManifestMismatch)
            .map(|f| f.detail.clone())
            .collect::<Vec<_>>();
        assert!(
            mismatch
                .iter()
                .any(|d| d.contains(&format!("manifest first seq is {}", manifest.first_seq))),
            "{mismatch:#?}"
        );
    }
    let o = cli(&["verify", s(&x3), s(&x4)]);
    assert_eq!(code(&o), 1, "{}", text(&o));
}

/// A copy of `src` at `out` whose manifest (as JSON) `change` alters, signed again with the
/// journal's key: the signature holds, as it would for a writer that got the manifest wrong.
fn with_manifest_resigned(src: &Path, out: &Path, change: impl Fn(&mut serde_json::Value)) {
    let mut e = entries(src);
    let manifest = content(&mut e, "manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(manifest).unwrap();
    change(&mut m);
    let mut bytes = serde_json::to_vec_pretty(&m).unwrap();
    bytes.push(b'\n');
    *manifest = bytes.clone();
    let key = journal_key();
    let mut message = pos_core::archive::MANIFEST_SIGNATURE_DOMAIN.to_vec();
    message.extend_from_slice(&bytes);
    let signature = key.sign(&message).unwrap();
    *content(&mut e, "manifest.sig") = format!(
        "{} {} {}\n",
        key.public_key().algorithm(),
        key.key_id(),
        hex::encode(signature)
    )
    .into_bytes();
    rezip(out, &e);
}

#[test]
fn the_manifest_lists_the_originals_and_a_wrong_list_is_one_mismatch() {
    let shop = shop();
    let april = &shop.months[1];
    let m = &shop.manifests[1];
    // April's refund names the first March sale (in the references).
    let mut e = entries(april);
    let refund: serde_json::Value = content(&mut e, "records.jsonl")
        .split(|b| *b == b'\n')
        .filter_map(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
        .find(|r| r["kind"] == "refund")
        .unwrap();
    let refund_seq = refund["seq"].as_u64().unwrap();
    let body: serde_json::Value = serde_json::from_str(refund["body"].as_str().unwrap()).unwrap();
    let sale = body["original"]["seq"].as_u64().unwrap();
    assert!(sale < m.first_seq);
    assert_eq!(
        m.originals.as_deref(),
        Some(
            &[pos_core::archive::NamedOriginal {
                seq: sale,
                last_named_by: refund_seq,
            }][..]
        )
    );
    assert_eq!(shop.manifests[0].originals.as_deref(), Some(&[][..]));
    // Re-signed with the original left out, with an extra one, or named too early: one
    // finding, and the records are checked as with the right list (no refund_invalid).
    let changes: [(&str, serde_json::Value, String); 3] = [
        (
            "left out",
            serde_json::json!([]),
            format!("seq {sale} is not named in the manifest but last named by {refund_seq}"),
        ),
        (
            "extra",
            serde_json::json!([{"seq": sale, "last_named_by": refund_seq}, {"seq": sale + 1, "last_named_by": refund_seq}]),
            format!("seq {} is last named by {refund_seq} in the manifest but not named", sale + 1),
        ),
        (
            "too early",
            serde_json::json!([{"seq": sale, "last_named_by": m.first_seq}]),
            format!("seq {sale} is last named by {} in the manifest but last named by {refund_seq} in the records", m.first_seq),
        ),
    ];
    for (what, list, expected) in changes {
        let out = shop.dir.path().join(format!("originals-{what}.zip"));
        with_manifest_resigned(april, &out, |m| m["originals"] = list.clone());
        let findings = verify(&[out.as_path()]);
        assert_findings(&findings, &[(m.first_seq, Problem::ManifestMismatch)]);
        let detail = detail_of(&findings, Problem::ManifestMismatch);
        assert!(
            detail.contains("manifest originals differ"),
            "{what}: {detail}"
        );
        assert!(detail.contains(&expected), "{what}: {detail}");
    }
    // A format 2 manifest without the list is not a manifest; a format 1 one with it neither.
    let out = shop.dir.path().join("originals-missing.zip");
    with_manifest_resigned(april, &out, |m| {
        m.as_object_mut().unwrap().remove("originals");
    });
    let findings = verify(&[out.as_path()]);
    assert_findings(&findings, &[(0, Problem::ArchiveStructure)]);
    assert!(
        detail_of(&findings, Problem::ArchiveStructure).ends_with(
            "manifest.json is not a manifest: member `originals` missing in format version 2"
        ),
        "{findings:#?}"
    );
}

#[test]
fn archives_out_of_order_or_with_one_missing_are_reported() {
    let shop = shop();
    let [march, april, may] = &shop.months;
    let [m3, m4, m5] = &shop.manifests;
    let findings = verify(&[may.as_path(), march.as_path(), april.as_path()]);
    assert_findings(&findings, &[(0, Problem::ArchiveContinuity)]);
    assert_eq!(
        findings[0].detail,
        "archives given out of order (2026-05, 2026-03, 2026-04); checked in sequence order \
         (2026-03, 2026-04, 2026-05)"
    );
    let findings = verify(&[march.as_path(), may.as_path()]);
    assert_findings(&findings, &[(m5.first_seq, Problem::ArchiveContinuity)]);
    assert_eq!(
        findings[0].detail,
        format!(
            "records {}-{} are missing between archive 2026-03 and archive 2026-05",
            m4.first_seq, m4.last_seq
        )
    );
    assert_eq!(m3.last_seq + 1, m4.first_seq);
    let o = cli(&["verify", "--json", s(march), s(may)]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert_eq!(
        json_findings(&o),
        vec![(m5.first_seq, "archive_continuity".to_string())]
    );
    // The same archive twice overlaps itself.
    let findings = verify(&[april.as_path(), april.as_path()]);
    assert!(
        findings
            .iter()
            .any(|f| f.problem == Problem::ArchiveContinuity && f.detail.contains("overlaps")),
        "{findings:#?}"
    );
}

/// A copy of `src` at `out` whose entry `name` fails its CRC-32: the CRC its local and central
/// headers give is changed alike (so that the structure check passes), its data left as it
/// was. (In a deflated entry, a byte of the data changed most often breaks the Deflate stream
/// itself rather than the CRC: [`with_entry_data_byte_flipped`].)
fn with_entry_byte_flipped(src: &Path, out: &Path, name: &str) {
    let structure = pos_core::archive::zipcheck::check_file(src).unwrap();
    assert!(structure.problems.is_empty(), "{:?}", structure.problems);
    let entry = structure.entries.iter().find(|e| e.name == name).unwrap();
    let mut bytes = std::fs::read(src).unwrap();
    bytes[entry.header_offset as usize + 14] ^= 0x01;
    let central = (0..bytes.len() - 46)
        .find(|&i| {
            bytes[i..i + 4] == *b"PK\x01\x02" && bytes[i + 46..].starts_with(name.as_bytes())
        })
        .unwrap();
    bytes[central + 16] ^= 0x01;
    std::fs::write(out, bytes).unwrap();
}

/// A copy of `src` at `out` with one byte of the data of entry `name` changed, its headers
/// left as they were.
fn with_entry_data_byte_flipped(src: &Path, out: &Path, name: &str) {
    let structure = pos_core::archive::zipcheck::check_file(src).unwrap();
    let entry = structure.entries.iter().find(|e| e.name == name).unwrap();
    let mut bytes = std::fs::read(src).unwrap();
    bytes[(entry.data_offset + entry.compressed_size / 2) as usize] ^= 0x01;
    std::fs::write(out, bytes).unwrap();
}

#[test]
fn a_byte_of_deflated_records_changed_is_one_structure_finding() {
    let shop = shop();
    let april = &shop.months[1];
    let damaged = shop.dir.path().join("damaged-data-04.zip");
    with_entry_data_byte_flipped(april, &damaged, "records.jsonl");
    let findings = verify(&[damaged.as_path()]);
    assert_findings(&findings, &[(0, Problem::ArchiveStructure)]);
    let detail = detail_of(&findings, Problem::ArchiveStructure);
    assert!(detail.contains("records.jsonl unreadable: "), "{detail}");
}

#[test]
fn new_archives_are_deflated_in_format_2_and_smaller() {
    let shop = shop();
    for (path, manifest) in shop.months.iter().zip(&shop.manifests) {
        let structure = pos_core::archive::zipcheck::check_file(path).unwrap();
        assert_eq!(
            structure.compression,
            pos_core::archive::zipcheck::Compression::Deflated
        );
        assert_eq!(manifest.format_version, 2);
        let content: u64 = structure.entries.iter().map(|e| e.uncompressed_size).sum();
        let data: u64 = structure.entries.iter().map(|e| e.compressed_size).sum();
        // Every archive is smaller than its content; record lines, the bulk of a real one,
        // shrink to well under half (BENCHMARKS.md: 526 MB for 2,302 MB).
        assert!(
            data < content,
            "{data} bytes of data for {content} of content"
        );
        let records = structure
            .entries
            .iter()
            .find(|e| e.name == "records.jsonl")
            .unwrap();
        assert!(
            records.compressed_size * 2 < records.uncompressed_size,
            "records.jsonl: {} bytes of data for {} of content",
            records.compressed_size,
            records.uncompressed_size
        );
        // Any ZIP reader inflates them to what the manifest hashes.
        for (name, bytes) in entries(path) {
            if let Some(f) = manifest.files.iter().find(|f| f.name == name) {
                assert_eq!(f.sha256, hex::encode(Sha256::digest(&bytes)), "{name}");
            }
        }
    }
}

#[test]
fn a_crc_failure_of_the_records_is_one_structure_finding() {
    let shop = shop();
    let [march, april, may] = &shop.months;
    let damaged = shop.dir.path().join("damaged-04.zip");
    with_entry_byte_flipped(april, &damaged, "records.jsonl");
    // Nothing else about the archive: its records are not checked at all.
    let findings = verify(&[damaged.as_path()]);
    assert_findings(&findings, &[(0, Problem::ArchiveStructure)]);
    assert!(
        detail_of(&findings, Problem::ArchiveStructure).ends_with(
            "records.jsonl unreadable: Invalid checksum: its CRC-32 does not match its headers"
        ),
        "{findings:#?}"
    );
    // The next archive is checked as if the damaged one had not been given.
    assert_findings(
        &verify(&[march.as_path(), damaged.as_path(), may.as_path()]),
        &[
            (0, Problem::ArchiveStructure),
            (shop.manifests[2].first_seq, Problem::ArchiveContinuity),
        ],
    );
    assert_findings(
        &verify(&[damaged.as_path(), may.as_path()]),
        &[(0, Problem::ArchiveStructure)],
    );
    let o = cli(&["verify", s(&damaged)]);
    assert_eq!(code(&o), 1, "{}", text(&o));
}

#[test]
fn an_altered_reference_is_reported_with_what_it_causes() {
    let shop = shop();
    let [march, april, _] = &shop.months;
    let m = &shop.manifests[1];
    // April's last reference is the March month closure just before its range; its perpetual
    // total is changed (one digit, the body stays canonical) and the ZIP rebuilt.
    let mut e = entries(april);
    let references = content(&mut e, "references.jsonl");
    let text = String::from_utf8(references.clone()).unwrap();
    let last = text.lines().last().unwrap();
    assert_eq!(record_seqs(last.as_bytes()), [m.first_seq - 1]);
    let at = last.find("perpetual_total\\\":").unwrap() + "perpetual_total\\\":".len();
    let mut altered = last.as_bytes().to_vec();
    altered[at] = if altered[at] == b'9' {
        b'8'
    } else {
        altered[at] + 1
    };
    *references = text
        .replace(last, std::str::from_utf8(&altered).unwrap())
        .into_bytes();
    let out = shop.dir.path().join("altered-04.zip");
    rezip(&out, &e);
    // On its own, April starts from the altered closure: the reference is reported, and so are
    // April's day and month closures, whose perpetual totals no longer follow.
    let findings = verify(&[out.as_path()]);
    assert_findings(
        &findings,
        &[
            (m.first_seq - 1, Problem::HashMismatch),
            (m.last_seq - 1, Problem::ClosureMismatch),
            (m.last_seq, Problem::ClosureMismatch),
            (0, Problem::ArchiveFileHash),
        ],
    );
    assert_eq!(
        detail_of(&findings, Problem::HashMismatch),
        "a reference record (before the archive's range) does not verify"
    );
    // After March, the stream goes on from March's records: only the file's hash is wrong.
    assert_findings(
        &verify(&[march.as_path(), out.as_path()]),
        &[(0, Problem::ArchiveFileHash)],
    );
}

#[test]
fn the_wrong_public_key_is_reported() {
    let shop = shop();
    let [march, april, _] = &shop.months;
    let (right, wrong) = (
        shop.dir.path().join("right.pub"),
        shop.dir.path().join("wrong.pub"),
    );
    journal_key().save_public(&right).unwrap();
    other_key().save_public(&wrong).unwrap();
    let o = cli(&["verify", "--public-key", s(&right), s(march), s(april)]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = cli(&["verify", "--json", "--public-key", s(&wrong), s(march)]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert_eq!(
        json_findings(&o),
        vec![
            (0, "manifest_signature".to_string()),
            (1, "bad_opening".to_string())
        ]
    );
    // An archive without the opening record: its manifest key is not the trusted one.
    let o = cli(&["verify", "--json", "--public-key", s(&wrong), s(april)]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let found = json_findings(&o);
    assert!(
        found.contains(&(0, "manifest_signature".to_string())),
        "{found:?}"
    );
    // ... and the opening among its references names an untrusted key too.
    assert!(found.contains(&(1, "bad_opening".to_string())), "{found:?}");
}

/// Deletes the newest `n` records of a journal, as an attacker with the file would.
fn truncate(db: &Path, n: u64) -> u64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("DROP TRIGGER records_no_update; DROP TRIGGER records_no_delete;")
        .unwrap();
    let last: i64 = conn
        .query_row("SELECT max(seq) FROM records", [], |r| r.get(0))
        .unwrap();
    conn.execute("DELETE FROM records WHERE seq > ?1", [last - n as i64])
        .unwrap();
    (last as u64) - n
}

#[test]
fn a_truncated_journal_is_caught_by_an_earlier_anchor() {
    let shop = shop();
    let anchors = shop.dir.path().join("anchors.jsonl");
    let o = cli(&["anchor", "--db", s(&shop.db), "--out", s(&anchors)]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).starts_with("POSA1*"), "{}", text(&o));
    let head = shop.manifests[2].last_seq + 2; // the May closure's two closure_written events
    let anchor = &pos_core::anchor::read_anchors(&anchors).unwrap()[0];
    assert_eq!(anchor.seq, head);

    let o = cli(&["verify", "--anchor", s(&anchors), s(&shop.db)]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    // Archives reach the anchor only if they hold its record.
    let [march, april, may] = &shop.months;
    let o = cli(&[
        "verify",
        "--json",
        "--anchor",
        s(&anchors),
        s(march),
        s(april),
        s(may),
    ]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert_eq!(
        json_findings(&o),
        vec![(head, "anchor_not_reached".to_string())]
    );

    let last = truncate(&shop.db, 3);
    // Without the anchor, the shorter chain verifies: that is what anchors are for.
    let o = cli(&["verify", s(&shop.db)]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let o = cli(&["verify", "--json", "--anchor", s(&anchors), s(&shop.db)]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert_eq!(
        json_findings(&o),
        vec![(head, "anchor_not_reached".to_string())]
    );
    assert_eq!(last, head - 3);

    // An anchor of a record the journal holds, with another hash.
    let mut forged = anchor.clone();
    forged.seq = last;
    forged.hash = "ab".repeat(32);
    let forged_file = shop.dir.path().join("forged.jsonl");
    pos_core::anchor::append_anchor(&forged_file, &forged).unwrap();
    let o = cli(&["verify", "--json", "--anchor", s(&forged_file), s(&shop.db)]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert_eq!(
        json_findings(&o),
        vec![(last, "anchor_mismatch".to_string())]
    );
    // The same against an archive holding that record.
    let mut in_april = anchor.clone();
    in_april.seq = shop.manifests[1].last_seq;
    in_april.hash = "cd".repeat(32);
    let april_anchor = shop.dir.path().join("april-anchor.jsonl");
    pos_core::anchor::append_anchor(&april_anchor, &in_april).unwrap();
    let o = cli(&[
        "verify",
        "--json",
        "--anchor",
        s(&april_anchor),
        s(march),
        s(april),
    ]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert_eq!(
        json_findings(&o),
        vec![(in_april.seq, "anchor_mismatch".to_string())]
    );
    // Unreadable anchors are unreadable input.
    std::fs::write(&forged_file, "not an anchor\n").unwrap();
    let o = cli(&["verify", "--anchor", s(&forged_file), s(&shop.db)]);
    assert_eq!(code(&o), 2, "{}", text(&o));
}

#[test]
fn an_archive_verifies_with_nothing_but_pos_journal() {
    let shop = shop();
    let bin = pos_journal_bin();
    let bytes = std::fs::read(&shop.months[0]).unwrap();
    // No journal anywhere: the shop's directory is gone.
    drop(shop);
    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("2026-03.zip"), &bytes).unwrap();
    let run = |args: &[&str]| {
        Command::new(&bin)
            .args(args)
            .current_dir(empty.path())
            .env_clear()
            .output()
            .unwrap()
    };
    let o = run(&["verify", "2026-03.zip"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let out = text(&o);
    for words in ["2026-03", "Boulangerie", "CAISSE-01"] {
        assert!(out.contains(words), "{words:?} not in {out}");
    }
    assert_eq!(
        std::fs::read_dir(empty.path()).unwrap().count(),
        1,
        "verification wrote nothing beside the archive"
    );
    // Unreadable input is exit 2; a damaged one is exit 1.
    std::fs::write(empty.path().join("junk.zip"), b"PK\x03\x04 not really").unwrap();
    let o = run(&["verify", "junk.zip"]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    let mut damaged = bytes.clone();
    damaged[20] ^= 1;
    std::fs::write(empty.path().join("damaged.zip"), &damaged).unwrap();
    let o = run(&["verify", "damaged.zip"]);
    assert_eq!(code(&o), 1, "{}", text(&o));
}

#[test]
fn the_archive_record_pins_the_archive_file() {
    let shop = shop();
    let db = &shop.db;
    let key = shop.dir.path().join("journal.key");
    journal_key().save(&key).unwrap();
    let first_out = shop.dir.path().join("first.zip");
    let last = shop.manifests[2].last_seq + 2;
    let archive_first = |confirm: &[&str]| {
        let range = last.to_string();
        let mut args = vec![
            "archive",
            "--db",
            s(db),
            "--out",
            s(&first_out),
            "--from",
            "1",
            "--to",
            &range,
            "--key",
            s(&key),
        ];
        args.extend_from_slice(confirm);
        cli(&args)
    };
    // The journal's last record is months old (the shop's fixture is dated in the spring):
    // the archive is refused before it is written, unless the clock's reading is confirmed.
    let o = archive_first(&[]);
    assert_eq!(code(&o), 2, "{}", text(&o));
    assert!(text(&o).contains("--confirm-clock"), "{}", text(&o));
    assert!(!first_out.exists());
    let o = archive_first(&["--confirm-clock", "auditeur"]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    let confirmed = JournalReader::open(db)
        .unwrap()
        .last_event("clock_confirmed")
        .unwrap()
        .expect("the confirmation is journaled");
    assert_eq!(confirmed.operator.as_deref(), Some("auditeur"));
    let sha = hex::encode(Sha256::digest(std::fs::read(&first_out).unwrap()));
    // The journal now holds the archive record and its event (after the closures that the
    // append, at the real time, may have made due).
    let reader = JournalReader::open(db).unwrap();
    let head = reader.last_seq().unwrap();
    let archive_seq = (last + 1..=head)
        .find(|seq| reader.record(*seq).unwrap().unwrap().unwrap().kind == "archive")
        .expect("an archive record");
    let archive_record = reader.record(archive_seq).unwrap().unwrap().unwrap();
    let event = reader.record(archive_seq + 1).unwrap().unwrap().unwrap();
    assert_eq!(head, archive_seq + 1);
    let body = match Body::decode(Kind::Archive, &archive_record.body).unwrap() {
        Body::Archive(a) => a,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        body,
        ArchiveBody {
            label: format!("seq 1-{last}"),
            first_seq: 1,
            last_seq: last,
            last_hash: body.last_hash.clone(),
            file_name: "first.zip".into(),
            file_sha256: sha.clone(),
            manifest_sha256: body.manifest_sha256.clone(),
        }
    );
    let entries_first = entries(&first_out);
    assert_eq!(
        body.manifest_sha256,
        hex::encode(Sha256::digest(&entries_first[9].1))
    );
    let event = match Body::decode(Kind::Event, &event.body).unwrap() {
        Body::Event(e) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(event.code, "archive_written");
    assert_eq!(event.details["sha256"], sha);
    drop(reader);

    // The next archive holds that record: verified together, it pins the first file.
    let second_out = shop.dir.path().join("second.zip");
    let o = cli(&[
        "archive",
        "--db",
        s(db),
        "--out",
        s(&second_out),
        "--from",
        &(last + 1).to_string(),
        "--to",
        &head.to_string(),
        "--key",
        s(&key),
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(record_seqs(&entries(&second_out)[1].1).contains(&archive_seq));
    let o = cli(&["verify", s(&first_out), s(&second_out)]);
    assert_eq!(code(&o), 0, "{}", text(&o));

    // Another export of the same range, signed with the same key, is a valid archive on its
    // own; only the journal's record of the archive tells it is not the one written then.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let replacement = shop.dir.path().join("replacement.zip");
    export_archive(
        &JournalReader::open(db).unwrap(),
        &journal_key(),
        &ArchiveSelection::Range { from: 1, to: last },
        &replacement,
    )
    .unwrap();
    assert_findings(&verify(&[replacement.as_path()]), &[]);
    let original = shop.dir.path().join("original-first.zip");
    std::fs::copy(&first_out, &original).unwrap();
    std::fs::copy(&replacement, &first_out).unwrap();
    let findings = verify(&[first_out.as_path(), second_out.as_path()]);
    assert_findings(&findings, &[(last, Problem::ManifestMismatch)]);
    let detail = detail_of(&findings, Problem::ManifestMismatch);
    assert!(
        detail.contains(&sha) && detail.contains("first.zip"),
        "{detail}"
    );
    let o = cli(&["verify", s(&first_out), s(&second_out)]);
    assert_eq!(code(&o), 1, "{}", text(&o));

    // Overlapping archives: a whole-journal export (which holds the record of the first
    // archive) given before the replaced first one. The first sorts last and is hashed only
    // when the record is compared; the replacement is still caught.
    let whole = shop.dir.path().join("whole.zip");
    export_archive(
        &JournalReader::open(db).unwrap(),
        &journal_key(),
        &ArchiveSelection::Range { from: 1, to: head },
        &whole,
    )
    .unwrap();
    let findings = verify(&[whole.as_path(), original.as_path()]);
    assert!(
        findings
            .iter()
            .all(|f| f.problem != Problem::ManifestMismatch),
        "the genuine first archive, hashed last, matches its record: {findings:?}"
    );
    let findings = verify(&[whole.as_path(), first_out.as_path()]);
    let mismatch: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.problem == Problem::ManifestMismatch)
        .collect();
    assert!(
        mismatch
            .iter()
            .any(|f| f.detail.contains(&sha) && f.detail.contains("first.zip")),
        "{findings:?}"
    );
}

#[test]
fn receipt_codes_verify_offline_and_against_the_journal() {
    let shop = shop();
    let (right, wrong) = (
        shop.dir.path().join("right.pub"),
        shop.dir.path().join("wrong.pub"),
    );
    journal_key().save_public(&right).unwrap();
    other_key().save_public(&wrong).unwrap();
    let code_text = shop.receipt.as_str();
    assert!(
        code_text.starts_with("POSR1*CAISSE-01*11*sale*"),
        "{code_text}"
    );
    let o = cli(&["verify-receipt", code_text, "--public-key", s(&right)]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("12.90"), "{}", text(&o));
    let o = cli(&["verify-receipt", code_text, "--public-key", s(&wrong)]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let changed = code_text.replace("*1290*", "*1190*");
    assert_ne!(changed, code_text);
    let o = cli(&["verify-receipt", &changed, "--public-key", s(&right)]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    let o = cli(&[
        "verify-receipt",
        code_text,
        "--public-key",
        s(&right),
        "--journal",
        s(&shop.db),
    ]);
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(text(&o).contains("the record is in"), "{}", text(&o));
    // A journal that does not hold that record.
    let other = shop.dir.path().join("other.db");
    let clock = Arc::new(ManualClock::new(at(0, 0)));
    let j = Journal::create(
        &other,
        journal_key(),
        sample_opening(),
        manual_options(&clock),
    )
    .unwrap();
    for _ in 0..12 {
        j.sale(&simple_sale("X", 1, 100, 550)).unwrap();
    }
    j.close();
    let o = cli(&[
        "verify-receipt",
        code_text,
        "--public-key",
        s(&right),
        "--journal",
        s(&other),
    ]);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("NOT FOUND"), "{}", text(&o));
    let o = cli(&[
        "verify-receipt",
        "POSR1*nonsense",
        "--public-key",
        s(&right),
    ]);
    assert_eq!(code(&o), 1, "{}", text(&o));
}
