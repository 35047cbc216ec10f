//! `lagring migrate kafka-lag-go CONFIG`: rewrites a kafka-lag-go config
//! (the keys its README and `pkg/config` document) as a lagring config.
//!
//! Every input key is either mapped or named in a note saying why lagring has
//! no equivalent; keys kafka-lag-go does not know are named too. String values
//! are written with `$` doubled, so lagring's `${VAR}` substitution leaves
//! them as they were.

use serde_norway::{Mapping, Value};

/// The lagring config and the notes about keys that were not carried over.
#[derive(Debug)]
pub struct Migration {
    pub yaml: String,
    /// One line per key: `key.path: no equivalent in lagring: <why>`.
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("not a kafka-lag-go config: {0}")]
    Parse(#[from] serde_norway::Error),
    #[error("{0}: expected a mapping")]
    NotAMapping(String),
    #[error("{0}: {1}")]
    Invalid(String, String),
}

/// Converts the text of a kafka-lag-go config.
pub fn kafka_lag_go(text: &str) -> Result<Migration, MigrateError> {
    let input: Value = serde_norway::from_str(text)?;
    let mut m = Migrator { notes: Vec::new() };
    let mut root = m.mapping(Some(input), "")?;
    let mut out = Mapping::new();

    let mut node = Mapping::new();
    let mut log = Mapping::new();
    let mut http = Mapping::new();
    let mut prometheus = Mapping::new();
    if let Some(app) = root.remove("app") {
        let mut app = m.mapping(Some(app), "app")?;
        move_key(&mut app, "iteration_interval", &mut node, "interval");
        move_key(&mut app, "log_level", &mut log, "level");
        m.none(
            &mut app,
            "app",
            "num_workers",
            "offset fetches per cluster are bounded by clusters[].max_in_flight_offset_fetches",
        );
        m.none(
            &mut app,
            "app",
            "health_check_port",
            "/healthz, /readyz and /livez are served on http.listen, beside /metrics",
        );
        m.none(&mut app, "app", "health_check_path", "the health endpoints are fixed: /healthz, /readyz, /livez");
        m.unknown(app, "app");
    }
    if let Some(local) = root.remove("prometheus_local") {
        let mut local = m.mapping(Some(local), "prometheus_local")?;
        if let Some(port) = local.remove("metrics_port") {
            let port = scalar(&port).ok_or_else(|| invalid("prometheus_local.metrics_port", "expected a port"))?;
            http.insert("listen".into(), format!("0.0.0.0:{port}").into());
        }
        move_key(&mut local, "labels", &mut prometheus, "extra_labels");
        m.unknown(local, "prometheus_local");
    }
    let remote_write = match root.remove("prometheus_remote_write") {
        Some(rw) => {
            let rw = m.mapping(Some(rw), "prometheus_remote_write")?;
            m.remote_write(rw)?
        }
        None => None,
    };
    let mut clusters = Vec::new();
    if let Some(Value::Sequence(list)) = root.remove("kafka_clusters") {
        for (i, c) in list.into_iter().enumerate() {
            clusters.push(Value::Mapping(m.cluster(c, &format!("kafka_clusters[{i}]"))?));
        }
    }
    let redis = match root.remove("storage") {
        Some(storage) => m.storage(storage)?,
        None => None,
    };
    m.unknown(root, "");

    insert_non_empty(&mut out, "node", node);
    if let Some(redis) = redis {
        out.insert("redis".into(), Value::Mapping(redis));
    }
    out.insert("clusters".into(), Value::Sequence(clusters));
    if let Some(rw) = remote_write {
        out.insert("remote_write".into(), Value::Mapping(rw));
    }
    insert_non_empty(&mut out, "prometheus", prometheus);
    insert_non_empty(&mut out, "http", http);
    insert_non_empty(&mut out, "log", log);
    let mut out = Value::Mapping(out);
    escape_dollars(&mut out);
    let yaml = serde_norway::to_string(&out)?;
    Ok(Migration { yaml, notes: m.notes })
}

struct Migrator {
    notes: Vec<String>,
}

impl Migrator {
    fn mapping(&mut self, v: Option<Value>, path: &str) -> Result<Mapping, MigrateError> {
        match v {
            None | Some(Value::Null) => Ok(Mapping::new()),
            Some(Value::Mapping(m)) => Ok(m),
            Some(_) => Err(MigrateError::NotAMapping(display(path))),
        }
    }

    /// Removes `key` from `map` and notes why lagring has no equivalent.
    fn none(&mut self, map: &mut Mapping, path: &str, key: &str, why: &str) {
        if map.remove(key).is_some() {
            self.notes.push(format!("{}: no equivalent in lagring: {why}", join(path, key)));
        }
    }

