//! SCRAM-SHA-512 for the `sasl` crate.
//!
//! Kafka brokers offer SCRAM-SHA-256 and SCRAM-SHA-512 (KIP-84). The `sasl` crate implements
//! the SCRAM exchange of RFC 5802 (client and server, tested there against the RFC 5802 and
//! RFC 7677 vectors) for any hash given through its `ScramProvider` trait, but ships only SHA-1
//! and SHA-256. This crate is that trait for SHA-512, built from the RustCrypto `sha2`, `hmac`
//! and `pbkdf2` crates, so no cryptography is written here. It is a crate of its own because
//! both the native Kafka client (`lagring-kafka`) and the simulator (`lagring-sim`) need it and
//! neither depends on the other.
//!
//! It also holds the client's check of a server-first message ([`check_server_first`]): the
//! PBKDF2 iteration count comes from the broker, and the `sasl` crate derives with whatever it is
//! given, so a broker asking for 2^32 − 1 iterations would hold a CPU for over an hour. Kafka's own
//! bounds (4096 to 16384, `ScramMechanism` of the Java client and broker) are enforced before
//! any derivation.

use hmac::digest::InvalidLength;
use hmac::{Hmac, Mac};
use sasl::common::Password;
use sasl::common::scram::{DeriveError, ScramProvider};
use sasl::secret::{Pbkdf2Secret, Secret};
use sha2::Digest;

/// Length of a SHA-512 digest in bytes.
const OUTPUT: usize = 64;

/// Fewest PBKDF2 iterations a client accepts (Kafka's `ScramMechanism` minimum): fewer would make
/// the client proof cheap to brute-force for whoever impersonates the broker.
pub const MIN_ITERATIONS: u32 = 4096;
/// Most PBKDF2 iterations a client accepts (Kafka's `ScramMechanism` maximum): some 30 ms of
/// PBKDF2-HMAC-SHA-512 on one core, where the largest count a broker can send (2^32 − 1) is
/// some 100 minutes.
pub const MAX_ITERATIONS: u32 = 16_384;

/// Why a server-first message is refused before the client derives anything from it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServerFirstError {
    #[error("server-first message has no iteration count")]
    NoIterations,
    #[error("server-first message has an invalid iteration count {0:?}")]
    InvalidIterations(String),
    #[error("the broker asks for {asked} pbkdf2 iterations, outside the {min}..={max} a kafka client accepts")]
    IterationsOutOfRange { asked: u64, min: u32, max: u32 },
}

/// The PBKDF2 iteration count of a SCRAM server-first message (`r=…,s=…,i=…`, RFC 5802), if it
/// is within [`MIN_ITERATIONS`]..=[`MAX_ITERATIONS`].
pub fn check_server_first(message: &[u8]) -> Result<u32, ServerFirstError> {
    let value = message
        .split(|b| *b == b',')
        .find_map(|attribute| attribute.strip_prefix(b"i="))
        .ok_or(ServerFirstError::NoIterations)?;
    let text = String::from_utf8_lossy(value);
    let asked: u64 = text.parse().map_err(|_| ServerFirstError::InvalidIterations(text.chars().take(32).collect()))?;
    match u32::try_from(asked) {
        Ok(iterations) if (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) => Ok(iterations),
        _ => Err(ServerFirstError::IterationsOutOfRange { asked, min: MIN_ITERATIONS, max: MAX_ITERATIONS }),
    }
}

/// The `ScramProvider` of SCRAM-SHA-512.
#[derive(Debug)]
pub struct Sha512;

/// A SCRAM-SHA-512 credential as a server stores it: salt, iteration count and the salted
/// password (PBKDF2-HMAC-SHA-512 of the password).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pbkdf2Sha512 {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub digest: Vec<u8>,
}

impl Pbkdf2Sha512 {
    /// Derives the stored credential of `password`.
    pub fn derive(password: &str, salt: &[u8], iterations: u32) -> Result<Self, DeriveError> {
        let digest = Sha512::derive(&Password::Plain(password.to_owned()), salt, iterations)?;
        Ok(Pbkdf2Sha512 { salt: salt.to_vec(), iterations, digest })
    }
}

impl Secret for Pbkdf2Sha512 {}

impl Pbkdf2Secret for Pbkdf2Sha512 {
    fn salt(&self) -> &[u8] {
        &self.salt
    }
    fn iterations(&self) -> u32 {
        self.iterations
    }
    fn digest(&self) -> &[u8] {
        &self.digest
    }
}

impl ScramProvider for Sha512 {
    type Secret = Pbkdf2Sha512;

