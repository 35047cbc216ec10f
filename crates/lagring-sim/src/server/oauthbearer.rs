//! The broker's side of OAUTHBEARER (RFC 7628, KIP-255): the client's single message is parsed
//! (GS2 header, then `\x01`-separated key/value pairs, one of them `auth=Bearer <token>`) and
//! the token verified as a JWT: HS256 signature with the scenario's key, `exp` with no leeway
//! and, when configured, `aud`. Kafka's default validator (KIP-768) checks the same claims.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::scenario::security::ServerOAuthConfig;

/// Longest client message accepted; a JWT with generous claims is a few kilobytes.
const MAX_MESSAGE: usize = 64 * 1024;

/// Verifies OAUTHBEARER logins.
pub(crate) struct BearerVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for BearerVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerVerifier").finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Claims {
    exp: u64,
}

impl BearerVerifier {
    pub(crate) fn new(config: &ServerOAuthConfig) -> Result<Self, String> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp"]);
        match &config.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        let key = DecodingKey::from_secret(config.hs256_key.as_bytes())
            .map_err(|e| format!("security.sasl.oauthbearer.hs256_key: {e}"))?;
        Ok(BearerVerifier { key, validation })
    }

    /// Checks the client's message; the milliseconds its token has left, or why it is refused.
    pub(crate) fn verify(&self, message: &[u8]) -> Result<u64, String> {
        if message.len() > MAX_MESSAGE {
            return Err(format!("message longer than {MAX_MESSAGE} bytes"));
        }
        let text = std::str::from_utf8(message).map_err(|_| "message is not utf-8".to_owned())?;
        let token = bearer_token(text).ok_or("malformed OAUTHBEARER message")?;
        let data = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| format!("invalid token: {e}"))?;
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let exp_ms = u128::from(data.claims.exp).saturating_mul(1000);
        let left = exp_ms.checked_sub(now_ms).filter(|left| *left > 0).ok_or("invalid token: expired")?;
        Ok(u64::try_from(left).unwrap_or(u64::MAX))
    }
}

/// The token of `auth=Bearer <token>` in an RFC 7628 client initial response.
fn bearer_token(message: &str) -> Option<&str> {
    let (gs2, pairs) = message.split_once('\u{1}')?;
    if !gs2.starts_with("n,") && !gs2.starts_with("y,") {
        return None;
    }
    pairs.split('\u{1}').find_map(|pair| pair.strip_prefix("auth=")?.strip_prefix("Bearer "))
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};

    use super::*;

    const KEY: &str = "simulator-unit-test-key-of-32-bytes!";

    fn verifier() -> BearerVerifier {
        BearerVerifier::new(&ServerOAuthConfig { hs256_key: KEY.to_owned(), audience: Some("kafka".to_owned()) })
            .unwrap()
    }

    fn message(key: &str, aud: &str, exp_from_now: i64) -> Vec<u8> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let exp = now.checked_add_signed(exp_from_now).unwrap();
        let claims = serde_json::json!({ "sub": "s", "aud": aud, "exp": exp });
        let token =
            jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(key.as_bytes()).unwrap())
                .unwrap();
        format!("n,,\u{1}auth=Bearer {token}\u{1}\u{1}").into_bytes()
    }

    #[test]
    fn a_valid_token_has_its_time_left_and_every_fault_is_named() {
        let left = verifier().verify(&message(KEY, "kafka", 60)).unwrap();
        assert!((58_000..=60_000).contains(&left), "{left} ms left");
        let refused = |m: Vec<u8>| verifier().verify(&m).unwrap_err();
        assert_eq!(refused(message(KEY, "other", 60)), "invalid token: InvalidAudience");
        assert_eq!(refused(message(KEY, "kafka", -5)), "invalid token: ExpiredSignature");
        assert_eq!(
            refused(message("another-key-of-at-least-32-bytes!!", "kafka", 60)),
            "invalid token: InvalidSignature"
        );
        assert_eq!(refused(b"n,,\x01auth=Bearer not-a-jwt\x01\x01".to_vec()), "invalid token: InvalidToken");
        assert_eq!(refused(vec![b'a'; MAX_MESSAGE + 1]), format!("message longer than {MAX_MESSAGE} bytes"));
    }

    #[test]
    fn the_token_is_found_among_the_pairs() {
        assert_eq!(bearer_token("n,,\u{1}auth=Bearer a.b.c\u{1}\u{1}"), Some("a.b.c"));
        assert_eq!(bearer_token("n,a=alice,\u{1}host=x\u{1}auth=Bearer t\u{1}\u{1}"), Some("t"));
        assert_eq!(bearer_token("n,,\u{1}auth=Basic t\u{1}\u{1}"), None);
        assert_eq!(bearer_token("auth=Bearer t"), None);
    }
}
