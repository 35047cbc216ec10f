//! The HTTP calls behind AWS credentials of the default chain: STS AssumeRoleWithWebIdentity
//! (EKS IRSA), the container credentials endpoint (ECS, EKS Pod Identity) and IMDSv2 (EC2
//! instance profiles). Each answer carries temporary keys and their expiration.
//!
//! These endpoints are trusted no more than a broker: every call is bounded by the client's
//! timeout, an answer is read up to [`MAX_BODY`] bytes, every error names the endpoint and quotes
//! (cut short) what it said, and no key, token or session token is ever part of an error.

use std::time::SystemTime;

use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde::Deserialize;

use super::oidc::error_chain;
use crate::aws::{AwsKeys, ContainerAuthorization, ContainerCredentials, WebIdentity};

/// Largest answer read; a credentials document is about two kilobytes.
const MAX_BODY: usize = 64 * 1024;
/// Largest token file read (a projected service account token is about one kilobyte).
const MAX_TOKEN_FILE: u64 = 64 * 1024;
/// Characters of a refusal quoted in an error.
const QUOTED: usize = 300;
/// Lifetime asked of IMDSv2 session tokens (its maximum, six hours).
const IMDS_TOKEN_TTL: &str = "21600";

/// Keys and when they expire (`None`: never).
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) keys: AwsKeys,
    pub(crate) expires: Option<SystemTime>,
}

/// The JSON credentials document of the container endpoint and of IMDS.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CredentialsDocument {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    expiration: Option<String>,
}

/// STS AssumeRoleWithWebIdentity with the token file's current content.
pub(crate) async fn web_identity(http: &reqwest::Client, settings: &WebIdentity) -> Result<Fetched, String> {
    let url = &settings.sts_endpoint;
    let at = |what: String| format!("sts {url}: {what}");
    let token = read_small_file(&settings.token_file, "web identity token file").await?;
    let form = [
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", settings.role_arn.as_str()),
        ("RoleSessionName", settings.session_name.as_str()),
        ("WebIdentityToken", token.as_str()),
    ];
    let request = http.post(url).form(&form);
    let body = send(request).await.map_err(at)?;
    let text = String::from_utf8_lossy(&body);
    let element = |name: &str| xml_element(&text, name).map(unescape_xml);
    let (Some(access_key_id), Some(secret_access_key)) = (element("AccessKeyId"), element("SecretAccessKey")) else {
        return Err(at("answer has no AccessKeyId and SecretAccessKey".to_owned()));
    };
    let expires = element("Expiration").map(|e| parse_time(&e)).transpose().map_err(at)?;
    Ok(Fetched { keys: AwsKeys { access_key_id, secret_access_key, session_token: element("SessionToken") }, expires })
}

/// The container credentials endpoint, with its authorization token when one is configured.
pub(crate) async fn container(http: &reqwest::Client, settings: &ContainerCredentials) -> Result<Fetched, String> {
    let url = &settings.uri;
    let at = |what: String| format!("container credentials endpoint {url}: {what}");
    let mut request = http.get(url).header(reqwest::header::ACCEPT, "application/json");
    match &settings.authorization {
        Some(ContainerAuthorization::Token(token)) => request = request.header(reqwest::header::AUTHORIZATION, token),
        Some(ContainerAuthorization::File(path)) => {
            let token = read_small_file(path, "container authorization token file").await?;
            request = request.header(reqwest::header::AUTHORIZATION, token);
        }
        None => {}
    }
    document(&send(request).await.map_err(at)?).map_err(at)
}

/// The instance profile's credentials through IMDSv2: a session token, the role's name, its keys.
pub(crate) async fn instance_profile(http: &reqwest::Client, endpoint: &str) -> Result<Fetched, String> {
    let at = |what: String| format!("instance metadata {endpoint}: {what}");
    let token_request =
        http.put(format!("{endpoint}/latest/api/token")).header("x-aws-ec2-metadata-token-ttl-seconds", IMDS_TOKEN_TTL);
    let token = String::from_utf8_lossy(&send(token_request).await.map_err(at)?).trim().to_owned();
    let base = format!("{endpoint}/latest/meta-data/iam/security-credentials/");
    let listing = send(http.get(&base).header("x-aws-ec2-metadata-token", &token)).await.map_err(at)?;
    let listing = String::from_utf8_lossy(&listing);
    let role = listing
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .ok_or_else(|| at("no instance profile role".to_owned()))?;
    let keys = send(http.get(format!("{base}{role}")).header("x-aws-ec2-metadata-token", &token)).await.map_err(at)?;
    document(&keys).map_err(at)
}

