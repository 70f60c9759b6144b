//! "Did you mean" for every message of jrun: one edit distance, and one rule for a likely typo.

/// Edit distance between two names, ignoring case: insertions, deletions, substitutions and
/// swaps of two adjacent characters each count one (a swap is the commonest typo).
fn distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(&a.to_lowercase(), &b.to_lowercase())
}

/// The candidate closest to `word`, however far: for messages that always name one.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The candidate close enough to `word` to be a likely typo of it, for "did you mean".
///
/// The one rule for every such hint: at most one edit per three characters of the longer of
/// the two names, and always at least one edit. `word` itself is no suggestion.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let near = closest(word, candidates)?;
    let limit = (word.chars().count().max(near.chars().count()) / 3).max(1);
    (distance(word, near) <= limit && near != word).then_some(near)
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
        assert_eq!(nearest("verison", ["version", "vars"]), Some("version"));
        assert_eq!(nearest("biuld", ["build", "test"]), Some("build"));
        assert_eq!(nearest("xyz", ["build", "test"]), None);
        assert_eq!(nearest("build", ["build"]), None);
    }

    #[test]
    fn case_is_ignored_and_a_swap_is_one_edit() {
        let known = ["VERSION", "REGION", "DRY_RUN"];
        assert_eq!(nearest("VERSOIN", known), Some("VERSION"));
        assert_eq!(nearest("region", known), Some("REGION"));
        assert_eq!(nearest("COLOUR", known), None);
        assert_eq!(nearest("ab", ["ba"]), Some("ba"));
    }

    #[test]
    fn closest_always_names_something_when_there_is_a_candidate() {
        assert_eq!(closest("zzz", ["version"]), Some("version"));
        assert_eq!(closest("zzz", []), None);
    }

    #[test]
    fn long_lists_are_cut() {
        let names: Vec<String> = (0..25).map(|i| format!("s{i}")).collect();
        let text = list(names.iter().map(String::as_str));
        assert!(text.ends_with("s19 and 5 more"), "{text}");
    }
}
