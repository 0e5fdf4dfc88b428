//! Opening an archive: its strict structure, its manifest and signature, and the hashes of
//! its files, before its records are checked.

use super::blocks::{entry_line_blocks, DeflatedEntry, Place, StoredEntry, BLOCK};
use super::format::{
    ArchiveError, FileEntry, Manifest, CONTENT_FILES, FORMAT, MANIFEST_SIGNATURE_DOMAIN,
};
use super::zipcheck::Compression;
use crate::verify::{Finding, FindingSink, Problem};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use zip::ZipArchive;

/// The largest manifest or signature file read.
const MAX_SMALL_FILE: u64 = 16 << 20;

/// An archive whose manifest could be read.
pub(super) struct Opened {
    pub(super) path: PathBuf,
    pub(super) label: String,
    pub(super) manifest: Manifest,
    pub(super) manifest_bytes: Vec<u8>,
    /// The SHA-256 of the whole file, computed on a thread of its own while the records are
    /// checked. Only archive records name it, and an archive's own record is written after it,
    /// in a later archive: the last archive given is not hashed whole.
    pub(super) file_sha256: Option<std::thread::JoinHandle<Result<String, ArchiveError>>>,
    /// The size of `records.jsonl` by its ZIP headers.
    pub(super) records_size: Option<u64>,
    /// Where `records.jsonl` lies in the file, when the archive has the exact structure.
    pub(super) records_stored: Option<Place>,
    /// What is wrong with the hashes and sizes of the other files, found on a thread of its own.
    pub(super) views: Option<std::thread::JoinHandle<Vec<(Problem, String)>>>,
}

/// Hashes each file but `records.jsonl` (with its size by the ZIP headers and where it lies
/// when the archive has the exact structure) and says what does not match the manifest.
pub(super) fn hash_views(
    path: &Path,
    views: Vec<(FileEntry, Option<u64>, Option<Place>)>,
) -> Vec<(Problem, String)> {
    let mut problems = Vec::new();
    for (entry, header_size, stored) in views {
        let mut h = Sha256::new();
        let hashed = entry_line_blocks(path, &entry.name, stored, BLOCK, |b| h.update(b), |_| true)
            .map(|n| (hex::encode(h.finalize()), n));
        if let (Ok((_, n)), Some(size)) = (&hashed, header_size) {
            if size != *n {
                problems.push((
                    Problem::ArchiveStructure,
                    format!("{} holds {n} bytes but its headers say {size}", entry.name),
                ));
            }
        }
        match hashed {
            Ok((sha, n)) if sha == entry.sha256 && n == entry.bytes => {}
            Ok(_) => problems.push((
                Problem::ArchiveFileHash,
                format!("{} does not match its SHA-256 in the manifest", entry.name),
            )),
            Err(e) => problems.push((
                Problem::ArchiveStructure,
                format!("{} unreadable: {e}", entry.name),
            )),
        }
    }
    problems
}

pub(super) fn archive_finding(seq: u64, problem: Problem, detail: String) -> Finding {
    Finding {
        seq,
        kind: String::new(),
        kind_seq: 0,
        timestamp_ms: 0,
        problem,
        detail,
    }
}

pub(super) fn read_small(zip: &mut ZipArchive<File>, name: &str) -> Result<Vec<u8>, String> {
    let f = zip.by_name(name).map_err(|e| format!("{name}: {e}"))?;
    let mut out = Vec::new();
    f.take(MAX_SMALL_FILE)
        .read_to_end(&mut out)
        .map_err(|e| format!("{name}: {e}"))?;
    Ok(out)
}

