//! What the OAUTHBEARER suites of both clients share: a simulator that verifies HS256 JWTs for
//! [`AUDIENCE`], the local token endpoint that mints them, and clients logging in through it.

// Test code: a panic with a message is the failure report.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use lagring_kafka::{ClientKind, ClientSecret, KafkaClient, KafkaConnection, OAuthBearer, OidcClientCredentials, Sasl};
use lagring_sim::scenario::security::{SecurityConfig, ServerOAuthConfig, ServerSaslConfig};
use lagring_sim::{Clock, Scenario, Sim, SimHandle};
use lagring_testkit::token_endpoint::{TokenEndpoint, TokenEndpointConfig};

pub const KEY: &str = "lagring-test-hs256-key-of-at-least-32-bytes";
pub const CLIENT_ID: &str = "lagring";
pub const SECRET: &str = "client secret 42";
pub const AUDIENCE: &str = "kafka";

pub struct Setup {
    pub sim: SimHandle,
    pub endpoint: TokenEndpoint,
    pub dir: tempfile::TempDir,
}

/// A 2-broker simulator with 3 groups accepting OAUTHBEARER tokens for [`AUDIENCE`] with
/// sessions of at most `session_lifetime`, and a token endpoint minting tokens of `lifetime`.
pub async fn start(lifetime: Duration, session_lifetime: Option<Duration>) -> Setup {
    let yaml = "seed: 7\nbrokers: 2\ntopics: [ { name: t, partitions: 3, initial_messages: 100 } ]\n\
                groups: [ { name: g0, topics: [t] }, { name: g1, topics: [t] }, { name: g2, topics: [t] } ]";
    let mut scenario = Scenario::from_yaml(yaml).unwrap();
    scenario.security = SecurityConfig {
        tls: None,
        sasl: Some(ServerSaslConfig {
            mechanisms: vec!["OAUTHBEARER".to_owned()],
            oauthbearer: Some(ServerOAuthConfig { hs256_key: KEY.to_owned(), audience: Some(AUDIENCE.to_owned()) }),
            session_lifetime,
            ..ServerSaslConfig::default()
        }),
    };
    let (clock, _manual) = Clock::manual();
    let sim = Sim::start(scenario, clock).await.unwrap();
    let endpoint = TokenEndpoint::start(TokenEndpointConfig {
        client_id: CLIENT_ID.to_owned(),
        client_secret: SECRET.to_owned(),
        hs256_key: KEY.to_owned(),
        lifetime,
    })
    .await
    .unwrap();
    Setup { sim, endpoint, dir: tempfile::tempdir().unwrap() }
}

impl Setup {
    /// OIDC settings with the client secret `secret` in a file and tokens for `audience`.
    pub fn oidc(&self, secret: &str, audience: &str) -> OAuthBearer {
        let path = self.dir.path().join(format!("secret-{audience}-{}", secret.len()));
        std::fs::write(&path, format!("{secret}\n")).unwrap();
        OAuthBearer::Oidc(OidcClientCredentials {
            token_endpoint_url: self.endpoint.url(),
            client_id: CLIENT_ID.to_owned(),
            client_secret: ClientSecret::File(path),
            scope: Some("kafka.read".to_owned()),
            audience: Some(audience.to_owned()),
            extra_params: BTreeMap::from([("tenant".to_owned(), "t1".to_owned())]),
        })
    }

    /// A client of `kind` logging in with tokens from `source`; requests time out after 5 s.
    pub fn client(&self, kind: ClientKind, source: OAuthBearer) -> KafkaClient {
        let mut conn = KafkaConnection::plaintext(self.sim.bootstrap());
        conn.sasl = Some(Sasl::oauthbearer(source));
        conn.request_timeout = Duration::from_secs(5);
        if std::env::var_os("DBG_RDK").is_some() {
            conn.extra_properties.insert("debug".into(), "security,broker,protocol".into());
        }
        KafkaClient::new("oauth", &conn, kind).unwrap()
    }
}
