//! `posd`, the cash-register daemon. Its API, print queue and demo mode arrive with their issue;
//! until then it only says so, and the README's main job is `fill_journal` + `pos-journal verify`.

fn main() {
    eprintln!(
        "posd {}: the daemon is not built yet; run `cargo run --release --example fill_journal` \
         and `pos-journal verify` instead (see README.md)",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
