//! A broker that answers with malformed bytes costs its own cluster an error, never the process.
//!
//! A plain TCP server on 127.0.0.1 reads the native client's real ApiVersions request and
//! answers it with crafted bytes: an array count of 2^31 (once the process aborted on
//! `memory allocation of 68719476192 bytes failed`), a frame length far above the limit, a frame
//! cut short, and a frame of garbage. Each must come back as an error naming the broker, while a
//! well-behaved cluster (the in-process simulator) keeps answering in the same process. A second
//! scripted broker gets as far as SCRAM and asks for 2^32 − 1 PBKDF2 iterations (hours of CPU):
//! refused at once.

// Test code: a panic with a message is the failure report.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, ResponseHeader, SaslAuthenticateResponse, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use lagring_kafka::{ClientKind, KafkaClient, KafkaConnection, NativeOptions, Sasl, SaslMechanism};
use lagring_sim::{Clock, ScaleSpec, Sim, SimHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the bad broker sends back after the correlation id of a request.
#[derive(Clone, Copy, Debug)]
enum Answer {
    /// ApiVersions v3: error 0, then `api_keys` as a compact array announcing 2^31 elements.
    CompactCount2Pow31,
    /// ApiVersions v0 form (error UNSUPPORTED_VERSION makes the client decode v0): an `INT32`
    /// count of 2^31 − 1.
    ArrayCountMax,
    /// A length prefix of 2 GiB − 1, then nothing.
    HugeFrame,
    /// A length prefix of 64 MiB (under the limit) followed by a few bytes, then the socket closes.
    Truncated,
    /// A complete frame whose body is random-looking bytes.
    Garbage,
    /// A well-formed broker offering SCRAM whose server-first message asks for 2^32 − 1
    /// iterations.
    ScramIterations,
}

impl Answer {
    /// The bytes written for a request of `api_key` with `correlation_id`.
    fn bytes(self, api_key: i16, correlation_id: i32) -> Vec<u8> {
        let id = correlation_id.to_be_bytes();
        let framed = |body: &[u8]| {
            let mut frame = Vec::new();
            frame.extend_from_slice(&(i32::try_from(body.len() + 4).unwrap()).to_be_bytes());
            frame.extend_from_slice(&id);
            frame.extend_from_slice(body);
            frame
        };
        match self {
            // Unsigned varint of 2^31 + 1 (a compact array stores length + 1).
            Answer::CompactCount2Pow31 => framed(&[0, 0, 0x81, 0x80, 0x80, 0x80, 0x08, 0, 0, 0]),
            Answer::ArrayCountMax => framed(&[0, 35, 0x7f, 0xff, 0xff, 0xff, 0, 0]),
            Answer::HugeFrame => 0x7fff_ffff_i32.to_be_bytes().to_vec(),
            Answer::Truncated => {
                let mut frame = (64 * 1024 * 1024_i32).to_be_bytes().to_vec();
                frame.extend_from_slice(&id);
                frame.extend_from_slice(&[0, 0, 0x81]);
                frame
            }
            Answer::Garbage => framed(&[0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x13, 0x37]),
            Answer::ScramIterations => scram_broker(api_key, correlation_id),
        }
    }
}

/// Valid answers of a broker that offers SCRAM, except for the iteration count.
fn scram_broker(api_key: i16, correlation_id: i32) -> Vec<u8> {
    let mut body = BytesMut::new();
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    if api_key == ApiKey::ApiVersions as i16 {
        // Asked as v3; answered in v0 form with UNSUPPORTED_VERSION, which every client reads.
        header.encode(&mut body, 0).unwrap();
        let keys = [(ApiKey::ApiVersions, 0, 3), (ApiKey::SaslHandshake, 1, 1), (ApiKey::SaslAuthenticate, 0, 2)];
        let api_keys = keys
            .iter()
            .map(|(k, min, max)| {
                ApiVersion::default().with_api_key(*k as i16).with_min_version(*min).with_max_version(*max)
            })
            .collect();
        ApiVersionsResponse::default().with_error_code(35).with_api_keys(api_keys).encode(&mut body, 0).unwrap();
    } else if api_key == ApiKey::SaslHandshake as i16 {
        header.encode(&mut body, 0).unwrap();
        let mechanisms = vec![StrBytes::from_static_str("SCRAM-SHA-512")];
        SaslHandshakeResponse::default().with_mechanisms(mechanisms).encode(&mut body, 1).unwrap();
    } else {
        // SaslAuthenticate v2 (flexible: response header v1).
        header.encode(&mut body, 1).unwrap();
        let first = b"r=clientnonceservernonce,s=c2FsdA==,i=4294967295";
        let answer = SaslAuthenticateResponse::default().with_auth_bytes(bytes::Bytes::from_static(first));
        answer.encode(&mut body, 2).unwrap();
    }
    let mut frame = BytesMut::new();
    frame.put_i32(i32::try_from(body.len()).unwrap());
    frame.put_slice(&body);
    frame.to_vec()
}

/// Serves `answer` to every request on every connection until the test ends; returns the address.
async fn bad_broker(answer: Answer) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                // Bounded: a client sends a handful of requests before giving up on this broker.
                for _ in 0..16 {
                    let Ok(len) = socket.read_i32().await else { return };
                    let Ok(len) = usize::try_from(len) else { return };
                    let mut request = vec![0; len.min(1 << 20)];
                    if socket.read_exact(&mut request).await.is_err() || request.len() < 8 {
                        return;
                    }
                    let api_key = i16::from_be_bytes(request[0..2].try_into().unwrap());
                    let correlation_id = i32::from_be_bytes(request[4..8].try_into().unwrap());
                    if socket.write_all(&answer.bytes(api_key, correlation_id)).await.is_err() {
                        return;
                    }
                    if matches!(answer, Answer::Truncated | Answer::HugeFrame) {
                        return;
                    }
                }
            });
        }
    });
    addr
}