fn document(body: &[u8]) -> Result<Fetched, String> {
    let doc: CredentialsDocument =
        serde_json::from_slice(body).map_err(|e| format!("answer is not a credentials document: {e}"))?;
    if doc.access_key_id.is_empty() || doc.secret_access_key.is_empty() {
        return Err("answer has an empty AccessKeyId or SecretAccessKey".to_owned());
    }
    let expires = doc.expiration.as_deref().map(parse_time).transpose()?;
    let keys = AwsKeys {
        access_key_id: doc.access_key_id,
        secret_access_key: doc.secret_access_key,
        session_token: doc.token.filter(|t| !t.is_empty()),
    };
    Ok(Fetched { keys, expires })
}

/// Sends `request`; the answer's body if the status is a success, else the status and body.
async fn send(request: reqwest::RequestBuilder) -> Result<Vec<u8>, String> {
    let mut response = request.send().await.map_err(|e| format!("request failed: {}", error_chain(&e)))?;
    let status = response.status();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("reading the answer failed: {e}"))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!("answer longer than {MAX_BODY} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let text: String = String::from_utf8_lossy(&body).chars().take(QUOTED).collect();
        return Err(format!("http {}: {}", status.as_u16(), text.trim()));
    }
    Ok(body)
}

async fn read_small_file(path: &std::path::Path, what: &str) -> Result<String, String> {
    let at = |e: String| format!("{what} {}: {e}", path.display());
    let meta = tokio::fs::metadata(path).await.map_err(|e| at(e.to_string()))?;
    if meta.len() > MAX_TOKEN_FILE {
        return Err(at(format!("longer than {MAX_TOKEN_FILE} bytes")));
    }
    let text = tokio::fs::read_to_string(path).await.map_err(|e| at(e.to_string()))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(at("empty".to_owned()));
    }
    Ok(text.to_owned())
}

/// An ISO 8601 time as AWS writes expirations (`2026-12-06T13:00:00Z`).
pub(crate) fn parse_time(text: &str) -> Result<SystemTime, String> {
    DateTime::from_str(text.trim(), Format::DateTimeWithOffset)
        .ok()
        .and_then(|t| SystemTime::try_from(t).ok())
        .ok_or_else(|| format!("expiration {text:?} is not an ISO 8601 time"))
}

/// The text of the first `<name>…</name>` element (STS answers are small and flat).
fn xml_element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml.get(start..)?.find(&format!("</{name}>"))?;
    xml.get(start..start + end).map(str::trim)
}

fn unescape_xml(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn an_sts_answer_yields_its_elements() {
        let xml = "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>\
                   <AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>a/b+c</SecretAccessKey>\
                   <SessionToken>t&amp;k</SessionToken><Expiration>2026-12-06T13:00:00Z</Expiration>\
                   </Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
        assert_eq!(xml_element(xml, "AccessKeyId"), Some("ASIA1"));
        assert_eq!(xml_element(xml, "SecretAccessKey"), Some("a/b+c"));
        assert_eq!(xml_element(xml, "SessionToken").map(unescape_xml).as_deref(), Some("t&k"));
        assert_eq!(xml_element(xml, "Missing"), None);
        let at = parse_time(xml_element(xml, "Expiration").unwrap()).unwrap();
        assert_eq!(at.duration_since(UNIX_EPOCH).unwrap(), Duration::from_secs(1_796_562_000));
    }

    #[test]
    fn a_credentials_document_is_checked() {
        let doc = br#"{"AccessKeyId":"ASIA2","SecretAccessKey":"s","Token":"t","Expiration":"2026-12-06T13:00:00Z"}"#;
        let fetched = document(doc).unwrap();
        assert_eq!(fetched.keys.access_key_id, "ASIA2");
        assert_eq!(fetched.keys.session_token.as_deref(), Some("t"));
        assert!(fetched.expires.is_some());
        assert_eq!(
            document(br#"{"AccessKeyId":"","SecretAccessKey":"s"}"#).unwrap_err(),
            "answer has an empty AccessKeyId or SecretAccessKey"
        );
        assert!(document(b"<html>").unwrap_err().starts_with("answer is not a credentials document"));
        assert_eq!(parse_time("yesterday").unwrap_err(), "expiration \"yesterday\" is not an ISO 8601 time");
    }
}
