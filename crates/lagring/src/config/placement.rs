//! Placement keys: `node.labels` (with `LAGRING_NODE_LABELS` from the
//! environment) and `clusters[].placement`.
//!
//! Labels come from the environment too because a Kubernetes pod learns its
//! topology (zone, region) at run time, through the downward API, while the
//! config file is the same for every replica. `LAGRING_NODE_LABELS` is one
//! variable (`region=eu,zone=eu-1a`) so a manifest composes it from several
//! downward-API variables; its labels override the file's of the same key.

use std::collections::{BTreeMap, BTreeSet};

use lagring_store::ownership::{Fallback, Placement};
use serde::Deserialize;

use super::model::Config;

/// The environment variable with extra node labels, `key=value,key=value`.
pub const LABELS_ENV: &str = "LAGRING_NODE_LABELS";

/// At most this many labels per node, so the heartbeat stays small.
const MAX_LABELS: usize = 32;

/// `clusters[].placement`: which nodes may own the cluster's groups.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementConfig {
    /// Label selector: only nodes with every one of these labels (same value).
    #[serde(default)]
    pub affinity: BTreeMap<String, String>,
    /// Only these node ids (consistent hashing over just them).
    #[serde(default, rename = "static")]
    pub static_nodes: Option<Vec<String>>,
    /// Without a live eligible node: `any` (the rest of the fleet) or `none`.
    #[serde(default)]
    pub fallback: FallbackConfig,
}

/// `clusters[].placement.fallback`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FallbackConfig {
    #[default]
    Any,
    None,
}

impl PlacementConfig {
    /// The ownership rule this config stands for.
    pub fn placement(&self) -> Placement {
        Placement {
            affinity: self.affinity.clone(),
            nodes: self.static_nodes.as_ref().map(|ids| ids.iter().cloned().collect::<BTreeSet<_>>()),
            fallback: match self.fallback {
                FallbackConfig::Any => Fallback::Any,
                FallbackConfig::None => Fallback::None,
            },
        }
    }
}

impl Config {
    /// This node's labels: `node.labels`, overridden by `LAGRING_NODE_LABELS`.
    pub fn node_labels(&self) -> Result<BTreeMap<String, String>, String> {
        let mut labels = self.node.labels.clone();
        if let Ok(text) = std::env::var(LABELS_ENV) {
            labels.extend(parse_labels(&text).map_err(|e| format!("{LABELS_ENV}: {e}"))?);
        }
        Ok(labels)
    }
}

/// Parses `key=value,key=value`: blanks around items are ignored, and so are
/// empty items and items with an empty value (a topology label the pod lacks).
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((key, value)) = item.split_once('=') else {
            return Err(format!("{item:?} is not key=value"));
        };
        if !value.trim().is_empty() {
            labels.insert(key.trim().to_owned(), value.trim().to_owned());
        }
    }
    Ok(labels)
}

/// Problems with the node's labels and every cluster's placement, each
/// naming its key path.
pub fn validate(cfg: &Config, errs: &mut Vec<String>) {
    match cfg.node_labels() {
        Ok(labels) => label_map(&labels, "node.labels", errs),
        Err(e) => errs.push(e),
    }
    for (i, c) in cfg.clusters.iter().enumerate() {
        let Some(p) = &c.placement else { continue };
        let path = format!("clusters[{i}].placement");
        label_map(&p.affinity, &format!("{path}.affinity"), errs);
        if let Some(ids) = &p.static_nodes {
            if ids.is_empty() {
                errs.push(format!(
                    "{path}.static: must list at least one node id (leave it out to let every node own the cluster)"
                ));
            }
            for (j, id) in ids.iter().enumerate() {
                if id.trim().is_empty() {
                    errs.push(format!("{path}.static[{j}]: node id must not be empty"));
                } else if id.contains(['@', ' ', '\t', '\n']) {
                    errs.push(format!("{path}.static[{j}]: {id:?} can be no node id (no '@' or whitespace)"));
                }
            }
        }
    }
}

fn label_map(labels: &BTreeMap<String, String>, path: &str, errs: &mut Vec<String>) {
    if labels.len() > MAX_LABELS {
        errs.push(format!("{path}: at most {MAX_LABELS} labels"));
    }
    for key in labels.keys() {
        if key.trim().is_empty() {
            errs.push(format!("{path}: label name must not be empty"));
        } else if key.contains([',', '=']) || key.chars().any(char::is_whitespace) {
            errs.push(format!("{path}.{key}: label name must not contain ',', '=' or whitespace"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_from_the_environment_format() {
        let parsed = parse_labels(" region=eu, zone = eu-1a ,,").unwrap_or_default();
        assert_eq!(parsed, BTreeMap::from([("region".into(), "eu".into()), ("zone".into(), "eu-1a".into())]));
        assert_eq!(parse_labels("").map(|l| l.len()), Ok(0));
        assert_eq!(
            parse_labels("region=,zone=z").map(|l| l.into_keys().collect::<Vec<_>>()),
            Ok(vec!["zone".to_owned()])
        );
        assert_eq!(parse_labels("region"), Err("\"region\" is not key=value".to_owned()));
    }

    #[test]
    fn placement_parses_and_every_problem_names_its_key() {
        let text = "node: { labels: { region: eu, '': x } }\n\
                    clusters:\n\
                    \x20 - { name: a, brokers: ['k:9092'], placement: { affinity: { region: eu }, fallback: none } }\n\
                    \x20 - { name: b, brokers: ['k:9092'], placement: { static: [] } }\n\
                    \x20 - { name: c, brokers: ['k:9092'], placement: { static: [n-0, ' '], affinity: { '': eu } } }\n";
        let problems = match crate::config::parse(text) {
            Err(crate::config::ConfigError::Invalid(problems)) => problems,
            other => panic!("expected invalid, got {other:?}"),
        };
        assert_eq!(
            problems,
            vec![
                "node.labels: label name must not be empty",
                "clusters[1].placement.static: must list at least one node id (leave it out to let every node own the cluster)",
                "clusters[2].placement.affinity: label name must not be empty",
                "clusters[2].placement.static[1]: node id must not be empty",
            ]
        );
        let ok = "node: { labels: { region: eu } }\n\
                  clusters: [{ name: a, brokers: ['k:9092'], placement: { affinity: { region: eu }, static: [n-0], fallback: none } }]\n";
        let cfg = crate::config::parse(ok).unwrap_or_else(|e| panic!("{e}"));
        let placement = cfg.clusters[0].placement.as_ref().map(PlacementConfig::placement).unwrap_or_default();
        assert_eq!(placement.fallback, Fallback::None);
        assert_eq!(placement.nodes, Some(BTreeSet::from(["n-0".to_owned()])));
        assert!(placement.admits("n-0", &BTreeMap::from([("region".into(), "eu".into())])));
    }
}