    /// Notes every key left in `map`: kafka-lag-go does not know them either.
    fn unknown(&mut self, map: Mapping, path: &str) {
        for (k, _) in map {
            let key = scalar(&k).unwrap_or_else(|| "?".to_owned());
            self.notes.push(format!("{}: no equivalent in lagring: not a kafka-lag-go key", join(path, &key)));
        }
    }

    fn remote_write(&mut self, mut rw: Mapping) -> Result<Option<Mapping>, MigrateError> {
        let path = "prometheus_remote_write";
        if !truthy(rw.remove("enabled")) {
            return Ok(None);
        }
        let mut out = Mapping::new();
        move_key(&mut rw, "url", &mut out, "url");
        move_key(&mut rw, "headers", &mut out, "headers");
        move_key(&mut rw, "timeout", &mut out, "timeout");
        let basic = rw.remove("basic_auth");
        if let Some(token) = rw.remove("bearer_token").filter(|t| !is_empty(t)) {
            out.insert("bearer_token".into(), token);
            if basic.is_some() {
                self.notes.push(format!(
                    "{path}.basic_auth: no equivalent in lagring: kafka-lag-go ignores it when bearer_token is set, and lagring takes one or the other"
                ));
            }
        } else if let Some(basic) = basic {
            let mut basic = self.mapping(Some(basic), &format!("{path}.basic_auth"))?;
            let mut auth = Mapping::new();
            move_key(&mut basic, "username", &mut auth, "username");
            move_key(&mut basic, "password", &mut auth, "password");
            self.unknown(basic, &format!("{path}.basic_auth"));
            insert_non_empty(&mut out, "basic_auth", auth);
        }
        if let Some(tls) = rw.remove("tls_config") {
            let tls_path = format!("{path}.tls_config");
            let mut tls = self.mapping(Some(tls), &tls_path)?;
            if truthy(tls.remove("enabled")) {
                let mut t = Mapping::new();
                move_key(&mut tls, "ca_cert_file", &mut t, "ca_file");
                move_key(&mut tls, "cert_file", &mut t, "cert_file");
                move_key(&mut tls, "key_file", &mut t, "key_file");
                move_key(&mut tls, "insecure_skip_verify", &mut t, "insecure_skip_verify");
                self.unknown(tls, &tls_path);
                insert_non_empty(&mut out, "tls", t);
            }
        }
        self.unknown(rw, path);
        Ok(Some(out))
    }

    fn cluster(&mut self, c: Value, path: &str) -> Result<Mapping, MigrateError> {
        let mut c = self.mapping(Some(c), path)?;
        let mut out = Mapping::new();
        move_key(&mut c, "name", &mut out, "name");
        move_key(&mut c, "brokers", &mut out, "brokers");
        if let Some(groups) = c.remove("consumer_groups") {
            let groups_path = format!("{path}.consumer_groups");
            let mut groups = self.mapping(Some(groups), &groups_path)?;
            let mut filter = Mapping::new();
            for (from, to) in [("whitelist", "allow"), ("blacklist", "deny")] {
                if let Some(re) = groups.remove(from).filter(|v| !is_empty(v)) {
                    filter.insert(to.into(), Value::Sequence(vec![re]));
                }
            }
            self.unknown(groups, &groups_path);
            insert_non_empty(&mut out, "groups", filter);
        }
        if let Some(ssl) = c.remove("ssl") {
            let ssl_path = format!("{path}.ssl");
            let mut ssl = self.mapping(Some(ssl), &ssl_path)?;
            if truthy(ssl.remove("enabled")) {
                let mut tls = Mapping::new();
                move_key(&mut ssl, "ca_cert_file", &mut tls, "ca_file");
                move_key(&mut ssl, "client_certificate_file", &mut tls, "cert_file");
                move_key(&mut ssl, "client_key_file", &mut tls, "key_file");
                if truthy(ssl.remove("insecure_skip_verify")) {
                    tls.insert("verify".into(), false.into());
                }
                self.unknown(ssl, &ssl_path);
                out.insert("tls".into(), Value::Mapping(tls));
            }
        }
        if let Some(sasl) = c.remove("sasl") {
            let sasl_path = format!("{path}.sasl");
            let mut sasl = self.mapping(Some(sasl), &sasl_path)?;
            if truthy(sasl.remove("enabled")) {
                let mut s = Mapping::new();
                move_key(&mut sasl, "mechanism", &mut s, "mechanism");
                move_key(&mut sasl, "user", &mut s, "username");
                move_key(&mut sasl, "password", &mut s, "password");
                self.unknown(sasl, &sasl_path);
                out.insert("sasl".into(), Value::Mapping(s));
            }
        }
        move_key(&mut c, "client_request_timeout", &mut out, "request_timeout");
        self.none(
            &mut c,
            path,
            "metadata_fetch_timeout",
            "metadata shares node.iteration_timeout with the rest of the iteration (at most a quarter of it)",
        );
        self.unknown(c, path);
        Ok(out)
    }

