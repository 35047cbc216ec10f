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
//!   `.<partition>.currentLag`, `.startOffset` and `.endOffset` (tags `topic`,
//!   `partition`); `env` is the cluster name and every group line has
//!   goRainbow's `env` and `consumer` tags. Per topic partition
//!   `<prefix>.<env>.topic.<topic>.<partition>.offset` (the end offset, tags
//!   `topic` and `partitionId`, as goRainbow's topic handler sends it).
//!
//! `startOffset` and `endOffset` are Burrow's window-start and current
//! committed offsets, which lagring does not emit as Prometheus series: they
//! come from the batch's push-only part, which only this preset sends.
//!
//! Names keep `[A-Za-z0-9._-]` and replace anything else with `_`; tag values
//! are quoted with `"` escaped and line breaks removed, so no value from a
//! cluster can break a line or forge another one.

use std::fmt::Write;

use lagring_core::metric_names::{
    GROUP_MAX_LAG_OFFSETS, GROUP_SUM_LAG_OFFSETS, PARTITION_END_OFFSET, PARTITION_LAG_OFFSETS, PUSH_COMMITTED_OFFSET,
    PUSH_ONLY, PUSH_WINDOW_START_OFFSET, TOPIC_MAX_LAG_OFFSETS,
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

    /// True when this preset sends the series at all: `lagring` every
    /// Prometheus series, `gorainbow` the ones it names (push-only ones too).
    pub fn maps(self, key: &SeriesKey) -> bool {
        match self {
            Naming::Lagring => !PUSH_ONLY.contains(&key.name()),
            Naming::Gorainbow => gorainbow_name(key).is_some(),
        }
    }

    /// True when this preset sends push-only values (the compute stage then
    /// builds them).
    pub fn sends_push_only(self) -> bool {
        self == Naming::Gorainbow
    }
}

/// goRainbow's name of a series after `<prefix>.<env>.`, if it has one.
fn gorainbow_name(key: &SeriesKey) -> Option<String> {
    let partition = || key.label("partition").map(name_part);
    let Some(group) = key.label("group").map(name_part) else {
        return match key.name() {
            PARTITION_END_OFFSET => Some(format!("topic.{}.{}.offset", name_part(key.label("topic")?), partition()?)),
            _ => None,
        };
    };
    let suffix = match key.name() {
        GROUP_SUM_LAG_OFFSETS => "totalLag".to_owned(),
        GROUP_MAX_LAG_OFFSETS => "maxLagCurrentLag".to_owned(),
        TOPIC_MAX_LAG_OFFSETS => "maxLagTopic".to_owned(),
        PARTITION_LAG_OFFSETS => format!("{}.currentLag", partition()?),
        PUSH_WINDOW_START_OFFSET => format!("{}.startOffset", partition()?),
        PUSH_COMMITTED_OFFSET => format!("{}.endOffset", partition()?),
        _ => return None,
    };
    Some(format!("{group}.{suffix}"))
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
                let Some(name) = gorainbow_name(key) else {
                    out.truncate(start);
                    return false;
                };
                let _ = write!(out, "{}.{name}", name_part(&record.cluster));
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
            Naming::Gorainbow => match key.label("group") {
                Some(group) => {
                    push_tag(out, "env", &record.cluster);
                    push_tag(out, "consumer", group);
                    for name in ["topic", "partition"] {
                        if let Some(v) = key.label(name) {
                            push_tag(out, name, v);
                        }
                    }
                }
                None => {
                    push_tag(out, "topic", key.label("topic").unwrap_or_default());
                    push_tag(out, "partitionId", key.label("partition").unwrap_or_default());
                }
            },
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
