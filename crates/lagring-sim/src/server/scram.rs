//! The server side of SCRAM (RFC 5802; SHA-256 per RFC 7677, SHA-512 as Kafka's KIP-84) as a
//! Kafka broker runs it: client-first → server-first (nonce, salt, iterations), client-final
//! (proof) → server-final (signature). Written here because the `sasl` crate's server requires
//! the "y" GS2 flag, which Kafka clients never send; the hash, HMAC and PBKDF2 come from that
//! crate's `ScramProvider`s. Checked against the RFC 5802 and RFC 7677 exchanges below, and
//! against librdkafka and the native client in the crates' tests.

use std::marker::PhantomData;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sasl::common::Password;
use sasl::common::scram::ScramProvider;

/// Iterations of the stored credentials (Kafka's minimum for SCRAM).
pub(crate) const ITERATIONS: u32 = 4096;

/// A stored SCRAM credential.
#[derive(Clone, Debug)]
pub(crate) struct Credential {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub salted_password: Vec<u8>,
}

impl Credential {
    pub(crate) fn derive<S: ScramProvider>(password: &str, salt: &[u8], iterations: u32) -> Result<Self, String> {
        let salted_password = S::derive(&Password::Plain(password.to_owned()), salt, iterations)
            .map_err(|e| format!("cannot derive the scram credential: {e}"))?;
        Ok(Credential { salt: salt.to_vec(), iterations, salted_password })
    }
}

enum State {
    Start,
    SentFirst { auth_prefix: String, nonce: String, gs2_header: String, credential: Credential },
    Done,
}

/// One SCRAM exchange on one connection.
pub(crate) struct ScramServer<S> {
    state: State,
    _hash: PhantomData<S>,
}

impl<S: ScramProvider> ScramServer<S> {
    pub(crate) fn new() -> Self {
        ScramServer { state: State::Start, _hash: PhantomData }
    }

    /// Answers the next client message; `true` once the exchange succeeded.
    pub(crate) fn step(
        &mut self,
        message: &[u8],
        lookup: impl FnOnce(&str) -> Option<Credential>,
        suffix: &str,
    ) -> Result<(Vec<u8>, bool), String> {
        match self.state {
            State::Start => self.first(message, lookup, suffix).map(|reply| (reply, false)),
            _ => self.last(message).map(|reply| (reply, true)),
        }
    }

    /// Answers client-first with server-first. `lookup` gives a user's credential; `suffix` is
    /// the server's part of the nonce. An unknown user fails here, as a wrong password fails
    /// at the proof.
    pub(crate) fn first(
        &mut self,
        client_first: &[u8],
        lookup: impl FnOnce(&str) -> Option<Credential>,
        suffix: &str,
    ) -> Result<Vec<u8>, String> {
        if !matches!(self.state, State::Start) {
            return Err("unexpected client-first message".to_owned());
        }
        let text = std::str::from_utf8(client_first).map_err(|_| "client-first is not utf-8".to_owned())?;
        let (flag, rest) = text.split_once(',').ok_or("client-first without a gs2 header")?;
        let (authzid, bare) = rest.split_once(',').ok_or("client-first without a gs2 header")?;
        if flag != "n" && flag != "y" {
            return Err(format!("channel binding {flag:?} is not supported"));
        }
        let user = attribute(bare, "n").ok_or("client-first without a user name")?;
        let user = user.replace("=2C", ",").replace("=3D", "=");
        let client_nonce = attribute(bare, "r").ok_or("client-first without a nonce")?;
        let credential = lookup(&user).ok_or_else(|| format!("unknown user {user:?}"))?;
        let nonce = format!("{client_nonce}{suffix}");
        let server_first = format!("r={nonce},s={},i={}", BASE64.encode(&credential.salt), credential.iterations);
        self.state = State::SentFirst {
            auth_prefix: format!("{bare},{server_first}"),
            nonce,
            gs2_header: format!("{flag},{authzid},"),
            credential,
        };
        Ok(server_first.into_bytes())
    }