    fn storage(&mut self, storage: Value) -> Result<Option<Mapping>, MigrateError> {
        let mut storage = self.mapping(Some(storage), "storage")?;
        let kind = storage.remove("type").and_then(|t| scalar(&t)).unwrap_or_else(|| "redis".to_owned());
        if kind != "redis" {
            return Err(invalid("storage.type", &format!("unsupported storage {kind:?}")));
        }
        let Some(redis) = storage.remove("redis") else {
            self.unknown(storage, "storage");
            return Ok(None);
        };
        self.unknown(storage, "storage");
        let path = "storage.redis";
        let mut redis = self.mapping(Some(redis), path)?;
        let address = redis.remove("address").and_then(|a| scalar(&a)).unwrap_or_else(|| "localhost".to_owned());
        let port = redis.remove("port").and_then(|p| scalar(&p)).unwrap_or_else(|| "6379".to_owned());
        let mut out = Mapping::new();
        let mut tls = Mapping::new();
        let mut scheme = "redis";
        if let Some(ssl) = redis.remove("ssl") {
            let mut ssl = self.mapping(Some(ssl), &format!("{path}.ssl"))?;
            if truthy(ssl.remove("enabled")) {
                scheme = "rediss";
                move_key(&mut ssl, "insecure_skip_verify", &mut tls, "insecure_skip_verify");
            }
            ssl.remove("insecure_skip_verify");
            self.unknown(ssl, &format!("{path}.ssl"));
        }
        out.insert("url".into(), format!("{scheme}://{address}:{port}").into());
        if let Some(auth) = redis.remove("auth") {
            let mut auth = self.mapping(Some(auth), &format!("{path}.auth"))?;
            if truthy(auth.remove("enabled")) {
                move_key(&mut auth, "username", &mut out, "username");
                move_key(&mut auth, "password", &mut out, "password");
            }
            auth.remove("username");
            auth.remove("password");
            self.unknown(auth, &format!("{path}.auth"));
        }
        insert_non_empty(&mut out, "tls", tls);
        move_key(&mut redis, "client_request_timeout", &mut out, "command_timeout");
        self.none(&mut redis, path, "client_idle_timeout", "lagring manages its Redis connections itself");
        self.none(
            &mut redis,
            path,
            "retention_ttl_seconds",
            "histories expire at twice time_lag.end_history.max_age / committed_history.max_age",
        );
        self.unknown(redis, path);
        Ok(Some(out))
    }
}

fn move_key(from: &mut Mapping, key: &str, to: &mut Mapping, new_key: &str) {
    if let Some(v) = from.remove(key).filter(|v| !is_empty(v)) {
        to.insert(new_key.into(), v);
    }
}

fn insert_non_empty(out: &mut Mapping, key: &str, m: Mapping) {
    if !m.is_empty() {
        out.insert(key.into(), Value::Mapping(m));
    }
}

fn truthy(v: Option<Value>) -> bool {
    matches!(v, Some(Value::Bool(true)))
}

fn is_empty(v: &Value) -> bool {
    v.is_null() || v.as_str().is_some_and(str::is_empty)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn escape_dollars(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        Value::Sequence(seq) => seq.iter_mut().for_each(escape_dollars),
        Value::Mapping(m) => m.iter_mut().for_each(|(_, v)| escape_dollars(v)),
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") }
}

fn display(path: &str) -> String {
    if path.is_empty() { "(top level)".to_owned() } else { path.to_owned() }
}

fn invalid(path: &str, why: &str) -> MigrateError {
    MigrateError::Invalid(path.to_owned(), why.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_escaped_and_unknown_keys_named() {
        let m = kafka_lag_go("kafka_clusters:\n  - { name: a, brokers: ['h:1'], sasl: { enabled: true, mechanism: PLAIN, user: u, password: 'p$w' }, colour: red }\nextra: 1\n").unwrap();
        assert!(m.yaml.contains("p$$w"), "{}", m.yaml);
        assert_eq!(
            m.notes,
            [
                "kafka_clusters[0].colour: no equivalent in lagring: not a kafka-lag-go key",
                "extra: no equivalent in lagring: not a kafka-lag-go key",
            ]
        );
    }
}
