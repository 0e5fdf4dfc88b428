//! A strict check of an archive's ZIP structure: the file must have exactly the layout the
//! exporter writes, so that no byte of it can change unnoticed.
//!
//! The `zip` crate (like most readers) ignores many header fields, tolerates data between
//! entries, after the end or before the first entry, and reads names and sizes from the central
//! directory only. The entry data is covered by CRC-32 and by the SHA-256 in the manifest; this
//! check covers every other byte. It reads the headers only (seeking over the entry data), so
//! its memory use does not depend on the archive's size.
//!
//! # The accepted structure
//!
//! All numbers are little-endian. An archive is, with nothing before, between or after:
//!
//! 1. the 11 entries, contiguous, in this order: `README.txt`, `records.jsonl`,
//!    `references.jsonl`, `tickets.csv`, `lines.csv`, `payments.csv`, `vat.csv`,
//!    `closures.csv`, `events.csv`, `manifest.json`, `manifest.sig` ([`ENTRY_NAMES`]); the
//!    first local header is at offset 0, each entry is a local header, its data, and the next
//!    local header follows the data's last byte;
//! 2. the central directory: one header per entry, same order, no gap;
//! 3. only when the central directory's offset or size exceeds 0xFFFFFFFF: the ZIP64
//!    end-of-central-directory record (56 bytes) and its locator (20 bytes);
//! 4. the end-of-central-directory record (22 bytes), without comment, as the file's last bytes.
//!
//! Every entry has the same compression method: 0 (stored: the data is the content, its
//! compressed and uncompressed sizes equal) in archives of format 1, 8 (Deflate: the data is one
//! raw Deflate stream that ends exactly at the data's last byte, which the reader checks as it
//! inflates) in archives of format 2.
//!
//! Local header (30 bytes, then the name and the extra field): signature `50 4b 03 04`; version
//! needed 45; flags 0 (no encryption, no data descriptor, ASCII name); the method;
//! modification time 0 and date 0x0021 (1980-01-01 00:00:00, fixed); the CRC-32 of the data
//! (as in the central directory); compressed and uncompressed sizes 0xFFFFFFFF (the real sizes
//! are in the ZIP64 extra field); the name's length; the extra field's length (20, or 28 when
//! the header starts at or beyond offset 0xFFFFFFFF).
//!
//! Extra field (local and central, byte for byte the same): a single ZIP64 field, tag 0x0001,
//! data size 16 (or 24): uncompressed size (u64), compressed size (u64), and, only when the
//! local header's offset is 0xFFFFFFFF or more, that offset (u64).
//!
//! Central directory header (46 bytes, then name and extra field, no comment): signature
//! `50 4b 01 02`; version made by 0x032D (Unix, 4.5); version needed 45; flags 0; the method;
//! time 0, date 0x0021; CRC-32; sizes 0xFFFFFFFF; name length; extra length (as in the local
//! header); comment length 0; disk 0; internal attributes 0; external attributes 0x81A40000
//! (a regular file, mode 0644); the local header's offset, or 0xFFFFFFFF when it is
//! 0xFFFFFFFF or more (then it is in the extra field).
//!
//! ZIP64 end-of-central-directory record (when present): signature `50 4b 06 06`; record size
//! 44; version made by 45; version needed 45; disks 0 and 0; entries 11 and 11; the central
//! directory's size and offset (u64). Its locator: signature `50 4b 06 07`; disk 0; the
//! record's offset (u64); total disks 1.
//!
//! End of central directory: signature `50 4b 05 06`; disks 0 and 0; entries 11 and 11; the
//! central directory's size and offset (each 0xFFFFFFFF when it does not fit in 32 bits);
//! comment length 0.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use zip::write::SimpleFileOptions;

/// The entries of an archive, in the order they are written.
pub const ENTRY_NAMES: [&str; 11] = [
    "README.txt",
    "records.jsonl",
    "references.jsonl",
    "tickets.csv",
    "lines.csv",
    "payments.csv",
    "vat.csv",
    "closures.csv",
    "events.csv",
    "manifest.json",
    "manifest.sig",
];

