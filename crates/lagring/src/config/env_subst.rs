//! `${VAR}` / `${VAR:-default}` substitution in the raw config text.
//!
//! Substitution happens before YAML parsing so secrets can come from the
//! environment of a Kubernetes pod. `$$` is a literal `$`. Comment lines are
//! left alone so a commented-out `${UNSET}` is not an error.
//!
//! Pasting a value into the text would let YAML reinterpret it: a password
//! with ` #` loses its tail as a comment, one with `"` or `\` breaks or
//! changes a quoted string. So only a *plain word* (letters, digits and
//! `_./:@+=%-`, the shape of hosts, ports, durations, numbers and most
//! tokens) is pasted, which keeps numbers numbers and an empty value null as
//! before. Any other value is replaced by a placeholder word, and the parser
//! ([`super::subst_de`]) puts the value back byte for byte into the string
//! scalar that holds the placeholder, after YAML has done its parsing.

use std::fmt::Write as _;

/// An unset variable without a default, with the line it is on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubstError {
    #[error("line {line}: environment variable {name} is not set and has no default (write ${{{name}:-default}})")]
    Unset { line: usize, name: String },
    #[error("line {line}: unterminated ${{ in {text:?}")]
    Unterminated { line: usize, text: String },
    #[error("line {line}: invalid variable name {name:?}")]
    BadName { line: usize, name: String },
    #[error(
        "no placeholder word for substituted values is free: the config text contains all of lagringenv, lagringenvq, ..."
    )]
    NoPlaceholder,
}

/// Config text after substitution, with the values that wait in
/// placeholders.
#[derive(Debug, Default)]
pub struct Substituted {
    pub text: String,
    pub placeholders: Placeholders,
}

/// Values that are not plain words, each standing in the text as
/// `<prefix><index>x` until the parser expands it.
#[derive(Debug, Default)]
pub struct Placeholders {
    /// Letters only; in the substituted text it occurs in placeholders only.
    prefix: String,
    values: Vec<String>,
}

impl Placeholders {
    /// Appends a placeholder for `value` to `out`.
    fn push(&mut self, value: String, out: &mut String) {
        let _ = write!(out, "{}{}x", self.prefix, self.values.len());
        self.values.push(value);
    }