    /// Checks client-final's proof and answers with server-final.
    pub(crate) fn last(&mut self, client_final: &[u8]) -> Result<Vec<u8>, String> {
        let State::SentFirst { auth_prefix, nonce, gs2_header, credential } =
            std::mem::replace(&mut self.state, State::Done)
        else {
            return Err("unexpected client-final message".to_owned());
        };
        let text = std::str::from_utf8(client_final).map_err(|_| "client-final is not utf-8".to_owned())?;
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or("client-final without a proof")?;
        if attribute(without_proof, "r") != Some(nonce.as_str()) {
            return Err("client-final nonce does not match".to_owned());
        }
        if attribute(without_proof, "c") != Some(BASE64.encode(&gs2_header).as_str()) {
            return Err("client-final channel binding does not match the gs2 header".to_owned());
        }
        let proof = BASE64.decode(proof).map_err(|_| "client proof is not base64".to_owned())?;
        let auth_message = format!("{auth_prefix},{without_proof}");
        let hmac = |key: &[u8], data: &[u8]| S::hmac(data, key).map_err(|e| format!("hmac: {e}"));
        let client_key = hmac(&credential.salted_password, b"Client Key")?;
        let stored_key = S::hash(&client_key);
        let client_signature = hmac(&stored_key, auth_message.as_bytes())?;
        let recovered: Vec<u8> = proof.iter().zip(&client_signature).map(|(a, b)| a ^ b).collect();
        if proof.len() != client_signature.len() || S::hash(&recovered) != stored_key {
            return Err("invalid credentials".to_owned());
        }
        let server_key = hmac(&credential.salted_password, b"Server Key")?;
        let server_signature = hmac(&server_key, auth_message.as_bytes())?;
        Ok(format!("v={}", BASE64.encode(server_signature)).into_bytes())
    }
}

/// The value of `key=` in a comma-separated SCRAM message.
fn attribute<'a>(message: &'a str, key: &str) -> Option<&'a str> {
    message.split(',').find_map(|part| part.strip_prefix(key)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    use sasl::common::scram::{Sha1, Sha256};

    use super::*;

    fn replay<S: ScramProvider>(salt_b64: &str, exchange: [&str; 4], suffix: &str) {
        let salt = BASE64.decode(salt_b64).unwrap();
        let credential = Credential::derive::<S>("pencil", &salt, 4096).unwrap();
        let mut server = ScramServer::<S>::new();
        let first =
            server.first(exchange[0].as_bytes(), |user| (user == "user").then(|| credential.clone()), suffix).unwrap();
        assert_eq!(String::from_utf8(first).unwrap(), exchange[1]);
        let last = server.last(exchange[2].as_bytes()).unwrap();
        assert_eq!(String::from_utf8(last).unwrap(), exchange[3]);
    }

    #[test]
    fn rfc_5802_sha1_exchange() {
        replay::<Sha1>(
            "QSXCR+Q6sek8bf92",
            [
                "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
                "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
                "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
                "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
            ],
            "3rfcNHYJY1ZVvWVs7j",
        );
    }

    #[test]
    fn rfc_7677_sha256_exchange() {
        replay::<Sha256>(
            "W22ZaJ0SNY7soEsUEjb6gQ==",
            [
                "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
                "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
            ],
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        );
    }

    #[test]
    fn a_wrong_proof_an_unknown_user_and_a_replayed_message_fail() {
        let credential = Credential::derive::<Sha256>("pencil", b"salt", 4096).unwrap();
        let mut server = ScramServer::<Sha256>::new();
        assert_eq!(server.first(b"n,,n=bob,r=abc", |_| None, "x").unwrap_err(), "unknown user \"bob\"");
        let mut server2 = ScramServer::<Sha256>::new();
        server2.first(b"n,,n=user,r=abc", |_| Some(credential.clone()), "x").unwrap();
        let err = server2.last(b"c=biws,r=abcx,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=").unwrap_err();
        assert_eq!(err, "invalid credentials");
        assert_eq!(server2.last(b"c=biws,r=abcx,p=AA==").unwrap_err(), "unexpected client-final message");
        assert!(server.first(b"p=tls-unique,,n=user,r=abc", |_| Some(credential.clone()), "x").is_err());
    }
}
