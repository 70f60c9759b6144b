//! "Did you mean" for messages.

/// Edit distance (insertions, deletions, substitutions, adjacent swaps).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// The candidate closest to `word`, however far.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The candidate close enough to `word` to be a likely typo of it.
pub fn similar<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let near = nearest(word, candidates)?;
    let d = distance(&word.to_lowercase(), &near.to_lowercase());
    let limit = (word.chars().count().max(near.chars().count()) / 3).max(1);
    (d <= limit && near != word).then_some(near)
}

/// `a, b, c`, cut after 20 names.
pub fn list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    const SHOWN: usize = 20;
    let names: Vec<&str> = names.into_iter().collect();
    let mut text = names
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_recognised_and_unrelated_words_are_not() {
        assert_eq!(similar("verison", ["version", "vars"]), Some("version"));
        assert_eq!(similar("biuld", ["build", "test"]), Some("build"));
        assert_eq!(similar("xyz", ["build", "test"]), None);
        assert_eq!(similar("build", ["build"]), None);
    }

    #[test]
    fn nearest_always_names_something_when_there_is_a_candidate() {
        assert_eq!(nearest("zzz", ["version"]), Some("version"));
        assert_eq!(nearest("zzz", []), None);
    }

    #[test]
    fn long_lists_are_cut() {
        let names: Vec<String> = (0..25).map(|i| format!("s{i}")).collect();
        let text = list(names.iter().map(String::as_str));
        assert!(text.ends_with("s19 and 5 more"), "{text}");
    }
}
