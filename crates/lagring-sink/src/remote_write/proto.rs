//! Prometheus remote write v1 messages (`prometheus/prompb/remote.proto` and
//! `types.proto`), derived by hand with prost so the build needs no `protoc`.
//!
//! Only the fields remote write v1 senders fill are declared; field numbers
//! and wire types are pinned by a golden test because a wrong tag is accepted
//! silently by the compiler and rejected (or worse, misread) by the receiver.

/// The body of one remote write request, before snappy compression.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// One series: labels (with `__name__`, sorted by name) and its samples in
/// time order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// One label pair.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// One value at one instant (milliseconds since the Unix epoch).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Type and help of one metric family (optional in remote write v1).
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    #[prost(enumeration = "MetricType", tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// Metric type as declared in `types.proto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MetricType {
    Unknown = 0,
    Counter = 1,
    Gauge = 2,
    Histogram = 3,
    Gaugehistogram = 4,
    Summary = 5,
    Info = 6,
    Stateset = 7,
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    fn label(name: &str, value: &str) -> Label {
        Label { name: name.to_owned(), value: value.to_owned() }
    }

    #[test]
    fn golden_encoding_of_a_small_request() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![label("__name__", "m"), label("a", "b")],
                samples: vec![Sample { value: 1.0, timestamp: 1000 }],
            }],
            metadata: vec![],
        };
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            0x0a, 0x25,                                     // timeseries (1, len 37)
              0x0a, 0x0d,                                   // label (1, len 13)
                0x0a, 0x08, b'_', b'_', b'n', b'a', b'm', b'e', b'_', b'_',
                0x12, 0x01, b'm',
              0x0a, 0x06,                                   // label (1, len 6)
                0x0a, 0x01, b'a', 0x12, 0x01, b'b',
              0x12, 0x0c,                                   // sample (2, len 12)
                0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f,         // value 1.0 (fixed64)
                0x10, 0xe8, 0x07,                           // timestamp 1000 (varint)
        ];
        assert_eq!(req.encode_to_vec(), expected);
        assert_eq!(WriteRequest::decode(expected.as_slice()).unwrap(), req);
    }

    #[test]
    fn metadata_uses_field_three() {
        let req = WriteRequest {
            timeseries: vec![],
            metadata: vec![MetricMetadata {
                r#type: MetricType::Gauge as i32,
                metric_family_name: "m".to_owned(),
                help: "h".to_owned(),
                unit: String::new(),
            }],
        };
        let expected: Vec<u8> = vec![0x1a, 0x08, 0x08, 0x02, 0x12, 0x01, b'm', 0x22, 0x01, b'h'];
        assert_eq!(req.encode_to_vec(), expected);
    }
}
