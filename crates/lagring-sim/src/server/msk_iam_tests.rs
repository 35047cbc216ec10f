use std::time::UNIX_EPOCH;

use super::*;

const KEY_ID: &str = "AKIASIMTEST";
const SECRET: &str = "sim/secret+key";

fn verifier() -> IamVerifier {
    IamVerifier::new(&ServerMskIamConfig {
        region: "eu-west-1".to_owned(),
        credentials: BTreeMap::from([(KEY_ID.to_owned(), SECRET.to_owned())]),
    })
}

/// 2026-12-06T12:00:00Z.
fn noon() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_796_558_400)
}

/// A message as a client signs it with `secret` for `region` at `at`.
fn message(secret: &str, region: &str, at: SystemTime) -> Vec<u8> {
    let host = "127.0.0.1";
    let signature = signature(KEY_ID, secret, Some("tok".to_owned()), region, host, at, 900).unwrap();
    let date = DateTime::from(at).fmt(Format::DateTime).unwrap().replace(['-', ':'], "");
    let day = date.get(0..8).unwrap();
    serde_json::to_vec(&serde_json::json!({
        "version": "2020_10_22",
        "host": host,
        "user-agent": "test",
        "action": ACTION,
        "x-amz-algorithm": "AWS4-HMAC-SHA256",
        "x-amz-credential": format!("{KEY_ID}/{day}/{region}/kafka-cluster/aws4_request"),
        "x-amz-date": date,
        "x-amz-expires": "900",
        "x-amz-security-token": "tok",
        "x-amz-signedheaders": "host",
        "x-amz-signature": signature,
    }))
    .unwrap()
}

#[test]
fn a_valid_signature_is_accepted_with_a_json_answer() {
    let answer = verifier().verify(&message(SECRET, "eu-west-1", noon()), noon() + Duration::from_secs(60)).unwrap();
    let fields: BTreeMap<String, String> = serde_json::from_slice(&answer).unwrap();
    assert_eq!(fields["version"], "2020_10_22");
    assert!(fields["request-id"].starts_with("sim-"));
}

#[test]
fn every_fault_is_named() {
    let v = verifier();
    let at = noon() + Duration::from_secs(60);
    assert_eq!(
        v.verify(&message("wrong", "eu-west-1", noon()), at).unwrap_err(),
        "signature mismatch for access key id AKIASIMTEST"
    );
    assert_eq!(
        v.verify(&message(SECRET, "us-east-1", noon()), at).unwrap_err(),
        "credential scope is for region \"us-east-1\", the cluster is in \"eu-west-1\""
    );
    assert_eq!(
        v.verify(&message(SECRET, "eu-west-1", noon()), noon() + Duration::from_secs(901)).unwrap_err(),
        "signature expired: signed at 20261206T120000Z, valid for 900 s"
    );
    assert_eq!(
        v.verify(&message(SECRET, "eu-west-1", noon() + Duration::from_secs(301)), noon()).unwrap_err(),
        "signature is from the future: signed at 20261206T120501Z"
    );
    let mut tampered: BTreeMap<String, String> = serde_json::from_slice(&message(SECRET, "eu-west-1", noon())).unwrap();
    tampered.insert("x-amz-security-token".to_owned(), "other".to_owned());
    assert_eq!(
        v.verify(&serde_json::to_vec(&tampered).unwrap(), at).unwrap_err(),
        "signature mismatch for access key id AKIASIMTEST"
    );
    tampered
        .insert("x-amz-credential".to_owned(), "AKIAOTHER/20261206/eu-west-1/kafka-cluster/aws4_request".to_owned());
    assert_eq!(v.verify(&serde_json::to_vec(&tampered).unwrap(), at).unwrap_err(), "unknown access key id AKIAOTHER");
    assert!(v.verify(b"{", at).unwrap_err().starts_with("malformed AWS_MSK_IAM message"));
    assert_eq!(
        v.verify(&vec![b' '; MAX_MESSAGE + 1], at).unwrap_err(),
        format!("message longer than {MAX_MESSAGE} bytes")
    );
}

#[test]
fn amz_dates_parse_and_malformed_ones_do_not() {
    assert_eq!(parse_amz_date("20261206T120000Z"), Some(noon()));
    assert_eq!(parse_amz_date("2026-12-06T12:00:00Z"), None);
    assert_eq!(parse_amz_date("20261306T120000Z"), None);
    assert_eq!(parse_amz_date("2026120ÄT12000Z"), None);
}
