//! Tests of the `remote_write` section: defaults, parsing, validation, redaction.

use super::*;

fn parse(yaml: &str) -> RemoteWriteConfig {
    serde_norway::from_str(yaml).unwrap()
}

fn error_of(cfg: &RemoteWriteConfig) -> String {
    cfg.validate().unwrap_err().to_string()
}

#[test]
fn defaults_apply() {
    let cfg = parse("url: http://p:9090/api/v1/write\n");
    assert_eq!(cfg, RemoteWriteConfig::for_url("http://p:9090/api/v1/write"));
    assert_eq!(cfg.timeout, Duration::from_secs(10));
    assert_eq!(cfg.max_samples_per_request, 2000);
    assert_eq!(cfg.queue_max_samples, 500_000);
    assert_eq!(cfg.queue_max_bytes, 268_435_456);
    assert_eq!((cfg.min_backoff, cfg.max_backoff), (Duration::from_millis(100), Duration::from_secs(5)));
    assert_eq!((cfg.leave_after, cfg.probe_interval), (Duration::from_secs(60), Duration::from_secs(5)));
    assert!(!cfg.tls.insecure_skip_verify);
    cfg.validate().unwrap();
}

#[test]
fn full_config_parses() {
    let cfg = parse(
        "url: https://p/api/v1/write\nheaders: {X-Scope-OrgID: t1}\nbearer_token_file: /run/token\n\
         tls: {ca_file: /ca.pem, cert_file: /c.pem, key_file: /k.pem}\ntimeout: 3s\n\
         min_backoff: 50ms\nmax_backoff: 1m\nmax_retries: 7\n",
    );
    assert_eq!(cfg.timeout, Duration::from_secs(3));
    assert_eq!(cfg.max_backoff, Duration::from_secs(60));
    assert_eq!(cfg.max_retries, Some(7));
    assert_eq!(cfg.headers.get("X-Scope-OrgID").map(String::as_str), Some("t1"));
    cfg.validate().unwrap();
}

#[test]
fn unknown_keys_are_rejected() {
    let err = serde_norway::from_str::<RemoteWriteConfig>("url: http://p\nbatch: 3\n").unwrap_err();
    assert!(err.to_string().contains("unknown field `batch`"), "{err}");
}

#[test]
fn secrets_are_redacted_in_debug() {
    let cfg = parse("url: http://p\nbasic_auth: {username: u, password: hunter2}\n");
    assert!(!format!("{cfg:?}").contains("hunter2"));
    assert_eq!(cfg.basic_auth.unwrap().password.expose(), "hunter2");
}

#[test]
fn debug_shows_no_credential() {
    let cfg = parse(
        "url: https://urluser:MARK-url-pass@p/api/v1/write?x=1\n\
         headers: {Authorization: MARK-header-auth, X-Api-Key: MARK-header-key}\n\
         basic_auth: {username: u, password: MARK-basic}\n",
    );
    let debug = format!("{cfg:?}");
    assert!(!debug.contains("MARK"), "{debug}");
    assert!(debug.contains("https://<redacted>@p/api/v1/write?x=1") && debug.contains("X-Api-Key"), "{debug}");
    let cfg = parse("url: http://p\nbearer_token: MARK-bearer\n");
    assert!(!format!("{cfg:?}").contains("MARK"), "{cfg:?}");
    assert_eq!(redact_userinfo("http://p/a@b"), "http://p/a@b");
    assert_eq!(redact_userinfo("not a url"), "not a url");
}

#[test]
fn credentials_over_http_are_warned_about() {
    let warning = |yaml: &str| parse(yaml).plaintext_credentials();
    assert_eq!(
        warning("url: http://p\nbasic_auth: {username: u, password: p}\n").as_deref(),
        Some("remote_write.basic_auth: credentials sent in clear text to an http:// url (use https://)")
    );
    assert!(warning("url: HTTP://p\nbearer_token: t\n").unwrap().starts_with("remote_write.bearer_token: "));
    assert!(warning("url: http://p\nbearer_token_file: /t\n").unwrap().starts_with("remote_write.bearer_token_file: "));
    assert!(warning("url: http://p\nheaders: {authorization: x}\n").is_some());
    assert_eq!(warning("url: https://p\nbasic_auth: {username: u, password: p}\n"), None);
    assert_eq!(warning("url: http://p\nheaders: {X-Scope-OrgID: t}\n"), None);
}

#[test]
fn basic_auth_and_bearer_token_together_is_an_error() {
    let cfg = parse("url: http://p\nbearer_token: t\nbasic_auth: {username: u, password: p}\n");
    assert_eq!(error_of(&cfg), "remote_write.basic_auth: basic_auth and a bearer token are mutually exclusive");
    let cfg = parse("url: http://p\nbearer_token: t\nbearer_token_file: /t\n");
    assert!(error_of(&cfg).starts_with("remote_write.bearer_token: "));
}

#[test]
fn bad_url_names_the_key() {
    assert!(error_of(&RemoteWriteConfig::for_url("not a url")).starts_with("remote_write.url: invalid url"));
    assert_eq!(
        error_of(&RemoteWriteConfig::for_url("ftp://p/x")),
        "remote_write.url: scheme must be http or https, got \"ftp\""
    );
}

#[test]
fn zero_batch_size_and_bad_bounds_are_errors() {
    let mut cfg = RemoteWriteConfig::for_url("http://p");
    cfg.max_samples_per_request = 0;
    assert_eq!(error_of(&cfg), "remote_write.max_samples_per_request: must be greater than zero");
    cfg.max_samples_per_request = 10;
    cfg.queue_max_samples = 5;
    assert!(error_of(&cfg).starts_with("remote_write.queue_max_samples: "));
    cfg.queue_max_samples = 10;
    cfg.max_backoff = Duration::from_millis(1);
    assert_eq!(error_of(&cfg), "remote_write.max_backoff: must not be less than min_backoff");
    cfg.max_backoff = Duration::from_secs(1);
    cfg.leave_after = Duration::ZERO;
    assert_eq!(error_of(&cfg), "remote_write.leave_after: must be greater than zero");
}

#[test]
fn protocol_headers_and_half_tls_identity_are_errors() {
    let cfg = parse("url: http://p\nheaders: {Content-Type: text/plain}\n");
    assert_eq!(error_of(&cfg), "remote_write.headers.Content-Type: header is set by the remote write protocol");
    let cfg = parse("url: http://p\ntls: {cert_file: /c.pem}\n");
    assert_eq!(error_of(&cfg), "remote_write.tls: cert_file and key_file must be set together");
}
