//! What each record says about itself, checked in parallel: its hash, its body (canonical
//! form, fields, a ticket's arithmetic) and its signature (same-key batches for Ed25519, one by
//! one for P-256). Needs nothing of the verifier's state but which key signs each record.

use super::findings::{Item, Problem};
use crate::body::Body;
use crate::canonical::validate_canonical;
use crate::keys::PublicKey;
use crate::record::{Hash, Kind, Record};
use crate::ticket::check_sale_arithmetic;
use pos_format::exact_sale::Checked;
use rayon::prelude::*;

/// Signatures verified in one batch. Larger batches cost less per signature (about 12 % less
/// at 1024 than at 256; an archive's blocks of about 2,400 records, checked in two batches of
/// 1,200 rather than four of 600, took 3 % less CPU). A failed batch is checked again one
/// signature at a time, which only a damaged journal pays for.
pub const SIGNATURE_BATCH: usize = 2048;

/// What the parallel phase learned about one record.
#[derive(Default)]
pub(crate) struct Pre {
    pub(crate) computed_hash: Option<Hash>,
    pub(crate) body: Option<Body>,
    pub(crate) problems: Vec<(Problem, String)>,
    pub(crate) signature_ok: Option<bool>,
}

/// Which key must have signed each record of a chunk (`None`: signatures are not checked),
/// and the records that name another key.
#[derive(Default)]
pub(crate) struct KeyAssignment {
    pub(crate) keys: Option<Vec<Option<PublicKey>>>,
    pub(crate) problems: Vec<(usize, Problem, String)>,
}

/// Steps 1 and 3 (in parallel, on the rayon pool): what each record says about itself. Needs
/// nothing of the verifier's state but its options, so that it can run while the previous
/// chunk is checked in order. `hashes`, when not empty, are the items' hashes as the reader
/// computed them.
pub(crate) fn prepare(
    chunk: &[Item],
    hashes: &[Option<Hash>],
    keys: KeyAssignment,
    bodies: bool,
) -> Vec<Pre> {
    let mut pre: Vec<Pre> = chunk
        .par_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Ok(r) => pre_check(r, hashes.get(i).copied(), bodies),
            Err(_) => Pre::default(),
        })
        .collect();
    for (i, problem, detail) in keys.problems {
        pre[i].problems.push((problem, detail));
    }
    if let Some(keys) = keys.keys {
        verify_signatures(chunk, &keys, &mut pre);
    }
    pre
}

/// Step 1 for one record; `hashed` is its hash if the reader computed it.
fn pre_check(r: &Record, hashed: Option<Option<Hash>>, bodies: bool) -> Pre {
    let mut pre = Pre {
        computed_hash: hashed.unwrap_or_else(|| r.computed_hash()),
        ..Pre::default()
    };
    if !bodies {
        return pre;
    }
    let known = r.known_kind();
    // A sale in the journal's exact layout is canonical by construction, decoded and checked
    // in one pass, without copying its text when it is consistent; anything else takes the
    // general path (canonical check, then serde).
    let exact = match known {
        Some(kind @ (Kind::Sale | Kind::Training)) => {
            pos_format::exact_sale::decode_checked(&r.body).map(|checked| (kind, checked))
        }
        _ => None,
    };
    if let Some((kind, checked)) = exact {
        let wrap = if kind == Kind::Sale {
            Body::Sale
        } else {
            Body::Training
        };
        pre.body = Some(wrap(match checked {
            Checked::Consistent(body) => body,
            Checked::Inconsistent(body, e) => {
                pre.problems
                    .push((Problem::TicketInconsistent, e.to_string()));
                body
            }
        }));
        return pre;
    }
    if let Err(e) = validate_canonical(&r.body) {
        pre.problems
            .push((Problem::NonCanonicalBody, e.to_string()));
        return pre;
    }
    let Some(kind) = known else {
        return pre;
    };
    match Body::decode(kind, &r.body) {
        Ok(body) => checked_body(pre, body),
        Err(e) => {
            pre.problems.push((Problem::MalformedBody, e.to_string()));
            pre
        }
    }
}

/// Step 1's checks of a decoded body that need nothing but the body.
fn checked_body(mut pre: Pre, mut body: Body) -> Pre {
    if let Body::Sale(s) | Body::Training(s) = &mut body {
        // Rates in force are checked in order (they can change mid-chunk); here the ticket is
        // recomputed with its own rates.
        match check_sale_arithmetic(s) {
            // The in-order phase needs only a consistent sale's totals: its lines and their
            // text are freed here, by the thread that decoded them. Its VAT breakdown, equal to
            // the recomputed one, names every rate of its lines.
            Ok(()) => drop((
                std::mem::take(&mut s.lines),
                std::mem::take(&mut s.operator),
            )),
            Err(e) => pre
                .problems
                .push((Problem::TicketInconsistent, e.to_string())),
        }
    }
    pre.body = Some(body);
    pre
}

/// The batch size for `jobs` signatures on `threads` threads: at most [`SIGNATURE_BATCH`], in
/// a number of batches that the threads share evenly. 2,400 signatures in batches of 1024 left
/// one core idle while the last 352 were checked.
pub(crate) fn balanced_batch(jobs: usize, threads: usize) -> usize {
    let batches = jobs
        .div_ceil(SIGNATURE_BATCH)
        .next_multiple_of(threads.max(1))
        .max(1);
    jobs.div_ceil(batches).max(1)
}

fn verify_signatures(chunk: &[Item], keys: &[Option<PublicKey>], pre: &mut [Pre]) {
    // Only records with a key and a computable hash take part; the signed message is the
    // recomputed hash, so an altered record cannot pass with its old signature.
    let jobs: Vec<(usize, Hash, &[u8; 64], &PublicKey)> = chunk
        .iter()
        .zip(keys)
        .zip(pre.iter())
        .enumerate()
        .filter_map(|(i, ((item, key), p))| {
            let r = item.as_ref().ok()?;
            Some((i, p.computed_hash?, &r.signature, key.as_ref()?))
        })
        .collect();
    let results: Vec<(usize, bool)> = jobs
        .par_chunks(balanced_batch(jobs.len(), rayon::current_num_threads()))
        .flat_map_iter(|batch| {
            // Runs signed by one key (a journal changes keys rarely) are checked as one
            // same-key batch where the algorithm allows it (Ed25519); a failed run is checked
            // signature by signature to name the bad ones. ECDSA has no batch equation: its
            // signatures are checked one by one, still in parallel across batches.
            let mut out = Vec::with_capacity(batch.len());
            for run in batch.chunk_by(|a, b| a.3 == b.3) {
                let all_ok = match run[0].3.as_ed25519() {
                    Some(key) => {
                        let signatures: Vec<ed25519_dalek::Signature> = run
                            .iter()
                            .map(|j| ed25519_dalek::Signature::from_bytes(j.2))
                            .collect();
                        let items: Vec<(&[u8], &ed25519_dalek::Signature)> = run
                            .iter()
                            .zip(&signatures)
                            .map(|(j, s)| (&j.1[..], s))
                            .collect();
                        crate::batch::verify_same_key(key, &items)
                    }
                    None => false,
                };
                out.extend(run.iter().map(|j| (j.0, all_ok || j.3.verify(&j.1, j.2))));
            }
            out
        })
        .collect();
    for (i, ok) in results {
        pre[i].signature_ok = Some(ok);
    }
}