    /// `text` with every placeholder replaced by its value; `None` when it
    /// holds none (the common case, no allocation).
    pub fn expand(&self, text: &str) -> Option<String> {
        if self.values.is_empty() || !text.contains(&self.prefix) {
            return None;
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(pos) = rest.find(&self.prefix) {
            out.push_str(rest.get(..pos).unwrap_or_default());
            let after = rest.get(pos + self.prefix.len()..).unwrap_or_default();
            let digits = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len());
            let value = after
                .get(digits..)
                .filter(|tail| tail.starts_with('x'))
                .and_then(|_| after.get(..digits)?.parse::<usize>().ok())
                .and_then(|index| self.values.get(index));
            match value {
                Some(value) => {
                    out.push_str(value);
                    rest = after.get(digits + 1..).unwrap_or_default();
                }
                None => {
                    out.push_str(&self.prefix);
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        Some(out)
    }
}

/// A value that YAML reads back unchanged wherever it is pasted (plain,
/// quoted or flow scalar): letters, digits and `_./:@+=%-`, not starting
/// with an indicator, not ending in `:`, not a null word. Empty counts as
/// plain: `${VAR:-}` leaves a key null, as it always did.
fn is_plain_word(value: &str) -> bool {
    let body_ok = value.chars().all(|c| c.is_ascii_alphanumeric() || "_./:@+=%-".contains(c));
    let mut chars = value.chars();
    let first_ok = match chars.next() {
        None => true,
        Some('-') => chars.next().is_some_and(|c| c.is_ascii_digit()),
        Some(c) => c.is_ascii_alphanumeric() || "_./".contains(c),
    };
    body_ok && first_ok && !value.ends_with(':') && !matches!(value, "null" | "Null" | "NULL")
}

/// Prefixes tried for the placeholders, each one letter longer.
const PLACEHOLDER_ATTEMPTS: usize = 16;

/// Replaces every `${VAR}` / `${VAR:-default}` using `lookup`.
pub fn substitute(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Substituted, SubstError> {
    let mut prefix = "lagringenv".to_owned();
    for _ in 0..PLACEHOLDER_ATTEMPTS {
        let done = substitute_with(text, lookup, &prefix)?;
        // The prefix must occur only in the placeholders, not in the text or
        // a pasted value (or across the two); else try a longer one.
        if done.text.matches(&prefix).count() == done.placeholders.values.len() {
            return Ok(done);
        }
        prefix.push('q');
    }
    Err(SubstError::NoPlaceholder)
}

fn substitute_with(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    prefix: &str,
) -> Result<Substituted, SubstError> {
    let mut out = String::with_capacity(text.len());
    let mut placeholders = Placeholders { prefix: prefix.to_owned(), values: Vec::new() };
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        substitute_line(line, i + 1, lookup, &mut out, &mut placeholders)?;
    }
    Ok(Substituted { text: out, placeholders })
}

/// Substitution from the process environment.
pub fn substitute_env(text: &str) -> Result<Substituted, SubstError> {
    substitute(text, &|name| std::env::var(name).ok())
}

/// Substitution from a fixed map (tests).
#[cfg(test)]
pub fn substitute_map(text: &str, vars: &std::collections::HashMap<String, String>) -> Result<Substituted, SubstError> {
    substitute(text, &|name| vars.get(name).cloned())
}

fn substitute_line(
    line: &str,
    line_no: usize,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut String,
    placeholders: &mut Placeholders,
) -> Result<(), SubstError> {
    let mut rest = line;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                return Err(SubstError::Unterminated { line: line_no, text: line.trim_end().to_owned() });
            };
            let expr = &body[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                return Err(SubstError::BadName { line: line_no, name: name.to_owned() });
            }
            let value = match (lookup(name).filter(|v| !v.is_empty() || default.is_none()), default) {
                (Some(v), _) => v,
                (None, Some(d)) => d.to_owned(),
                (None, None) => return Err(SubstError::Unset { line: line_no, name: name.to_owned() }),
            };
            if is_plain_word(&value) {
                out.push_str(&value);
            } else {
                placeholders.push(value, out);
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars() -> HashMap<String, String> {
        [("HOST", "kafka:9092"), ("EMPTY", "")].into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    }

    #[test]
    fn substitutes_defaults_escapes_and_comments() {
        let text = "a: ${HOST}\nb: ${PORT:-9100}\nc: $$literal ${EMPTY:-fallback}\n# ${NOPE}\nd: cost $5\n";
        let done = substitute_map(text, &vars()).unwrap();
        assert_eq!(done.text, "a: kafka:9092\nb: 9100\nc: $literal fallback\n# ${NOPE}\nd: cost $5\n");
        assert!(done.placeholders.values.is_empty());
    }

    #[test]
    fn values_that_are_not_plain_words_wait_in_placeholders() {
        let vars: HashMap<String, String> =
            [("PW", "a #b\"c\\d"), ("TILDE", "~")].into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let done = substitute_map("p: ${PW}\nq: '${TILDE}-${PW}'\nr: ${X:-null}\n", &vars).unwrap();
        assert_eq!(done.text, "p: lagringenv0x\nq: 'lagringenv1x-lagringenv2x'\nr: lagringenv3x\n");
        assert_eq!(done.placeholders.expand("lagringenv1x-lagringenv2x").unwrap(), "~-a #b\"c\\d");
        assert_eq!(done.placeholders.expand("lagringenv3x").unwrap(), "null");
        assert_eq!(done.placeholders.expand("plain"), None);
        assert_eq!(done.placeholders.expand("lagringenv9x lagringenv").unwrap(), "lagringenv9x lagringenv");
        let taken = substitute_map("lagringenv: ${PW}\n", &vars).unwrap();
        assert_eq!(taken.text, "lagringenv: lagringenvq0x\n");
    }

    #[test]
    fn plain_words_are_hosts_numbers_and_tokens() {
        for word in ["", "kafka:9092", "30s", "-1", "1.5", "redis://h:6379/0", "dGVzdA==", "a_b-c", "true"] {
            assert!(is_plain_word(word), "{word:?}");
        }
        for word in ["a b", "a#b", "\"q\"", "a\\b", "-", "~", "null", "@x", "x:", "a,b", "[x]", "*x", "!x", "%x"] {
            assert!(!is_plain_word(word), "{word:?}");
        }
    }

    #[test]
    fn unset_unterminated_and_bad_names_are_errors_with_line() {
        assert_eq!(
            substitute_map("x: 1\ny: ${MISSING}\n", &vars()).unwrap_err(),
            SubstError::Unset { line: 2, name: "MISSING".into() }
        );
        assert!(matches!(substitute_map("y: ${OPEN\n", &vars()), Err(SubstError::Unterminated { line: 1, .. })));
        assert!(matches!(substitute_map("y: ${1X}\n", &vars()), Err(SubstError::BadName { line: 1, .. })));
    }
}
