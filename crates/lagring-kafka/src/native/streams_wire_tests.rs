//! StreamsGroupDescribe v0 as Kafka's message spec lays it out, byte for byte, written by hand:
//! the codec's StreamsGroupDescribe is generated for lagring (not in `kafka-protocol` 0.18) and
//! the simulator uses the same codec, so only bytes written independently can catch a field out
//! of order or a wrongly encoded nullable struct.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::StreamsGroupDescribeResponse;
use kafka_protocol::protocol::Decodable;

fn s(b: &mut BytesMut, v: &str) {
    b.put_u8(u8::try_from(v.len() + 1).unwrap_or(0));
    b.put_slice(v.as_bytes());
}

/// One Stable group `s`, topology epoch 0 with subtopology `0` reading `a`, one member `m` (no
/// instance, rack or endpoint) with active task 0_1.
fn wire() -> Bytes {
    let mut b = BytesMut::new();
    b.put_i32(0); // throttle_time_ms
    b.put_u8(2); // groups: 1
    b.put_i16(0); // error_code
    b.put_u8(0); // error_message: null
    s(&mut b, "s"); // group_id
    s(&mut b, "Stable"); // group_state
    b.put_i32(3); // group_epoch
    b.put_i32(3); // assignment_epoch
    b.put_i8(1); // topology: present
    b.put_i32(0); // topology.epoch
    b.put_u8(2); // subtopologies: 1
    s(&mut b, "0"); // subtopology_id
    b.put_u8(2); // source_topics: 1
    s(&mut b, "a");
    b.put_slice(&[1, 1, 1]); // repartition sink, state changelog, repartition source: empty
    b.put_u8(0); // subtopology tagged fields
    b.put_u8(0); // topology tagged fields
    b.put_u8(2); // members: 1
    s(&mut b, "m"); // member_id
    b.put_i32(3); // member_epoch
    b.put_slice(&[0, 0]); // instance_id, rack_id: null
    s(&mut b, "c"); // client_id
    s(&mut b, "h"); // client_host
    b.put_i32(0); // topology_epoch
    s(&mut b, "p"); // process_id
    b.put_i8(-1); // user_endpoint: null
    b.put_slice(&[1, 1, 1]); // client_tags, task_offsets, task_end_offsets: empty
    b.put_u8(2); // assignment.active_tasks: 1
    s(&mut b, "0"); // subtopology_id
    b.put_u8(2); // partitions: 1
    b.put_i32(1);
    b.put_u8(0); // task ids tagged fields
    b.put_slice(&[1, 1, 0]); // standby, warmup: empty; assignment tagged fields
    b.put_slice(&[1, 1, 1, 0]); // target_assignment: all empty; tagged fields
    b.put_u8(0); // is_classic: false
    b.put_u8(0); // member tagged fields
    b.put_i32(i32::MIN); // authorized_operations
    b.put_u8(0); // group tagged fields
    b.put_u8(0); // response tagged fields
    b.freeze()
}

#[test]
fn a_streams_group_describe_answer_decodes_field_by_field() {
    let mut buf = wire();
    let response = StreamsGroupDescribeResponse::decode(&mut buf, 0).unwrap();
    assert!(buf.is_empty(), "{} bytes left", buf.len());
    let group = &response.groups[0];
    assert_eq!((group.group_id.0.as_str(), group.group_state.as_str()), ("s", "Stable"));
    assert_eq!((group.group_epoch, group.assignment_epoch, group.authorized_operations), (3, 3, i32::MIN));
    let topology = group.topology.as_ref().unwrap();
    let subtopologies = topology.subtopologies.as_ref().unwrap();
    let sources: Vec<&str> = subtopologies[0].source_topics.iter().map(|t| t.as_str()).collect();
    assert_eq!((subtopologies[0].subtopology_id.as_str(), sources), ("0", vec!["a"]));
    let member = &group.members[0];
    assert_eq!(
        (member.member_id.as_str(), member.member_epoch, member.client_host.as_str(), member.process_id.as_str()),
        ("m", 3, "h", "p")
    );
    assert_eq!((member.instance_id.is_none(), member.user_endpoint.is_none(), member.is_classic), (true, true, false));
    let active = &member.assignment.active_tasks[0];
    assert_eq!((active.subtopology_id.as_str(), active.partitions.clone()), ("0", vec![1]));
    assert!(member.target_assignment.active_tasks.is_empty());
}

#[test]
fn a_truncated_answer_is_an_error_not_a_panic() {
    let full = wire();
    for len in 0..full.len() {
        let mut cut = full.slice(..len);
        assert!(StreamsGroupDescribeResponse::decode(&mut cut, 0).is_err(), "{len} bytes decoded");
    }
}