async fn good_cluster() -> SimHandle {
    let (clock, manual) = Clock::manual();
    manual.set(Duration::from_secs(30));
    let scenario = ScaleSpec::parse("groups=20,topics=2,partitions=2,brokers=2").unwrap().scenario();
    Sim::start(scenario, clock).await.unwrap()
}

fn native(name: &str, bootstrap: &str) -> KafkaClient {
    let mut conn = KafkaConnection::plaintext(bootstrap);
    conn.request_timeout = Duration::from_secs(5);
    KafkaClient::new(name, &conn, ClientKind::Native(NativeOptions::default())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_api_versions_answers_are_errors_and_another_cluster_keeps_answering() {
    let sim = good_cluster().await;
    let good = native("good", &sim.bootstrap());
    assert_eq!(good.list_groups().await.unwrap().len(), 20);

    let cases = [
        (Answer::CompactCount2Pow31, "malformed response"),
        (Answer::ArrayCountMax, "malformed response"),
        (Answer::HugeFrame, "2147483647 bytes"),
        (Answer::Truncated, "connection closed after 7 of the 67108864 bytes"),
        (Answer::Garbage, "malformed response"),
    ];
    for (answer, expected) in cases {
        let addr = bad_broker(answer).await;
        let bad = native("bad", &addr);
        let started = std::time::Instant::now();
        let error = bad.list_groups().await.unwrap_err().to_string();
        println!("{answer:?}: {error}");
        assert!(started.elapsed() < Duration::from_secs(4), "{answer:?}: an error, not a timeout: {error}");
        assert!(error.starts_with("cluster bad: "), "{answer:?}: {error}");
        assert!(error.contains(&addr), "{answer:?}: the error names the broker: {error}");
        assert!(error.contains(expected), "{answer:?}: expected {expected:?} in {error}");
        assert_eq!(bad.stats().api_versions.errors, 1, "{answer:?}: counted as an ApiVersions error");

        // The same process still serves the well-behaved cluster.
        assert_eq!(good.list_groups().await.unwrap().len(), 20, "after {answer:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scram_iteration_count_beyond_kafkas_bound_is_refused_before_any_derivation() {
    let addr = bad_broker(Answer::ScramIterations).await;
    let mut conn = KafkaConnection::plaintext(addr.as_str());
    conn.request_timeout = Duration::from_secs(5);
    conn.sasl = Some(Sasl::password(SaslMechanism::ScramSha512, "u", "p"));
    let client = KafkaClient::new("scram", &conn, ClientKind::Native(NativeOptions::default())).unwrap();
    let started = std::time::Instant::now();
    let error = client.list_groups().await.unwrap_err().to_string();
    assert!(started.elapsed() < Duration::from_secs(2), "refused, not derived: {error}");
    assert!(
        error.contains(
            "sasl SCRAM-SHA-512 authentication as \"u\" failed: the broker asks for 4294967295 pbkdf2 iterations, \
             outside the 4096..=16384 a kafka client accepts"
        ),
        "{error}"
    );
}
