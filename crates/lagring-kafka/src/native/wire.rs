//! Framing and codec calls, kept pure so malformed bytes are an error, never a panic: a request
//! frame is `length | request header | body`; a response frame (after its length) starts with the
//! correlation id, which the connection's reader uses to route it before anything is decoded.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};

use super::error::WireError;

/// The client id brokers log for lagring's requests.
const CLIENT_ID: &str = "lagring";

/// `req` as a length-prefixed frame of `version` with `correlation_id`.
pub(crate) fn encode_request<R: Request>(req: &R, version: i16, correlation_id: i32) -> Result<Bytes, WireError> {
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
    let mut body = BytesMut::new();
    header.encode(&mut body, R::header_version(version)).map_err(|e| WireError::Encode(format!("{e:#}")))?;
    req.encode(&mut body, version).map_err(|e| WireError::Encode(format!("{e:#}")))?;
    let len = i32::try_from(body.len()).map_err(|_| WireError::Encode("request larger than 2 GiB".to_owned()))?;
    let mut frame = BytesMut::with_capacity(body.len() + 4);
    frame.put_i32(len);
    frame.put_slice(&body);
    Ok(frame.freeze())
}

/// The correlation id a response frame starts with.
pub(crate) fn correlation_id(frame: &[u8]) -> Option<i32> {
    let bytes: [u8; 4] = frame.get(..4)?.try_into().ok()?;
    Some(i32::from_be_bytes(bytes))
}

/// Decodes the header and body of a response to `R` sent as `version`; trailing bytes are
/// tolerated (a newer broker may add tagged fields we skip).
pub(crate) fn decode_response<R: Request>(mut frame: Bytes, version: i16) -> Result<R::Response, WireError> {
    ResponseHeader::decode(&mut frame, <R::Response as HeaderVersion>::header_version(version))
        .map_err(|e| WireError::Decode(format!("response header: {e:#}")))?;
    <R::Response as Decodable>::decode(&mut frame, version).map_err(|e| WireError::Decode(format!("{e:#}")))
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::{ApiKey, MetadataRequest};

    use super::*;

    #[test]
    fn request_frame_carries_length_key_version_and_id() {
        let frame = encode_request(&MetadataRequest::default().with_topics(None), 12, 77).unwrap();
        let len = i32::from_be_bytes(frame[..4].try_into().unwrap());
        assert_eq!(usize::try_from(len).unwrap(), frame.len() - 4);
        assert_eq!(i16::from_be_bytes(frame[4..6].try_into().unwrap()), ApiKey::Metadata as i16);
        assert_eq!(i16::from_be_bytes(frame[6..8].try_into().unwrap()), 12);
        assert_eq!(i32::from_be_bytes(frame[8..12].try_into().unwrap()), 77);
    }

    #[test]
    fn short_and_garbage_responses_are_errors() {
        assert_eq!(correlation_id(&[0, 0, 1]), None);
        assert_eq!(correlation_id(&[0, 0, 1, 2, 9]), Some(258));
        for bytes in [&[][..], &[0, 0, 0, 1][..], &[0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f][..]] {
            let err = decode_response::<MetadataRequest>(Bytes::copy_from_slice(bytes), 12).unwrap_err();
            assert!(matches!(err, WireError::Decode(_)), "{err}");
        }
    }
}
