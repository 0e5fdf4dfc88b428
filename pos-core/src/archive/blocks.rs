//! An archive entry read in blocks of whole lines (`records.jsonl`), or whole (the other files).
//!
//! An entry stored at a known place in the file (the archive's exact structure, see
//! [`super::zipcheck`]) is mapped from the page cache block by block: the kernel does not copy
//! it. A deflated one (archives of format 2) is inflated as it is read, with its CRC-32 checked
//! and its Deflate stream required to end exactly at the data's last byte (no byte of the file
//! goes unchecked). `records.jsonl` is read twice (once to find the originals that refunds name, once to
//! check the records); mapping took 0.6 to 1.1 s off the 9.6 s that a 1,000,000-record archive
//! took to verify, and 30 MB off its peak memory (BENCHMARKS.md). Its CRC-32 is checked against
//! the headers, as the `zip` crate does. Any other entry is read through the `zip` crate.
//!
//! The archive must not change while it is verified: a mapped file that another process
//! truncates ends the verification with a bus error instead of a report.

use memmap2::{Mmap, MmapOptions};
use std::fs::File;
use std::io::Read;
use std::ops::Deref;

/// Bytes of an entry taken at a time (about 2,400 record lines of the usual size).
pub(super) const BLOCK: usize = 4 << 20;

/// Bytes checksummed and then handed to the caller at a time: well within a core's cache.
const CACHED_PIECE: usize = 64 << 10;

/// Where an entry's data lies in the archive file, when it is stored as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StoredEntry {
    /// Offset of its first byte in the file.
    pub offset: u64,
    /// Its size.
    pub len: u64,
    /// The CRC-32 its headers give.
    pub crc32: u32,
}

/// Where a deflated entry's data lies in the archive file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DeflatedEntry {
    /// Offset of its first byte in the file.
    pub offset: u64,
    /// The size of its data (the Deflate stream).
    pub data_len: u64,
    /// The size of its content, inflated.
    pub len: u64,
    /// The CRC-32 of its content, as its headers give it.
    pub crc32: u32,
}

/// Where an entry lies, when the archive has the exact structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    /// Stored as is.
    Stored(StoredEntry),
    /// Deflated.
    Deflated(DeflatedEntry),
}

impl From<StoredEntry> for Place {
    fn from(e: StoredEntry) -> Place {
        Place::Stored(e)
    }
}

/// Bytes of a Deflate stream read from the file at a time.
const DEFLATE_READ: usize = 1 << 20;

/// A block of an entry: mapped from the file, or read into memory.
pub(super) enum Block {
    /// The first `len` bytes of a mapping.
    Mapped {
        /// The mapping.
        map: Mmap,
        /// How many of its bytes belong to the block.
        len: usize,
    },
    /// Bytes read.
    Read(Vec<u8>),
}

impl Deref for Block {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Block::Mapped { map, len } => &map[..*len],
            Block::Read(bytes) => bytes,
        }
    }
}

/// Hands the entry `name` of the archive at `path` to `send` in blocks of about `block_size`
/// bytes, each cut after its last newline (a line longer than a block makes a longer block),
/// until `send` says stop. `read` sees every byte once, in order. `place` says where the entry
/// lies when the archive has the exact structure; without it the entry is read through the
/// `zip` crate. Returns the entry's size, or why it could not be read.
pub(super) fn entry_line_blocks(
    path: &std::path::Path,
    name: &str,
    place: Option<impl Into<Place>>,
    block_size: usize,
    mut read: impl FnMut(&[u8]),
    send: impl FnMut(Block) -> bool,
) -> Result<u64, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    match place.map(Into::into) {
        Some(Place::Deflated(entry)) => inflate_line_blocks(file, entry, block_size, read, send),
        Some(Place::Stored(entry)) => {
            let mut crc = crc32fast::Hasher::new();
            let bytes = map_line_blocks(
                &file,
                entry,
                block_size,
                |b| checksummed(&mut crc, b, &mut read),
                send,
            )?;
            check_crc(crc, entry.crc32)?;
            Ok(bytes)
        }
        None => {
            let mut zip = zip::ZipArchive::new(file).map_err(|e| e.to_string())?;
            let entry = zip.by_name(name).map_err(|e| e.to_string())?;
            read_line_blocks(entry, block_size, read, send)
        }
    }
}

