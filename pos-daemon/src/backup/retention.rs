//! Which snapshots to keep (pure): the newest good snapshot of each of the last `daily` days
//! and of each of the last `monthly` months, the newest good one of every year, and always
//! the newest good one. A snapshot that failed its check is dropped once a newer one is good;
//! one not checked yet (being checked) is never dropped.

use std::collections::BTreeSet;

/// A snapshot as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Its name.
    pub name: String,
    /// Its local date, `YYYY-MM-DD`.
    pub date: String,
    /// When it was taken (ordering).
    pub created_ms: i64,
    /// `Some(true)`: checked good; `Some(false)`: checked bad; `None`: not checked.
    pub good: Option<bool>,
}

/// The names of the snapshots to delete.
pub fn to_delete(candidates: &[Candidate], daily: u32, monthly: u32) -> Vec<String> {
    let mut good: Vec<&Candidate> = candidates.iter().filter(|c| c.good == Some(true)).collect();
    // Newest first.
    good.sort_by_key(|c| std::cmp::Reverse(c.created_ms));
    let mut keep = BTreeSet::new();
    if let Some(newest) = good.first() {
        keep.insert(newest.name.clone());
    }
    let mut keep_newest_of = |period: &dyn Fn(&str) -> String, limit: Option<u32>| {
        let mut seen = BTreeSet::new();
        for c in &good {
            let p = period(&c.date);
            if seen.contains(&p) {
                continue;
            }
            if limit.is_some_and(|l| seen.len() >= l as usize) {
                break;
            }
            seen.insert(p);
            keep.insert(c.name.clone());
        }
    };
    keep_newest_of(&|d| d.to_string(), Some(daily));
    keep_newest_of(&|d| d.get(..7).unwrap_or(d).to_string(), Some(monthly));
    keep_newest_of(&|d| d.get(..4).unwrap_or(d).to_string(), None);
    let newest_good_ms = good.first().map(|c| c.created_ms);
    candidates
        .iter()
        .filter(|c| match c.good {
            Some(true) => !keep.contains(&c.name),
            // A bad snapshot stays until a newer one is good: it is what there is.
            Some(false) => newest_good_ms.is_some_and(|ms| ms > c.created_ms),
            None => false,
        })
        .map(|c| c.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(name: &str, date: &str, ms: i64, good: Option<bool>) -> Candidate {
        Candidate {
            name: name.into(),
            date: date.into(),
            created_ms: ms,
            good,
        }
    }

    /// Two a day over 400 days: 7 daily, 12 monthly and the yearly ones stay, the newest of
    /// each; nothing else.
    #[test]
    fn keeps_the_newest_of_each_day_month_and_year() {
        let start = chrono::NaiveDate::from_ymd_opt(2025, 11, 1).expect("date");
        let mut all = Vec::new();
        for day in 0..400i64 {
            let date = (start + chrono::Duration::days(day)).to_string();
            for half in 0..2 {
                let ms = day * 86_400_000 + half * 43_200_000;
                all.push(snap(&format!("s{day}-{half}"), &date, ms, Some(true)));
            }
        }
        let gone: BTreeSet<String> = to_delete(&all, 7, 12).into_iter().collect();
        let kept: Vec<&Candidate> = all.iter().filter(|c| !gone.contains(&c.name)).collect();
        // Only the second snapshot of a day is kept.
        assert!(kept.iter().all(|c| c.name.ends_with("-1")), "{kept:?}");
        let days: BTreeSet<&str> = kept.iter().map(|c| c.date.as_str()).collect();
        // The last 7 days, the newest of each of 12 months, and of each year.
        let last = (start + chrono::Duration::days(399)).to_string();
        assert!(days.contains(last.as_str()));
        for back in 0..7 {
            let d = (start + chrono::Duration::days(399 - back)).to_string();
            assert!(days.contains(d.as_str()), "{d} kept");
        }
        assert!(days.contains("2025-12-31"), "the newest of 2025");
        assert!(
            days.contains("2026-11-30"),
            "a month end within the 12 months"
        );
        assert!(
            !days.contains("2025-11-30"),
            "a month end beyond the 12 months"
        );
        // 7 days (2026-11-29 to 2026-12-05), 10 more month ends (2026-01 to 2026-10) and
        // 2025's last day.
        assert_eq!(kept.len(), 18, "{days:?}");
    }

    /// The newest good snapshot is kept whatever the settings; bad ones go once a newer one
    /// is good; unchecked ones stay.
    #[test]
    fn never_deletes_the_last_good_one() {
        let all = vec![
            snap("a", "2026-01-01", 1, Some(true)),
            snap("b", "2026-01-02", 2, Some(false)),
            snap("c", "2026-01-03", 3, None),
        ];
        assert!(to_delete(&all, 0, 0).is_empty(), "a is the last good one");
        let all = vec![
            snap("a", "2026-01-01", 1, Some(true)),
            snap("b", "2026-01-02", 2, Some(false)),
            snap("c", "2026-01-03", 3, Some(true)),
            snap("d", "2026-01-04", 4, Some(false)),
        ];
        let gone = to_delete(&all, 0, 0);
        // c is the newest good one (and 2026's): a goes; b goes (c is newer and good); d
        // stays (no good one after it).
        assert_eq!(gone, vec!["a".to_string(), "b".to_string()]);
    }
}
