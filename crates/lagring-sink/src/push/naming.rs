//! Names and lines of the Wavefront line protocol
//! (`<metric> <value> <timestamp> source=<source> <tags>`), pure.
//!
//! Two presets decide which series are sent and under which name:
//!
//! - `lagring` (default): every series, named like its Prometheus name with
//!   `.` for `_` (`kafka.consumer.group.lag.in.offsets`), its labels as tags;
//! - `gorainbow`: goRainbow's names, so Wavefront dashboards built for
//!   Burrow + goRainbow keep working: per group
//!   `<prefix>.<env>.<group>.totalLag` and `.maxLagCurrentLag`, per topic of
//!   the group `.maxLagTopic` (tag `topic`), per partition
//!   `.<partition>.currentLag` (tags `topic`, `partition`); `env` is the
//!   cluster name and every line has goRainbow's `env` and `consumer` tags.
//!
//! Names keep `[A-Za-z0-9._-]` and replace anything else with `_`; tag values
//! are quoted with `"` escaped and line breaks removed, so no value from a
//! cluster can break a line or forge another one.

use std::fmt::Write;

use lagring_core::metric_names::{
    GROUP_MAX_LAG_OFFSETS, GROUP_SUM_LAG_OFFSETS, PARTITION_LAG_OFFSETS, TOPIC_MAX_LAG_OFFSETS,
};
use lagring_core::series::SeriesKey;
use serde::Deserialize;

use super::gate::Record;

/// A naming preset.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Naming {
    #[default]
    Lagring,
    Gorainbow,
}

/// goRainbow's first name segments.
const GORAINBOW_PREFIX: &str = "fjord.burrow";

impl Naming {
    pub fn default_prefix(self) -> Option<&'static str> {
        match self {
            Naming::Lagring => None,
            Naming::Gorainbow => Some(GORAINBOW_PREFIX),
        }
    }

    /// True when this preset sends the series at all.
    pub fn maps(self, key: &SeriesKey) -> bool {
        match self {
            Naming::Lagring => true,
            Naming::Gorainbow => gorainbow_suffix(key).is_some(),
        }
    }
}

/// goRainbow's last name segment(s) of a series, if it has one.
fn gorainbow_suffix(key: &SeriesKey) -> Option<String> {
    key.label("group")?;
    match key.name() {
        GROUP_SUM_LAG_OFFSETS => Some("totalLag".to_owned()),
        GROUP_MAX_LAG_OFFSETS => Some("maxLagCurrentLag".to_owned()),
        TOPIC_MAX_LAG_OFFSETS => Some("maxLagTopic".to_owned()),
        PARTITION_LAG_OFFSETS => Some(format!("{}.currentLag", name_part(key.label("partition")?))),
        _ => None,
    }
}

/// Everything a line needs besides the record.
#[derive(Clone, Debug)]
pub struct LineFormat {
    pub naming: Naming,
    pub prefix: Option<String>,
    pub source: String,
    /// Extra tags, already rendered as ` key="value"` each.
    tags: String,
}

impl LineFormat {
    pub fn new(naming: Naming, prefix: Option<String>, source: String, tags: &[(String, String)]) -> Self {
        let mut rendered = String::new();
        for (k, v) in tags {
            push_tag(&mut rendered, k, v);
        }
        Self { naming, prefix, source, tags: rendered }
    }

    /// Appends the record's line (with its `\n`) to `out`; false when the
    /// preset does not send it or the value is not a finite number.
    pub fn write_line(&self, out: &mut String, record: &Record) -> bool {
        if !record.value.is_finite() {
            return false;
        }
        let key = &record.key;
        let start = out.len();
        if let Some(prefix) = &self.prefix {
            out.push_str(&name_part(prefix));
            out.push('.');
        }
        match self.naming {
            Naming::Lagring => out.push_str(&name_part(&key.name().replace('_', "."))),
            Naming::Gorainbow => {
                let (Some(suffix), Some(group)) = (gorainbow_suffix(key), key.label("group")) else {
                    out.truncate(start);
                    return false;
                };
                let _ = write!(out, "{}.{}.{suffix}", name_part(&record.cluster), name_part(group));
            }
        }
        let _ = write!(out, " {} {}", record.value, record.timestamp_ms.div_euclid(1000));
        push_tag(out, "source", &self.source);
        match self.naming {
            Naming::Lagring => {
                for (k, v) in key.labels() {
                    push_tag(out, k, v);
                }
            }
            Naming::Gorainbow => {
                push_tag(out, "env", &record.cluster);
                push_tag(out, "consumer", key.label("group").unwrap_or_default());
                for name in ["topic", "partition"] {
                    if let Some(v) = key.label(name) {
                        push_tag(out, name, v);
                    }
                }
            }
        }
        out.push_str(&self.tags);
        out.push('\n');
        true
    }
}

/// A name segment: `[A-Za-z0-9._-]`, anything else replaced by `_`.
fn name_part(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect()
}

/// Appends ` key="value"`, the key cleaned like a name, the value quoted.
fn push_tag(out: &mut String, key: &str, value: &str) {
    let _ = write!(out, " {}=\"", name_part(key));
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
#[path = "naming_tests.rs"]
mod tests;