const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const LOCAL_LEN: u64 = 30;
const CENTRAL_LEN: usize = 46;
const EOCD_LEN: u64 = 22;
const ZIP64_EOCD_LEN: u64 = 56;
const ZIP64_LOCATOR_LEN: u64 = 20;
const MAX32: u64 = 0xFFFF_FFFF;
const VERSION: u64 = 45;
const VERSION_MADE_BY: u64 = 0x0300 | VERSION;
const METHOD_STORED: u64 = 0;
const METHOD_DEFLATED: u64 = 8;
const DOS_TIME: u64 = 0;
const DOS_DATE: u64 = 0x0021;
const EXTERNAL_ATTRIBUTES: u64 = 0o100644 << 16;
const ZIP64_TAG: u16 = 0x0001;
/// Far more than 11 central headers with the expected names need.
const MAX_CENTRAL_DIRECTORY: u64 = 64 << 10;

/// The options of every entry the exporter writes: Deflate, ZIP64 sizes, a fixed time and fixed
/// permissions, so that the structure does not depend on when or where it was written.
/// Deflate, because archives are kept for years and sent to auditors: record lines and CSV
/// views shrink about sevenfold (BENCHMARKS.md), and every ZIP tool inflates them. A Deflate
/// stream leaves its encoder some freedom (block boundaries, the unused bits of its last byte)
/// that the content's hashes do not cover; the reader checks that each stream ends exactly at
/// its data's last byte, and the journal's `archive` record holds the whole file's SHA-256.
pub(crate) fn entry_options() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(ENTRY_COMPRESSION_LEVEL))
        .large_file(true)
        .last_modified_time(zip::DateTime::default())
        .unix_permissions(0o644)
}

/// The Deflate level of the entries written (1 fastest to 9 smallest): level 1 made the
/// 1,000,000-record benchmark archive in about the time a stored one took, a few percent larger
/// than level 6 (BENCHMARKS.md).
const ENTRY_COMPRESSION_LEVEL: i64 = 1;

/// How the entries' data is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// As is (archive format 1).
    #[default]
    Stored,
    /// One raw Deflate stream per entry (archive format 2).
    Deflated,
}

/// An entry as the headers describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    /// Its name.
    pub name: String,
    /// CRC-32 of its uncompressed data.
    pub crc32: u32,
    /// Size of its compressed data.
    pub compressed_size: u64,
    /// Size of its uncompressed data.
    pub uncompressed_size: u64,
    /// Offset of its local header.
    pub header_offset: u64,
    /// Offset of its data.
    pub data_offset: u64,
}

/// What the check found: the entries it could read, and every way the file differs from the
/// accepted structure (empty when it has exactly that structure).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZipStructure {
    /// The entries of the central directory whose headers could be read, in order.
    pub entries: Vec<ZipEntry>,
    /// Each difference, in plain words.
    pub problems: Vec<String>,
    /// The entries' compression method (the first entry's, which every other must share).
    pub compression: Compression,
}

/// Checks the archive file at `path`. Fails only when the file cannot be read.
pub fn check_file(path: &Path) -> std::io::Result<ZipStructure> {
    let mut file = std::fs::File::open(path)?;
    check(&mut file)
}

/// Checks the bytes of an archive. Fails only on an I/O error: everything else is a problem in
/// the result.
pub fn check<R: Read + Seek>(reader: &mut R) -> std::io::Result<ZipStructure> {
    let mut c = Checker {
        r: reader,
        len: 0,
        out: ZipStructure::default(),
    };
    c.len = c.r.seek(SeekFrom::End(0))?;
    c.run()?;
    Ok(c.out)
}

fn le(bytes: &[u8], at: usize, width: usize) -> u64 {
    bytes[at..at + width]
        .iter()
        .rev()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// A fixed-size block read from the file, with its fields compared to the expected values.
struct Block<'a> {
    bytes: &'a [u8],
    what: String,
    problems: &'a mut Vec<String>,
}

impl Block<'_> {
    fn get(&self, at: usize, width: usize) -> u64 {
        le(self.bytes, at, width)
    }

    /// Reports the field at `at` unless it holds `expected`; returns whether it does.
    fn expect(&mut self, field: &str, at: usize, width: usize, expected: u64) -> bool {
        let found = self.get(at, width);
        if found != expected {
            let digits = width * 2;
            self.problems.push(format!(
                "{}: {field} is 0x{found:0digits$x}, expected 0x{expected:0digits$x}",
                self.what
            ));
        }
        found == expected
    }
}

struct Checker<'r, R> {
    r: &'r mut R,
    len: u64,
    out: ZipStructure,
}

/// A central directory header's facts.
struct Central {
    name: Vec<u8>,
    extra: Vec<u8>,
    crc32: u32,
    compressed: u64,
    uncompressed: u64,
    offset: u64,
}