/// [`entry_line_blocks`] for a deflated entry at a known place: its stream is read from the file
/// and inflated; the content's size and CRC-32 must be the headers', and the stream must end
/// exactly at the data's last byte.
fn inflate_line_blocks(
    mut file: File,
    entry: DeflatedEntry,
    block_size: usize,
    mut read: impl FnMut(&[u8]),
    send: impl FnMut(Block) -> bool,
) -> Result<u64, String> {
    use std::io::{Seek, SeekFrom};
    file.seek(SeekFrom::Start(entry.offset))
        .map_err(|e| e.to_string())?;
    let data = std::io::BufReader::with_capacity(DEFLATE_READ, file.take(entry.data_len));
    let mut inflater = flate2::bufread::DeflateDecoder::new(data);
    let mut crc = crc32fast::Hasher::new();
    let bytes = read_line_blocks(
        &mut inflater,
        block_size,
        |b| checksummed(&mut crc, b, &mut read),
        send,
    )?;
    let used = inflater.total_in();
    if used != entry.data_len {
        return Err(format!(
            "its Deflate stream ends after {used} of its {} bytes of data",
            entry.data_len
        ));
    }
    if bytes != entry.len {
        return Err(format!(
            "it inflates to {bytes} bytes but its headers say {}",
            entry.len
        ));
    }
    check_crc(crc, entry.crc32)?;
    Ok(bytes)
}

/// Adds `bytes` to `crc` and hands them to `read` piece by piece, so that `read` finds each
/// piece in the cache where the CRC left it, instead of reading the block from memory again.
fn checksummed(crc: &mut crc32fast::Hasher, bytes: &[u8], read: &mut impl FnMut(&[u8])) {
    for piece in bytes.chunks(CACHED_PIECE) {
        crc.update(piece);
        read(piece);
    }
}

/// Whether an entry's content has the CRC-32 its headers give.
fn check_crc(crc: crc32fast::Hasher, expected: u32) -> Result<(), String> {
    if crc.finalize() == expected {
        Ok(())
    } else {
        Err("Invalid checksum: its CRC-32 does not match its headers".into())
    }
}

/// [`entry_line_blocks`] for an entry at a known place: each block is a mapping of the file.
fn map_line_blocks(
    file: &File,
    entry: StoredEntry,
    block_size: usize,
    mut read: impl FnMut(&[u8]),
    mut send: impl FnMut(Block) -> bool,
) -> Result<u64, String> {
    let file_len = file.metadata().map_err(|e| e.to_string())?.len();
    if entry
        .offset
        .checked_add(entry.len)
        .is_none_or(|end| end > file_len)
    {
        // Mapping past the end of a file gives a bus error on access, never an error value.
        return Err(format!(
            "its {} bytes at offset {} go past the end of the file ({file_len} bytes)",
            entry.len, entry.offset
        ));
    }
    let block_size = block_size.max(1) as u64;
    // The entry's offset of the next block, and how many of its bytes `read` has seen.
    let (mut start, mut seen) = (0u64, 0u64);
    while start < entry.len {
        let mut size = block_size;
        let block = loop {
            let end = start.saturating_add(size).min(entry.len);
            let len = usize::try_from(end - start).map_err(|e| e.to_string())?;
            // SAFETY: the mapping is read only, and within the file's current length (checked
            // above). Like every map of a file, it assumes that no other process truncates or
            // rewrites the archive while it is verified (the module's documentation says so).
            let map = unsafe {
                MmapOptions::new()
                    .offset(entry.offset + start)
                    .len(len)
                    .populate()
                    .map(file)
            }
            .map_err(|e| format!("cannot map it: {e}"))?;
            let _ = map.advise(memmap2::Advice::Sequential);
            if seen < end {
                // Each byte once: a block grown for a long line repeats its start.
                read(&map[(seen - start) as usize..]);
                seen = end;
            }
            let cut = if end == entry.len {
                len
            } else {
                match memchr::memrchr(b'\n', &map) {
                    Some(last) => last + 1,
                    None => {
                        size = size.saturating_mul(2);
                        continue;
                    }
                }
            };
            break Block::Mapped { map, len: cut };
        };
        start += block.len() as u64;
        if !send(block) {
            return Err("verification stopped".into());
        }
    }
    Ok(entry.len)
}

/// Reads `input` in blocks of about `block_size` bytes, each cut after its last newline (the
/// rest starts the next block; a line longer than a block makes a longer block), and hands
/// them to `send` until it says stop. `read` sees every byte once, in order, as it is read.
/// Returns the size of the input.
pub(super) fn read_line_blocks(
    mut input: impl Read,
    block_size: usize,
    mut read: impl FnMut(&[u8]),
    mut send: impl FnMut(Block) -> bool,
) -> Result<u64, String> {
    let mut bytes = 0u64;
    // The start of a line that the previous block cut.
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let mut block = Vec::with_capacity(carry.len() + block_size);
        block.append(&mut carry);
        let before = block.len();
        let n = (&mut input)
            .take(block_size as u64)
            .read_to_end(&mut block)
            .map_err(|e| e.to_string())?;
        read(&block[before..]);
        bytes += n as u64;
        let end_of_input = n == 0;
        // Complete lines only, but everything at the end of the input.
        let cut = match memchr::memrchr(b'\n', &block) {
            _ if end_of_input => block.len(),
            Some(last) => last + 1,
            None => {
                carry = block;
                continue;
            }
        };
        carry = block.split_off(cut);
        if !block.is_empty() && !send(Block::Read(block)) {
            return Err("verification stopped".into());
        }
        if end_of_input {
            return Ok(bytes);
        }
    }
}