    fn name() -> &'static str {
        "SHA-512"
    }

    fn hash(data: &[u8]) -> Vec<u8> {
        sha2::Sha512::digest(data).to_vec()
    }

    fn hmac(data: &[u8], key: &[u8]) -> Result<Vec<u8>, InvalidLength> {
        let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key)?;
        mac.update(data);
        Ok(mac.finalize().into_bytes().to_vec())
    }

    fn derive(password: &Password, salt: &[u8], iterations: u32) -> Result<Vec<u8>, DeriveError> {
        match password {
            Password::Plain(plain) => {
                let mut out = vec![0; OUTPUT];
                pbkdf2::pbkdf2::<Hmac<sha2::Sha512>>(plain.as_bytes(), salt, iterations, &mut out)?;
                Ok(out)
            }
            // A stored digest is only usable with the salt and iteration count it was made with.
            Password::Pbkdf2 { method, salt: stored_salt, iterations: stored_iterations, data } => {
                if method != Self::name() {
                    Err(DeriveError::IncompatibleHashingMethod(method.clone(), Self::name().to_owned()))
                } else if stored_salt != salt {
                    Err(DeriveError::IncorrectSalt)
                } else if *stored_iterations != iterations {
                    Err(DeriveError::IncompatibleIterationCount(*stored_iterations, iterations))
                } else {
                    Ok(data.clone())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use sasl::client::Mechanism as _;
    use sasl::common::{ChannelBinding, Identity};
    use sasl::server::{Mechanism as _, Provider, Response, Validator, ValidatorError};

    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    // Expected values computed independently with Python's hashlib / hmac (OpenSSL).
    #[test]
    fn primitives_match_openssl() {
        assert_eq!(
            hex(&Sha512::hash(b"abc")),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        assert_eq!(
            hex(&Sha512::hmac(b"The quick brown fox jumps over the lazy dog", b"key").unwrap()),
            "b42af09057bac1e2d41708e48a902e09b5ff7f12ab428a4fe86653c73dd248fb82f948a549f7b791a5b41915ee4d1ec3935357e4e2317250d0372afa2ebeeb3a"
        );
        assert_eq!(
            hex(&Pbkdf2Sha512::derive("password", b"salt", 1).unwrap().digest),
            "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce"
        );
        assert_eq!(
            hex(&Pbkdf2Sha512::derive("pencil", b"salt-for-lagring", 4096).unwrap().digest),
            "5cccfaed4af3e31a7d97934aaadc966934c0030a41e301ef7d1aca159b68c7e6658a7547902afa3dce9e742f851a297e625e7470853c40e7f143e749dd1ee374"
        );
    }

    struct OneUser(Pbkdf2Sha512);

    impl Validator<Pbkdf2Sha512> for OneUser {
        fn validate(&self, _: &Identity, value: &Pbkdf2Sha512) -> Result<(), ValidatorError> {
            if *value == self.0 { Ok(()) } else { Err(ValidatorError::AuthenticationFailed) }
        }
    }

    impl Provider<Pbkdf2Sha512> for OneUser {
        fn provide(&self, identity: &Identity) -> Result<Pbkdf2Sha512, sasl::server::ProviderError> {
            match identity {
                Identity::Username(name) if name == "user" => Ok(self.0.clone()),
                _ => Err(sasl::server::ProviderError::AuthenticationFailed),
            }
        }
    }

    fn exchange(password: &str) -> Result<(), String> {
        let stored = Pbkdf2Sha512::derive("pencil", b"0123456789abcdef", 4096).map_err(|e| e.to_string())?;
        let mut server = sasl::server::mechanisms::Scram::<Sha512, _>::new(OneUser(stored), ChannelBinding::None);
        // The crate's server insists on the "y" GS2 flag without channel binding, which its
        // client sends for `Unsupported`; Kafka clients send "n" (the simulator's server takes both).
        let mut client =
            sasl::client::mechanisms::Scram::<Sha512>::new("user", password.to_owned(), ChannelBinding::Unsupported)
                .map_err(|e| format!("{e:?}"))?;
        assert_eq!(client.name(), "SCRAM-SHA-512");
        let first = client.initial();
        let Response::Proceed(challenge) = server.respond(&first).map_err(|e| e.to_string())? else {
            return Err("server finished after the first message".to_owned());
        };
        let last = client.response(&challenge).map_err(|e| e.to_string())?;
        match server.respond(&last).map_err(|e| e.to_string())? {
            Response::Success(Identity::Username(name), data) => {
                assert_eq!(name, "user");
                client.success(&data).map_err(|e| e.to_string())
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }

    #[test]
    fn iteration_counts_outside_kafkas_bounds_are_refused() {
        assert_eq!(check_server_first(b"r=abc,s=c2FsdA==,i=4096"), Ok(4096));
        assert_eq!(check_server_first(b"r=abc,s=c2FsdA==,i=16384,e=x"), Ok(16_384));
        for (message, asked) in [(&b"r=a,s=b,i=16385"[..], 16_385), (b"r=a,s=b,i=4294967295", 4_294_967_295)] {
            assert_eq!(
                check_server_first(message),
                Err(ServerFirstError::IterationsOutOfRange { asked, min: 4096, max: 16_384 })
            );
        }
        let huge = check_server_first(b"r=a,s=b,i=99999999999999").unwrap_err();
        assert_eq!(
            huge.to_string(),
            "the broker asks for 99999999999999 pbkdf2 iterations, outside the 4096..=16384 a kafka client accepts"
        );
        assert!(matches!(check_server_first(b"r=a,s=b,i=1"), Err(ServerFirstError::IterationsOutOfRange { .. })));
        assert_eq!(check_server_first(b"r=a,s=b"), Err(ServerFirstError::NoIterations));
        assert!(matches!(check_server_first(b"r=a,i=-5"), Err(ServerFirstError::InvalidIterations(_))));
        assert!(matches!(check_server_first(b"i=\xff\xfe"), Err(ServerFirstError::InvalidIterations(_))));
    }

    #[test]
    fn client_and_server_agree_and_a_wrong_password_fails() {
        exchange("pencil").unwrap();
        assert!(exchange("pen").is_err());
    }
}