impl<R: Read + Seek> Checker<'_, R> {
    /// The method every entry must have: the first entry's, stored or Deflate.
    fn method(&self) -> u64 {
        match self.out.compression {
            Compression::Stored => METHOD_STORED,
            Compression::Deflated => METHOD_DEFLATED,
        }
    }

    fn problem(&mut self, p: String) {
        self.out.problems.push(p);
    }

    fn read_at(&mut self, offset: u64, n: u64) -> std::io::Result<Vec<u8>> {
        self.r.seek(SeekFrom::Start(offset))?;
        let mut buf = vec![0u8; n as usize];
        self.r.read_exact(&mut buf)?;
        Ok(buf)
    }

    fn block<'a>(&'a mut self, bytes: &'a [u8], what: String) -> Block<'a> {
        Block {
            bytes,
            what,
            problems: &mut self.out.problems,
        }
    }

    fn run(&mut self) -> std::io::Result<()> {
        let n = ENTRY_NAMES.len() as u64;
        if self.len < EOCD_LEN {
            self.problem(format!(
                "the file is {} bytes long: not a ZIP archive",
                self.len
            ));
            return Ok(());
        }
        let eocd_at = self.len - EOCD_LEN;
        let eocd = self.read_at(eocd_at, EOCD_LEN)?;
        if le(&eocd, 0, 4) != u64::from(EOCD_SIG) {
            let found = self.find_eocd()?;
            self.problem(match found {
                Some(at) => format!(
                    "{} bytes follow the end-of-central-directory record (at offset {at}): a \
                     comment or trailing data",
                    self.len - at - EOCD_LEN
                ),
                None => "no end-of-central-directory record at the end of the file".into(),
            });
            return Ok(());
        }
        let (cd_size32, cd_offset32) = (le(&eocd, 12, 4), le(&eocd, 16, 4));
        {
            let mut b = self.block(&eocd, "end-of-central-directory record".into());
            b.expect("disk number", 4, 2, 0);
            b.expect("central directory disk", 6, 2, 0);
            b.expect("entries on this disk", 8, 2, n);
            b.expect("entries", 10, 2, n);
            b.expect("comment length", 20, 2, 0);
        }

        // The ZIP64 records, when the 32-bit fields cannot hold the central directory's place.
        let locator_at = eocd_at.checked_sub(ZIP64_LOCATOR_LEN);
        let has_locator = match locator_at {
            Some(at) => le(&self.read_at(at, 4)?, 0, 4) == u64::from(ZIP64_LOCATOR_SIG),
            None => false,
        };
        let zip64 = has_locator || cd_size32 == MAX32 || cd_offset32 == MAX32;
        let (cd_offset, cd_size, cd_end_expected) = if zip64 {
            let Some(record_at) = eocd_at.checked_sub(ZIP64_LOCATOR_LEN + ZIP64_EOCD_LEN) else {
                self.problem("the file is too short for its ZIP64 records".into());
                return Ok(());
            };
            let locator = self.read_at(record_at + ZIP64_EOCD_LEN, ZIP64_LOCATOR_LEN)?;
            {
                let mut b = self.block(&locator, "ZIP64 end-of-central-directory locator".into());
                if !b.expect("signature", 0, 4, u64::from(ZIP64_LOCATOR_SIG)) {
                    return Ok(());
                }
                b.expect("central directory disk", 4, 4, 0);
                b.expect("record offset", 8, 8, record_at);
                b.expect("total disks", 16, 4, 1);
            }
            let record = self.read_at(record_at, ZIP64_EOCD_LEN)?;
            let (cd_size, cd_offset) = (le(&record, 40, 8), le(&record, 48, 8));
            {
                let mut b = self.block(&record, "ZIP64 end-of-central-directory record".into());
                if !b.expect("signature", 0, 4, u64::from(ZIP64_EOCD_SIG)) {
                    return Ok(());
                }
                b.expect("record size", 4, 8, ZIP64_EOCD_LEN - 12);
                b.expect("version made by", 12, 2, VERSION);
                b.expect("version needed", 14, 2, VERSION);
                b.expect("disk number", 16, 4, 0);
                b.expect("central directory disk", 20, 4, 0);
                b.expect("entries on this disk", 24, 8, n);
                b.expect("entries", 32, 8, n);
            }
            if cd_size.max(cd_offset) <= MAX32 {
                self.problem(
                    "ZIP64 end-of-central-directory records are present but the central \
                     directory's size and offset fit in 32 bits"
                        .into(),
                );
            }
            (cd_offset, cd_size, record_at)
        } else {
            (cd_offset32, cd_size32, eocd_at)
        };
        {
            let mut b = self.block(&eocd, "end-of-central-directory record".into());
            b.expect("central directory size", 12, 4, cd_size.min(MAX32));
            b.expect("central directory offset", 16, 4, cd_offset.min(MAX32));
        }
        if cd_offset.checked_add(cd_size) != Some(cd_end_expected) {
            self.problem(format!(
                "the central directory (offset {cd_offset}, {cd_size} bytes) does not end where \
                 the end records begin (offset {cd_end_expected})"
            ));
        }
        if cd_size > MAX_CENTRAL_DIRECTORY || cd_offset.saturating_add(cd_size) > self.len {
            self.problem(format!(
                "the central directory (offset {cd_offset}, {cd_size} bytes) is not within the \
                 file or is far too large"
            ));
            return Ok(());
        }
        let cd = self.read_at(cd_offset, cd_size)?;
        let centrals = self.central_directory(&cd);
        self.local_headers(&centrals, cd_offset)
    }

    /// Looks for an end-of-central-directory record before the last 22 bytes (the comment can
    /// be up to 65,535 bytes long).
    fn find_eocd(&mut self) -> std::io::Result<Option<u64>> {
        let window = self.len.min(EOCD_LEN + 0xFFFF);
        let start = self.len - window;
        let tail = self.read_at(start, window)?;
        Ok((0..tail.len().saturating_sub(EOCD_LEN as usize - 1))
            .rev()
            .find(|&i| le(&tail, i, 4) == u64::from(EOCD_SIG))
            .map(|i| start + i as u64))
    }

    fn central_directory(&mut self, cd: &[u8]) -> Vec<Central> {
        let mut out = Vec::new();
        let mut pos = 0usize;
        while pos < cd.len() {
            let i = out.len();
            let expected_name = ENTRY_NAMES.get(i).copied();
            if cd.len() - pos < CENTRAL_LEN || le(cd, pos, 4) != u64::from(CENTRAL_SIG) {
                self.problem(format!(
                    "central directory: no header for entry {} at its offset {pos}",
                    i + 1
                ));
                return out;
            }
            let h = &cd[pos..pos + CENTRAL_LEN];
            let (name_len, extra_len, comment_len) = (
                le(h, 28, 2) as usize,
                le(h, 30, 2) as usize,
                le(h, 32, 2) as usize,
            );
            let end = pos + CENTRAL_LEN + name_len + extra_len + comment_len;
            if end > cd.len() {
                self.problem(format!(
                    "central directory: header of entry {} runs past the directory's end",
                    i + 1
                ));
                return out;
            }
            let name = cd[pos + CENTRAL_LEN..pos + CENTRAL_LEN + name_len].to_vec();
            let extra =
                cd[pos + CENTRAL_LEN + name_len..pos + CENTRAL_LEN + name_len + extra_len].to_vec();
            let shown = String::from_utf8_lossy(&name).into_owned();
            match expected_name {
                Some(e) if e.as_bytes() == name.as_slice() => {}
                Some(e) => self.problem(format!(
                    "central directory: entry {} is named {shown:?}, expected {e:?}",
                    i + 1
                )),
                None => self.problem(format!(
                    "central directory: unexpected entry {} named {shown:?} (an archive has {} \
                     entries)",
                    i + 1,
                    ENTRY_NAMES.len()
                )),
            }
            let (crc32, size32, usize32, offset32) =
                (le(h, 16, 4), le(h, 20, 4), le(h, 24, 4), le(h, 42, 4));
            let what = format!("central directory header of entry {} ({shown})", i + 1);
            if i == 0 && le(h, 10, 2) == METHOD_DEFLATED {
                self.out.compression = Compression::Deflated;
            }
            let method = self.method();
            {
                let mut b = self.block(h, what.clone());
                b.expect("version made by", 4, 2, VERSION_MADE_BY);
                b.expect("version needed", 6, 2, VERSION);
                b.expect("flags", 8, 2, 0);
                b.expect("compression method", 10, 2, method);
                b.expect("modification time", 12, 2, DOS_TIME);
                b.expect("modification date", 14, 2, DOS_DATE);
                b.expect("compressed size", 20, 4, MAX32);
                b.expect("uncompressed size", 24, 4, MAX32);
                b.expect("comment length", 32, 2, 0);
                b.expect("disk number", 34, 2, 0);
                b.expect("internal attributes", 36, 2, 0);
                b.expect("external attributes", 38, 4, EXTERNAL_ATTRIBUTES);
            }
            let (uncompressed, compressed, offset) =
                self.zip64_extra(&extra, &what, size32, usize32, offset32);
            out.push(Central {
                name,
                extra,
                crc32: crc32 as u32,
                compressed,
                uncompressed,
                offset,
            });
            pos = end;
        }
        if out.len() < ENTRY_NAMES.len() {
            let missing: Vec<&str> = ENTRY_NAMES[out.len()..].to_vec();
            self.problem(format!(
                "central directory: {} entries instead of {}; missing {}",
                out.len(),
                ENTRY_NAMES.len(),
                missing.join(", ")
            ));
        }
        out
    }

    /// Reads the ZIP64 extra field of a central header: returns the uncompressed size, the
    /// compressed size and the local header's offset.
    fn zip64_extra(
        &mut self,
        extra: &[u8],
        what: &str,
        size32: u64,
        usize32: u64,
        offset32: u64,
    ) -> (u64, u64, u64) {
        let with_offset = offset32 == MAX32;
        let data_len = if with_offset { 24 } else { 16 };
        let ok = extra.len() == 4 + data_len
            && le(extra, 0, 2) == u64::from(ZIP64_TAG)
            && le(extra, 2, 2) == data_len as u64;
        if !ok {
            self.problem(format!(
                "{what}: the extra field is not a single ZIP64 field of {data_len} bytes"
            ));
            return (usize32, size32, offset32);
        }
        let (uncompressed, compressed) = (le(extra, 4, 8), le(extra, 12, 8));
        let offset = if with_offset {
            let o = le(extra, 20, 8);
            if o < MAX32 {
                self.problem(format!(
                    "{what}: the local header offset {o} is in the ZIP64 field but fits in 32 bits"
                ));
            }
            o
        } else {
            offset32
        };
        (uncompressed, compressed, offset)
    }

    fn local_headers(&mut self, centrals: &[Central], cd_offset: u64) -> std::io::Result<()> {
        let mut expected_at = 0u64;
        let mut previous = String::from("the start of the file");
        for (i, c) in centrals.iter().enumerate() {
            let shown = String::from_utf8_lossy(&c.name).into_owned();
            if c.offset != expected_at {
                self.problem(if c.offset > expected_at {
                    format!(
                        "{} bytes between {previous} and the local header of entry {} ({shown})",
                        c.offset - expected_at,
                        i + 1
                    )
                } else {
                    format!(
                        "the local header of entry {} ({shown}) at offset {} overlaps {previous}",
                        i + 1,
                        c.offset
                    )
                });
            }
            if c.compressed != c.uncompressed && self.out.compression == Compression::Stored {
                // Stored entries: the data is the content itself.
                self.problem(format!(
                    "entry {} ({shown}): {} bytes of data for {} bytes of content in a stored entry",
                    i + 1,
                    c.compressed,
                    c.uncompressed
                ));
            }
            let header_len = LOCAL_LEN + c.name.len() as u64 + c.extra.len() as u64;
            let data_end = c
                .offset
                .checked_add(header_len)
                .and_then(|d| d.checked_add(c.compressed));
            let Some(data_end) = data_end.filter(|&e| e <= cd_offset) else {
                self.problem(format!(
                    "entry {} ({shown}): its local header and data (offset {}, {} bytes of \
                     data) run into the central directory or past the end of the file",
                    i + 1,
                    c.offset,
                    c.compressed
                ));
                return Ok(());
            };
            let local = self.read_at(c.offset, header_len)?;
            let what = format!("local header of entry {} ({shown})", i + 1);
            let method = self.method();
            {
                let mut b = self.block(&local, what.clone());
                if !b.expect("signature", 0, 4, u64::from(LOCAL_SIG)) {
                    expected_at = data_end;
                    previous = format!("entry {} ({shown})", i + 1);
                    continue;
                }
                b.expect("version needed", 4, 2, VERSION);
                b.expect("flags", 6, 2, 0);
                b.expect("compression method", 8, 2, method);
                b.expect("modification time", 10, 2, DOS_TIME);
                b.expect("modification date", 12, 2, DOS_DATE);
                b.expect(
                    "CRC-32 (as in the central directory)",
                    14,
                    4,
                    u64::from(c.crc32),
                );
                b.expect("compressed size", 18, 4, MAX32);
                b.expect("uncompressed size", 22, 4, MAX32);
                b.expect("name length", 26, 2, c.name.len() as u64);
                b.expect("extra field length", 28, 2, c.extra.len() as u64);
            }
            let name_end = LOCAL_LEN as usize + c.name.len();
            if local[LOCAL_LEN as usize..name_end] != c.name[..] {
                self.problem(format!(
                    "{what}: the name differs from the central directory's"
                ));
            }
            if local[name_end..] != c.extra[..] {
                self.problem(format!(
                    "{what}: the extra field (sizes) differs from the central directory's"
                ));
            }
            self.out.entries.push(ZipEntry {
                name: shown.clone(),
                crc32: c.crc32,
                compressed_size: c.compressed,
                uncompressed_size: c.uncompressed,
                header_offset: c.offset,
                data_offset: c.offset + header_len,
            });
            expected_at = data_end;
            previous = format!("entry {} ({shown})", i + 1);
        }
        if expected_at != cd_offset && centrals.len() == ENTRY_NAMES.len() {
            self.problem(format!(
                "{} bytes between {previous} and the central directory",
                cd_offset.saturating_sub(expected_at)
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use zip::ZipWriter;

    /// An archive with the exporter's names and options and small contents.
    fn small_archive(options: impl Fn(&str) -> SimpleFileOptions, names: &[&str]) -> Vec<u8> {
        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        for (i, name) in names.iter().enumerate() {
            zip.start_file(*name, options(name)).unwrap();
            zip.write_all(format!("{name}: {}\n", "x".repeat(i * 7)).as_bytes())
                .unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    fn exporter_archive() -> Vec<u8> {
        small_archive(|_| entry_options(), &ENTRY_NAMES)
    }

    /// The options of every entry of a format 1 archive (stored), which are still read.
    fn format1_options() -> SimpleFileOptions {
        entry_options()
            .compression_method(zip::CompressionMethod::Stored)
            .compression_level(None)
    }

    fn problems(bytes: &[u8]) -> Vec<String> {
        check(&mut Cursor::new(bytes)).unwrap().problems
    }

    #[test]
    fn names_are_the_content_files_then_the_manifest() {
        let mut expected: Vec<&str> = super::super::format::CONTENT_FILES.to_vec();
        expected.extend(["manifest.json", "manifest.sig"]);
        assert_eq!(ENTRY_NAMES.to_vec(), expected);
    }

    #[test]
    fn the_exporters_layout_is_accepted_and_described() {
        let bytes = exporter_archive();
        let s = check(&mut Cursor::new(&bytes)).unwrap();
        assert_eq!(s.problems, Vec::<String>::new());
        assert_eq!(
            s.entries
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>(),
            ENTRY_NAMES
        );
        let mut zip = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
        for e in &s.entries {
            let f = zip.by_name(&e.name).unwrap();
            assert_eq!(
                (f.crc32(), f.compressed_size(), f.size(), f.data_start()),
                (
                    e.crc32,
                    e.compressed_size,
                    e.uncompressed_size,
                    e.data_offset
                ),
                "{}",
                e.name
            );
        }
    }

    #[test]
    fn every_bit_of_every_header_is_checked() {
        let bytes = exporter_archive();
        let s = check(&mut Cursor::new(&bytes)).unwrap();
        let in_data = |i: u64| {
            s.entries
                .iter()
                .any(|e| (e.data_offset..e.data_offset + e.compressed_size).contains(&i))
        };
        let mut checked = 0;
        for i in 0..bytes.len() {
            if in_data(i as u64) {
                continue;
            }
            for bit in 0..8 {
                let mut altered = bytes.clone();
                altered[i] ^= 1 << bit;
                assert!(
                    !problems(&altered).is_empty(),
                    "bit {bit} of byte {i} (0x{:02x}) changed unnoticed",
                    bytes[i]
                );
            }
            checked += 1;
        }
        assert!(checked > 1000, "{checked} header bytes");
    }

    #[test]
    fn additions_removals_and_other_options_are_reported_in_format_1() {
        let bytes = small_archive(|_| format1_options(), &ENTRY_NAMES);
        let has = |bytes: &[u8], words: &str| {
            let p = problems(bytes);
            assert!(
                p.iter().any(|p| p.contains(words)),
                "{words:?} not in {p:#?}"
            );
        };
        let mut trailing = bytes.clone();
        trailing.extend_from_slice(b"hidden");
        has(
            &trailing,
            "6 bytes follow the end-of-central-directory record",
        );
        let mut leading = b"MZ".to_vec();
        leading.extend_from_slice(&bytes);
        has(&leading, "does not end where the end records begin");

        let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
        zip.set_comment("a comment");
        for name in ENTRY_NAMES {
            zip.start_file(name, format1_options()).unwrap();
        }
        has(&zip.finish().unwrap().into_inner(), "9 bytes follow");

        let mut names = ENTRY_NAMES.to_vec();
        names.swap(1, 2);
        has(
            &small_archive(|_| format1_options(), &names),
            "entry 2 is named \"references.jsonl\", expected \"records.jsonl\"",
        );
        has(
            &small_archive(|_| format1_options(), &ENTRY_NAMES[..10]),
            "missing manifest.sig",
        );
        let mut names = ENTRY_NAMES.to_vec();
        names.push("extra.txt");
        has(
            &small_archive(|_| format1_options(), &names),
            "unexpected entry 12 named \"extra.txt\"",
        );
        let with = |f: fn(SimpleFileOptions) -> SimpleFileOptions| {
            small_archive(
                move |name| match name {
                    "vat.csv" => f(format1_options()),
                    _ => format1_options(),
                },
                &ENTRY_NAMES,
            )
        };
        has(
            &with(|o| o.large_file(false)),
            "central directory header of entry 7 (vat.csv): version needed is 0x000a",
        );
        has(
            &with(|o| {
                o.compression_method(zip::CompressionMethod::Deflated)
                    .compression_level(Some(1))
            }),
            "entry 7 (vat.csv): compression method is 0x0008, expected 0x0000",
        );
        has(
            &with(|o| o.unix_permissions(0o755)),
            "entry 7 (vat.csv): external attributes is 0x81ed0000, expected 0x81a40000",
        );
        has(
            &with(|o| {
                o.last_modified_time(
                    zip::DateTime::from_date_and_time(2026, 3, 31, 12, 0, 0).unwrap(),
                )
            }),
            "local header of entry 7 (vat.csv): modification time is 0x6000",
        );
        has(
            &bytes[..bytes.len() - 1],
            "no end-of-central-directory record",
        );
        has(&[], "the file is 0 bytes long");
    }

    #[test]
    fn entries_of_a_format_2_archive_are_all_deflated() {
        let bytes = exporter_archive();
        let s = check(&mut Cursor::new(&bytes)).unwrap();
        assert_eq!(
            (s.problems.clone(), s.compression),
            (vec![], Compression::Deflated)
        );
        assert!(s
            .entries
            .iter()
            .all(|e| e.compressed_size != e.uncompressed_size));
        let stored_one = small_archive(
            |name| match name {
                "vat.csv" => format1_options(),
                _ => entry_options(),
            },
            &ENTRY_NAMES,
        );
        let found = problems(&stored_one);
        assert!(
            found
                .iter()
                .any(|p| p
                    .contains("entry 7 (vat.csv): compression method is 0x0000, expected 0x0008")),
            "{found:#?}"
        );
        let format1 = small_archive(|_| format1_options(), &ENTRY_NAMES);
        let s = check(&mut Cursor::new(&format1)).unwrap();
        assert_eq!((s.problems, s.compression), (vec![], Compression::Stored));
    }

    /// A file of `len` bytes, zero but for a few written ranges: a very large archive's
    /// headers without its data.
    struct Sparse {
        len: u64,
        pos: u64,
        parts: Vec<(u64, Vec<u8>)>,
    }

    impl Read for Sparse {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = (buf.len() as u64).min(self.len.saturating_sub(self.pos)) as usize;
            buf[..n].fill(0);
            for (at, bytes) in &self.parts {
                for (i, b) in bytes.iter().enumerate() {
                    let p = at + i as u64;
                    if (self.pos..self.pos + n as u64).contains(&p) {
                        buf[(p - self.pos) as usize] = *b;
                    }
                }
            }
            self.pos += n as u64;
            Ok(n)
        }
    }

    impl Seek for Sparse {
        fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
            self.pos = match to {
                SeekFrom::Start(p) => p,
                SeekFrom::End(d) => self.len.saturating_add_signed(d),
                SeekFrom::Current(d) => self.pos.saturating_add_signed(d),
            };
            Ok(self.pos)
        }
    }

    /// The headers the `zip` crate writes for ZIP64 entries past 4 GiB (records.jsonl holds 5
    /// GiB of stored data), as the module documentation describes them.
    fn huge_archive() -> Sparse {
        let mut parts = Vec::new();
        let mut central = Vec::new();
        let mut at = 0u64;
        for (i, name) in ENTRY_NAMES.iter().enumerate() {
            let size: u64 = if i == 1 { 5 << 30 } else { 100 + i as u64 };
            let mut extra = vec![1, 0, 16, 0];
            // Stored: the uncompressed and compressed sizes are the same.
            extra.extend(size.to_le_bytes());
            extra.extend(size.to_le_bytes());
            if at >= MAX32 {
                extra[2] = 24;
                extra.extend(at.to_le_bytes());
            }
            let crc = 0x1234_5678u32 + i as u32;
            let mut local = Vec::new();
            local.extend(LOCAL_SIG.to_le_bytes());
            local.extend([45, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
            local.extend(crc.to_le_bytes());
            local.extend([0xff; 8]);
            local.extend((name.len() as u16).to_le_bytes());
            local.extend((extra.len() as u16).to_le_bytes());
            local.extend(name.as_bytes());
            local.extend(&extra);
            central.extend(CENTRAL_SIG.to_le_bytes());
            central.extend([45, 3, 45, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
            central.extend(crc.to_le_bytes());
            central.extend([0xff; 8]);
            central.extend((name.len() as u16).to_le_bytes());
            central.extend((extra.len() as u16).to_le_bytes());
            central.extend([0, 0, 0, 0, 0, 0]);
            central.extend(0x81a4_0000u32.to_le_bytes());
            central.extend((at.min(MAX32) as u32).to_le_bytes());
            central.extend(name.as_bytes());
            central.extend(&extra);
            let next = at + local.len() as u64 + size;
            parts.push((at, local));
            at = next;
        }
        let (cd_offset, cd_size) = (at, central.len() as u64);
        parts.push((cd_offset, central));
        let record_at = cd_offset + cd_size;
        let mut tail = Vec::new();
        tail.extend(ZIP64_EOCD_SIG.to_le_bytes());
        tail.extend(44u64.to_le_bytes());
        tail.extend([45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        tail.extend(11u64.to_le_bytes());
        tail.extend(11u64.to_le_bytes());
        tail.extend(cd_size.to_le_bytes());
        tail.extend(cd_offset.to_le_bytes());
        tail.extend(ZIP64_LOCATOR_SIG.to_le_bytes());
        tail.extend(0u32.to_le_bytes());
        tail.extend(record_at.to_le_bytes());
        tail.extend(1u32.to_le_bytes());
        tail.extend(EOCD_SIG.to_le_bytes());
        tail.extend([0, 0, 0, 0, 11, 0, 11, 0]);
        tail.extend((cd_size as u32).to_le_bytes());
        tail.extend(u32::MAX.to_le_bytes());
        tail.extend([0, 0]);
        let len = record_at + tail.len() as u64;
        parts.push((record_at, tail));
        Sparse { len, pos: 0, parts }
    }

    #[test]
    fn zip64_records_past_4_gib_are_accepted_and_checked() {
        let mut huge = huge_archive();
        let s = check(&mut huge).unwrap();
        assert_eq!(s.problems, Vec::<String>::new());
        assert_eq!(s.entries.len(), 11);
        assert!(s.entries[3].header_offset > MAX32);
        assert_eq!(s.entries[1].compressed_size, 5 << 30);

        // Every byte of the end records and of one header past 4 GiB is checked.
        let tail = huge.parts.len() - 1;
        let sizes = [
            (tail, huge.parts[tail].1.len()),
            (tail - 1, huge.parts[tail - 1].1.len()),
            (5, huge.parts[5].1.len()),
        ];
        for (part, len) in sizes {
            for i in 0..len {
                let mut altered = huge_archive();
                altered.parts[part].1[i] ^= 0x10;
                let p = check(&mut altered).unwrap().problems;
                assert!(!p.is_empty(), "part {part} byte {i} changed unnoticed");
            }
        }
        // The same entries without the ZIP64 records are refused.
        let mut no64 = huge_archive();
        let tail = no64.parts.pop().unwrap().1;
        let eocd = tail[tail.len() - 22..].to_vec();
        let at = no64.len - 22 - 76;
        no64.parts.push((at, eocd));
        no64.len = at + 22;
        assert!(!check(&mut no64).unwrap().problems.is_empty());
    }
}
