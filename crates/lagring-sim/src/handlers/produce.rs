//! Produce (v3–9), advertised only because librdkafka derives its record-format feature from
//! Produce and Fetch together (no Produce v3+ in ApiVersions → it never sends Fetch). The
//! simulator's logs are a function of the clock, so writes are refused: every partition gets
//! POLICY_VIOLATION with a message saying so (acks=0 requests are answered too, which a real
//! broker would not do).

use kafka_protocol::ResponseError;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::{Ctx, sb};

pub fn handle(ctx: &Ctx, req: ProduceRequest) -> ProduceResponse {
    let code = ctx.injected.unwrap_or(ResponseError::PolicyViolation.code());
    let responses = req
        .topic_data
        .into_iter()
        .map(|t| {
            let partitions = t
                .partition_data
                .iter()
                .map(|p| {
                    let mut out = PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_error_code(code)
                        .with_base_offset(-1)
                        .with_log_append_time_ms(-1)
                        .with_log_start_offset(-1);
                    if ctx.version >= 8 {
                        out.error_message = Some(sb("the simulator is read-only"));
                    }
                    out
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(t.name)
                .with_topic_id(t.topic_id)
                .with_partition_responses(partitions)
        })
        .collect();
    ProduceResponse::default().with_responses(responses)
}
