//! `${VAR}` / `${VAR:-default}` substitution in the raw config text.
//!
//! Substitution happens before YAML parsing so secrets can come from the
//! environment of a Kubernetes pod. `$$` is a literal `$`. Comment lines are
//! left alone so a commented-out `${UNSET}` is not an error.

/// An unset variable without a default, with the line it is on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubstError {
    #[error("line {line}: environment variable {name} is not set and has no default (write ${{{name}:-default}})")]
    Unset { line: usize, name: String },
    #[error("line {line}: unterminated ${{ in {text:?}")]
    Unterminated { line: usize, text: String },
    #[error("line {line}: invalid variable name {name:?}")]
    BadName { line: usize, name: String },
}

/// Replaces every `${VAR}` / `${VAR:-default}` using `lookup`.
pub fn substitute(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, SubstError> {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        substitute_line(line, i + 1, lookup, &mut out)?;
    }
    Ok(out)
}

/// Substitution from the process environment.
pub fn substitute_env(text: &str) -> Result<String, SubstError> {
    substitute(text, &|name| std::env::var(name).ok())
}

/// Substitution from a fixed map (tests).
#[cfg(test)]
pub fn substitute_map(text: &str, vars: &std::collections::HashMap<String, String>) -> Result<String, SubstError> {
    substitute(text, &|name| vars.get(name).cloned())
}

fn substitute_line(
    line: &str,
    line_no: usize,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut String,
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
            match (lookup(name).filter(|v| !v.is_empty() || default.is_none()), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => return Err(SubstError::Unset { line: line_no, name: name.to_owned() }),
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
        assert_eq!(
            substitute_map(text, &vars()).unwrap(),
            "a: kafka:9092\nb: 9100\nc: $literal fallback\n# ${NOPE}\nd: cost $5\n"
        );
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