/// Opens an archive and checks what can be checked without its records: the list of files, the
/// manifest's form and signature, and the hashes of every file but `records.jsonl`.
pub(super) fn open_archive(
    path: &Path,
    sink: &mut dyn FindingSink,
    problems: &mut Vec<Problem>,
) -> Result<Option<Opened>, ArchiveError> {
    let name = path.display().to_string();
    let mut report = |problem: Problem, detail: String| {
        problems.push(problem);
        sink.finding(archive_finding(0, problem, format!("{name}: {detail}")));
    };
    // The strict structure check first: every byte outside the entries' data.
    let structure = super::zipcheck::check_file(path).map_err(|e| ArchiveError::io(path, e))?;
    let file = File::open(path).map_err(|e| ArchiveError::io(path, e))?;
    let mut zip = match ZipArchive::new(file) {
        Ok(z) => z,
        Err(e) => {
            let why = structure
                .problems
                .first()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            return Err(ArchiveError::io(
                path,
                format!("not a readable ZIP archive: {e}{why}"),
            ));
        }
    };
    for p in &structure.problems {
        report(Problem::ArchiveStructure, p.clone());
    }
    // Entries are read straight from the file only where the structure is exactly the
    // exporter's: then each lies, stored or deflated, where its headers say.
    let place = |name: &str| {
        structure
            .entries
            .iter()
            .find(|e| e.name == name && structure.problems.is_empty())
            .map(|e| match structure.compression {
                Compression::Stored => Place::Stored(StoredEntry {
                    offset: e.data_offset,
                    len: e.uncompressed_size,
                    crc32: e.crc32,
                }),
                Compression::Deflated => Place::Deflated(DeflatedEntry {
                    offset: e.data_offset,
                    data_len: e.compressed_size,
                    len: e.uncompressed_size,
                    crc32: e.crc32,
                }),
            })
    };
    let entry_size = |name: &str| {
        structure
            .entries
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.uncompressed_size)
    };

    let names: BTreeSet<String> = zip.file_names().map(str::to_string).collect();
    let expected: BTreeSet<String> = CONTENT_FILES
        .iter()
        .chain(["manifest.json", "manifest.sig"].iter())
        .map(|s| s.to_string())
        .collect();
    for missing in expected.difference(&names) {
        report(
            Problem::ArchiveStructure,
            format!("file {missing} is missing"),
        );
    }
    for extra in names.difference(&expected) {
        report(
            Problem::ArchiveStructure,
            format!("unexpected file {extra}"),
        );
    }
    let manifest_bytes = match read_small(&mut zip, "manifest.json") {
        Ok(b) => b,
        Err(e) => {
            report(
                Problem::ArchiveStructure,
                format!("manifest unreadable: {e}"),
            );
            return Ok(None);
        }
    };
    if let Some(size) = entry_size("manifest.json") {
        if size != manifest_bytes.len() as u64 {
            report(
                Problem::ArchiveStructure,
                format!(
                    "manifest.json holds {} bytes but its headers say {size}",
                    manifest_bytes.len()
                ),
            );
        }
    }
    let manifest: Manifest = match serde_json::from_slice(&manifest_bytes) {
        Ok(m) => m,
        Err(e) => {
            report(
                Problem::ArchiveStructure,
                format!("manifest.json is not a manifest: {e}"),
            );
            return Ok(None);
        }
    };
    // `originals` is a member of format 2 on; format 1 has none.
    let lists_originals = manifest.format_version >= 2;
    if manifest.originals.is_some() != lists_originals {
        let why = if lists_originals {
            "missing"
        } else {
            "unknown"
        };
        report(
            Problem::ArchiveStructure,
            format!(
                "manifest.json is not a manifest: member `originals` {why} in format version {}",
                manifest.format_version
            ),
        );
        return Ok(None);
    }
    // Format 1 archives hold their entries stored, format 2 ones deflated.
    let version = match structure.compression {
        Compression::Stored => 1,
        Compression::Deflated => 2,
    };
    if manifest.format != FORMAT || manifest.format_version != version {
        report(
            Problem::ArchiveStructure,
            format!(
                "format {} version {} is not known",
                manifest.format, manifest.format_version
            ),
        );
    }
    // The manifest signature, with the key the manifest names (checked against the journal's keys
    // once the records are read).
    let sig_bytes = read_small(&mut zip, "manifest.sig");
    if let (Ok(b), Some(size)) = (&sig_bytes, entry_size("manifest.sig")) {
        if size != b.len() as u64 {
            report(
                Problem::ArchiveStructure,
                format!(
                    "manifest.sig holds {} bytes but its headers say {size}",
                    b.len()
                ),
            );
        }
    }
    match sig_bytes.map(|b| String::from_utf8_lossy(&b).into_owned()) {
        Ok(text) => {
            let parts: Vec<&str> = text.split_whitespace().collect();
            let sig = match parts[..] {
                [algorithm, key_id, sig]
                    if algorithm == manifest.manifest_key.algorithm.as_str()
                        && key_id == manifest.manifest_key.key_id =>
                {
                    hex::decode(sig)
                        .ok()
                        .and_then(|b| <[u8; 64]>::try_from(b).ok())
                }
                _ => None,
            };
            let key = crate::keys::decode_key(&manifest.manifest_key).ok();
            let ok = match (sig, key) {
                (Some(sig), Some((_, vk))) => {
                    let mut message = MANIFEST_SIGNATURE_DOMAIN.to_vec();
                    message.extend_from_slice(&manifest_bytes);
                    vk.verify(&message, &sig)
                }
                _ => false,
            };
            if !ok {
                report(
                    Problem::ManifestSignature,
                    "manifest.sig is not a valid signature of manifest.json by the key it names"
                        .into(),
                );
            }
        }
        Err(e) => report(
            Problem::ArchiveStructure,
            format!("manifest.sig unreadable: {e}"),
        ),
    }
    // Hashes of the small files; records.jsonl is hashed while its records are verified.
    let listed: BTreeSet<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
    for wanted in CONTENT_FILES {
        if !listed.contains(wanted) {
            report(
                Problem::ManifestMismatch,
                format!("the manifest does not list {wanted}"),
            );
        }
    }
    // The other files (the spreadsheet views are a third of an archive) are hashed on a thread
    // of their own while the records are checked; their findings come after the records'.
    let views: Vec<(FileEntry, Option<u64>, Option<Place>)> = manifest
        .files
        .iter()
        .filter(|entry| entry.name != "records.jsonl")
        .map(|entry| (entry.clone(), entry_size(&entry.name), place(&entry.name)))
        .collect();
    let view_path = path.to_path_buf();
    let views = std::thread::spawn(move || hash_views(&view_path, views));
    let records_size = entry_size("records.jsonl");
    Ok(Some(Opened {
        records_size,
        records_stored: place("records.jsonl"),
        path: path.to_path_buf(),
        label: manifest.label.clone(),
        manifest,
        manifest_bytes,
        file_sha256: None,
        views: Some(views),
    }))
}