/// Where each line of `block` starts and ends (newlines excluded; the last line may lack one).
pub(super) fn line_spans(block: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::with_capacity(block.len() / 1024 + 1);
    let mut start = 0;
    for newline in memchr::memchr_iter(b'\n', block) {
        spans.push((start, newline));
        start = newline + 1;
    }
    if start < block.len() {
        spans.push((start, block.len()));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sha2::{Digest, Sha256};
    use std::io::Write;

    /// The lines as `BufRead::split` gives them, without the empty piece after a final
    /// newline (or of an empty input): what the verifier read before blocks.
    fn lines_one_by_one(input: &[u8]) -> Vec<Vec<u8>> {
        let mut lines = input
            .split(|b| *b == b'\n')
            .map(<[u8]>::to_vec)
            .collect::<Vec<_>>();
        if input.is_empty() || input.last() == Some(&b'\n') {
            lines.pop();
        }
        lines
    }

    fn input_of(lines: &[String], final_newline: bool) -> Vec<u8> {
        let mut input = lines.join("\n").into_bytes();
        if final_newline && !input.is_empty() {
            input.push(b'\n');
        }
        input
    }

    /// A reader's `read` callback.
    type ReadBytes<'a> = &'a mut dyn FnMut(&[u8]);
    /// A reader's `send` callback.
    type SendBlock<'a> = &'a mut dyn FnMut(Block) -> bool;

    /// Runs a reader with callbacks that keep what they are given: the blocks, the bytes `read`
    /// saw, and the size it returns.
    fn collect(
        reader: impl FnOnce(ReadBytes<'_>, SendBlock<'_>) -> Result<u64, String>,
    ) -> (Vec<Vec<u8>>, Vec<u8>, u64) {
        let (mut blocks, mut seen) = (Vec::new(), Vec::new());
        let bytes = reader(&mut |b| seen.extend_from_slice(b), &mut |b| {
            blocks.push(b.to_vec());
            true
        })
        .unwrap();
        (blocks, seen, bytes)
    }

    /// What a reader handed out: the blocks, the bytes `read` saw, the size it returned.
    fn check_blocks(input: &[u8], blocks: &[Vec<u8>], seen: &[u8], bytes: u64) {
        assert_eq!(bytes, input.len() as u64);
        assert_eq!(Sha256::digest(seen), Sha256::digest(input));
        assert_eq!(blocks.concat(), input);
        assert!(blocks.iter().all(|b| !b.is_empty()));
        for b in blocks.iter().take(blocks.len().saturating_sub(1)) {
            assert_eq!(b.last(), Some(&b'\n'));
        }
        let from_blocks: Vec<Vec<u8>> = blocks
            .iter()
            .flat_map(|b| {
                line_spans(b)
                    .into_iter()
                    .map(move |(x, y)| b[x..y].to_vec())
            })
            .collect();
        assert_eq!(from_blocks, lines_one_by_one(input));
    }

    proptest! {
        #[test]
        fn read_blocks_cut_at_line_ends_and_lose_nothing(
            lines in proptest::collection::vec("[a-z\\\\\"]{0,40}", 0..30),
            final_newline in any::<bool>(),
            block_size in 1usize..64,
        ) {
            let input = input_of(&lines, final_newline);
            let (blocks, seen, bytes) =
                collect(|read, send| read_line_blocks(&input[..], block_size, read, send));
            check_blocks(&input, &blocks, &seen, bytes);
        }

        /// The same from a mapped file, the entry between other bytes, with lines longer than
        /// blocks and blocks across page boundaries.
        #[test]
        fn mapped_blocks_cut_at_line_ends_and_lose_nothing(
            lines in proptest::collection::vec("[a-z\\\\\"]{0,3000}", 0..12),
            final_newline in any::<bool>(),
            block_size in 1usize..9000,
            before in 0usize..5000,
            after in 0usize..100,
        ) {
            let input = input_of(&lines, final_newline);
            let mut file = tempfile::tempfile().unwrap();
            file.write_all(&vec![b'\n'; before]).unwrap();
            file.write_all(&input).unwrap();
            file.write_all(&vec![b'x'; after]).unwrap();
            let entry = StoredEntry {
                offset: before as u64,
                len: input.len() as u64,
                crc32: crc32fast::hash(&input),
            };
            let (blocks, seen, bytes) =
                collect(|read, send| map_line_blocks(&file, entry, block_size, read, send));
            check_blocks(&input, &blocks, &seen, bytes);
        }
    }

    #[test]
    fn a_stop_from_the_consumer_ends_the_reading() {
        let input = b"one\ntwo\nthree\n";
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(input).unwrap();
        let entry = StoredEntry {
            offset: 0,
            len: input.len() as u64,
            crc32: crc32fast::hash(input),
        };
        let mut seen = 0;
        let mut stop = |_: Block| {
            seen += 1;
            false
        };
        assert!(read_line_blocks(&input[..], 4, |_| {}, &mut stop).is_err());
        assert!(map_line_blocks(&file, entry, 4, |_| {}, &mut stop).is_err());
        assert_eq!(seen, 2);
    }

    /// Headers whose CRC-32 was changed with the data (both alike, so that the structure
    /// check passes) are still caught.
    #[test]
    fn a_crc_that_does_not_match_the_data_is_reported() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(b"head one\ntwo\n").unwrap();
        let data = b"one\ntwo\n";
        let entry = StoredEntry {
            offset: 5,
            len: data.len() as u64,
            crc32: crc32fast::hash(data),
        };
        let read = |entry| entry_line_blocks(file.path(), "x", Some(entry), 4, |_| {}, |_| true);
        assert_eq!(read(entry), Ok(data.len() as u64));
        let wrong = StoredEntry {
            crc32: entry.crc32 ^ 1,
            ..entry
        };
        let err = read(wrong).unwrap_err();
        assert!(err.contains("CRC-32"), "{err}");
    }

    /// A deflated entry is inflated in line blocks, every content byte seen once; its stream
    /// must end exactly at its data's end, and its size and CRC-32 be its headers'.
    #[test]
    fn a_deflated_entry_is_inflated_and_checked_to_its_last_byte() {
        use std::io::Write as _;
        let content: Vec<u8> = (0..5000)
            .flat_map(|i| format!("{{\"seq\":{i},\"body\":\"line {i}\"}}\n").into_bytes())
            .collect();
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&content).unwrap();
        let stream = encoder.finish().unwrap();
        let write = |extra: &[u8]| {
            let mut file = tempfile::NamedTempFile::new().unwrap();
            file.write_all(b"header").unwrap();
            file.write_all(&stream).unwrap();
            file.write_all(extra).unwrap();
            file.write_all(b"central directory").unwrap();
            file
        };
        let entry = DeflatedEntry {
            offset: 6,
            data_len: stream.len() as u64,
            len: content.len() as u64,
            crc32: crc32fast::hash(&content),
        };
        let inflate = |file: &tempfile::NamedTempFile, entry: DeflatedEntry| {
            let (mut blocks, mut seen) = (Vec::new(), Vec::new());
            let result = entry_line_blocks(
                file.path(),
                "x",
                Some(Place::Deflated(entry)),
                4096,
                |b| seen.extend_from_slice(b),
                |b| {
                    blocks.push(b.to_vec());
                    true
                },
            );
            (result, blocks, seen)
        };
        let file = write(b"");
        let (result, blocks, seen) = inflate(&file, entry);
        assert_eq!(result, Ok(content.len() as u64));
        assert_eq!(seen, content);
        assert!(blocks.len() > 10 && blocks.iter().all(|b| b.ends_with(b"\n")));
        assert_eq!(blocks.concat(), content);

        // One byte hidden after the stream, inside the data its headers give.
        let hidden = write(b"!");
        let longer = DeflatedEntry {
            data_len: entry.data_len + 1,
            ..entry
        };
        let err = inflate(&hidden, longer).0.unwrap_err();
        assert!(err.contains("Deflate stream ends after"), "{err}");
        // The stream cut short, a size or a CRC-32 that are not the content's.
        let shorter = DeflatedEntry {
            data_len: entry.data_len - 10,
            ..entry
        };
        assert!(inflate(&file, shorter).0.is_err());
        let wrong_len = DeflatedEntry {
            len: entry.len + 1,
            ..entry
        };
        assert!(inflate(&file, wrong_len)
            .0
            .unwrap_err()
            .contains("inflates to"));
        let wrong_crc = DeflatedEntry {
            crc32: entry.crc32 ^ 1,
            ..entry
        };
        assert!(inflate(&file, wrong_crc).0.unwrap_err().contains("CRC-32"));
    }

    #[test]
    fn an_entry_past_the_end_of_the_file_is_refused_before_mapping() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"abc\n").unwrap();
        let entry = StoredEntry {
            offset: 2,
            len: 3,
            crc32: 0,
        };
        let err = map_line_blocks(&file, entry, 4, |_| {}, |_| true).unwrap_err();
        assert!(err.contains("past the end of the file"), "{err}");
    }
}
