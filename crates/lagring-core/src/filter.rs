//! Allow/deny regex filters for group and topic names.
//!
//! An empty allow list allows everything; the deny list always applies, even
//! to names an allow pattern matched. Patterns are unanchored (like Burrow's
//! whitelists): write `^name$` to match a whole name.

use regex::RegexSet;

/// A compiled allow/deny pair.
#[derive(Clone, Debug)]
pub struct NameFilter {
    allow: Option<RegexSet>,
    deny: Option<RegexSet>,
}

/// A pattern that does not compile, with its position in its list.
#[derive(Debug, thiserror::Error)]
#[error("{list}[{index}]: invalid regex {pattern:?}: {reason}")]
pub struct FilterError {
    pub list: &'static str,
    pub index: usize,
    pub pattern: String,
    pub reason: String,
}

impl NameFilter {
    /// Compiles both lists; errors name the list (`allow`/`deny`) and index.
    pub fn new(allow: &[String], deny: &[String]) -> Result<Self, FilterError> {
        Ok(Self { allow: compile("allow", allow)?, deny: compile("deny", deny)? })
    }

    /// A filter that lets every name through.
    pub fn allow_all() -> Self {
        Self { allow: None, deny: None }
    }

    /// True when `name` passes the allow list (if any) and no deny pattern.
    pub fn matches(&self, name: &str) -> bool {
        let allowed = self.allow.as_ref().is_none_or(|set| set.is_match(name));
        allowed && !self.deny.as_ref().is_some_and(|set| set.is_match(name))
    }
}

fn compile(list: &'static str, patterns: &[String]) -> Result<Option<RegexSet>, FilterError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    for (index, pattern) in patterns.iter().enumerate() {
        if let Err(e) = regex::Regex::new(pattern) {
            return Err(FilterError { list, index, pattern: pattern.clone(), reason: e.to_string() });
        }
    }
    RegexSet::new(patterns).map(Some).map_err(|e| FilterError {
        list,
        index: 0,
        pattern: patterns.join(" | "),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn deny_always_wins_and_empty_allow_allows_all() {
        let f = NameFilter::new(&[], &s(&["^test-"])).unwrap();
        assert!(f.matches("billing"));
        assert!(!f.matches("test-1"));
        let f = NameFilter::new(&s(&["^pay", "^bill"]), &s(&["-canary$"])).unwrap();
        assert!(f.matches("payments"));
        assert!(f.matches("billing"));
        assert!(!f.matches("billing-canary"));
        assert!(!f.matches("orders"));
        assert!(NameFilter::allow_all().matches("anything"));
    }

    #[test]
    fn bad_pattern_names_list_and_index() {
        let err = NameFilter::new(&s(&["ok", "(unclosed"]), &[]).unwrap_err();
        assert_eq!((err.list, err.index), ("allow", 1));
        assert!(err.to_string().starts_with("allow[1]: invalid regex \"(unclosed\""));
    }
}
