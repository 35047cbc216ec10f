//! A small parser for the Prometheus text exposition format, so tests can
//! assert exact values from a node's `/metrics`.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};

/// One sample line of `/metrics`.
#[derive(Clone, Debug, PartialEq)]
pub struct TextSample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses every sample line (comments and blank lines skipped).
pub fn parse(text: &str) -> Result<Vec<TextSample>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| parse_line(l).with_context(|| format!("parse metrics line {l:?}")))
        .collect()
}

/// Samples named `name` whose labels include every pair of `labels`.
pub fn select<'a>(samples: &'a [TextSample], name: &str, labels: &[(&str, &str)]) -> Vec<&'a TextSample> {
    samples
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .collect()
}

fn parse_line(line: &str) -> Result<TextSample> {
    let (series, value) = line.rsplit_once(' ').context("no value")?;
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().context("value")?,
    };
    let Some((name, rest)) = series.split_once('{') else {
        return Ok(TextSample { name: series.to_owned(), labels: BTreeMap::new(), value });
    };
    let body = rest.strip_suffix('}').context("unterminated labels")?;
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        let key = key.trim_start_matches(',').trim().to_owned();
        if key.is_empty() {
            break;
        }
        if chars.next() != Some('"') {
            bail!("label {key} value is not quoted");
        }
        let mut val = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => val.push('\n'),
                    Some(o) => val.push(o),
                    None => bail!("dangling escape"),
                },
                '"' => break,
                o => val.push(o),
            }
        }
        labels.insert(key, val);
    }
    Ok(TextSample { name: name.to_owned(), labels, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_escapes_and_plain_lines() {
        let text = "# HELP x y\nfoo{a=\"1\",b=\"q\\\"x\"} 6\nbar 0.5\n";
        let s = parse(text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "foo");
        assert_eq!(s[0].labels.get("b").unwrap(), "q\"x");
        assert_eq!(s[0].value, 6.0);
        assert_eq!(select(&s, "foo", &[("a", "1")]).len(), 1);
        assert_eq!(s[1].value, 0.5);
    }
}
