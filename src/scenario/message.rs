//! The wording of load errors: "unknown key" messages with a "did you
//! mean" suggestion, and serde's own messages rewritten to match them.
//!
//! A typo in a scenario key is the most common mistake a user makes, and
//! the fix is usually one letter away, so the message names the closest
//! valid key as well as the full list.

/// What a key `<<` is: a YAML merge key, which the YAML reader kubesim
/// uses does not expand (merge keys are YAML 1.1's; kubectl's reader
/// expands them), so it would otherwise read as an unknown key.
pub(crate) const MERGE_KEY: &str = "`<<` is a YAML merge key, which kubesim does not expand \
     (kubectl does): write the merged keys out (an alias of a whole value, `*name`, works)";

/// "unknown WHAT `name` (did you mean `x`?); expected one of `a`, `b`",
/// or [`MERGE_KEY`] for `<<`.
pub(super) fn unknown(what: &str, name: &str, expected: &[&str]) -> String {
    if what == "key" && name == "<<" {
        return MERGE_KEY.to_owned();
    }
    let suggestion = match closest(name, expected) {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    };
    format!(
        "unknown {what} `{name}`{suggestion}; {}",
        expected_list(expected)
    )
}

/// "expected `a`", "expected one of `a`, `b`", or that nothing is allowed.
pub(super) fn expected_list(expected: &[&str]) -> String {
    match expected {
        [] => "nothing is expected here".to_owned(),
        [one] => format!("expected `{one}`"),
        many => {
            let quoted: Vec<String> = many.iter().map(|s| format!("`{s}`")).collect();
            format!("expected one of {}", quoted.join(", "))
        }
    }
}

/// The candidate closest to `name`, if it is close enough to be the
/// intended spelling: equal but for case and separators (`node_groups`),
/// or within a few edits, fewer for short names so that `x` suggests
/// nothing.
pub(crate) fn closest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
            .flat_map(char::to_lowercase)
            .collect()
    };
    let squashed = squash(name);
    if let Some(c) = candidates.iter().find(|c| squash(c) == squashed) {
        return Some(c);
    }
    // Fewer edits than letters: replacing a whole word is no typo.
    let len = name.chars().count();
    let limit = (len / 3 + 1).min(3).min(len.saturating_sub(1));
    let lower = name.to_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&lower, &c.to_lowercase()), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: insertions, deletions,
/// substitutions and transpositions of neighbours each cost one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the dynamic-programming table are enough.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Rewrites serde's "unknown field `x`, expected one of `a`, `b`" (and the
/// same for enum variants) into the wording of [`unknown`], with a
/// suggestion. Any text before it (serde_yaml's path) is kept; other
/// messages are returned unchanged.
pub(super) fn tidy_serde_message(message: &str) -> String {
    for (pattern, what) in [("unknown field `", "key"), ("unknown variant `", "value")] {
        let Some(start) = message.find(pattern) else {
            continue;
        };
        let after_pattern = &message[start + pattern.len()..];
        let Some(end) = after_pattern.find('`') else {
            continue;
        };
        let name = &after_pattern[..end];
        let rest = &after_pattern[end + 1..];
        // The rest is ", expected `a`", ", expected `a` or `b`",
        // ", expected one of `a`, `b`" or ", there are no fields".
        let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
        return format!("{}{}", &message[..start], unknown(what, name, &expected));
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("nodegroup", "nodegroups"), 1);
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions() {
        let keys = ["nodeGroups", "nodes", "bootControlPlane"];
        assert_eq!(closest("nodeGroup", &keys), Some("nodeGroups"));
        assert_eq!(closest("node_groups", &keys), Some("nodeGroups"));
        assert_eq!(
            closest("boot_control_plane", &keys),
            Some("bootControlPlane")
        );
        assert_eq!(closest("NODES", &keys), Some("nodes"));
        assert_eq!(closest("x", &keys), None);
        assert_eq!(closest("workers", &keys), None);
    }

    #[test]
    fn rewrites_serde_messages() {
        assert_eq!(
            tidy_serde_message(
                "cluster: unknown field `nodeGroup`, expected one of `nodeGroups`, `nodes`"
            ),
            "cluster: unknown key `nodeGroup` (did you mean `nodeGroups`?); \
             expected one of `nodeGroups`, `nodes`"
        );
        assert_eq!(
            tidy_serde_message("unknown field `b`, expected `a`"),
            "unknown key `b`; expected `a`"
        );
        assert_eq!(
            tidy_serde_message("nodeGroups[0]: unknown field `<<`, expected `a`"),
            format!("nodeGroups[0]: {MERGE_KEY}")
        );
        assert_eq!(
            tidy_serde_message("unknown field `b`, there are no fields"),
            "unknown key `b`; nothing is expected here"
        );
        assert_eq!(
            tidy_serde_message(
                "effect: unknown variant `NoSchedul`, expected one of `NoSchedule`, `NoExecute`"
            ),
            "effect: unknown value `NoSchedul` (did you mean `NoSchedule`?); \
             expected one of `NoSchedule`, `NoExecute`"
        );
        assert_eq!(
            tidy_serde_message("missing field `at`"),
            "missing field `at`"
        );
    }
}
