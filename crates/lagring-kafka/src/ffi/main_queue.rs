//! librdkafka's main queue. rdkafka has librdkafka put its log lines and global errors there
//! (`log.queue`) and hands them to the client's context only when a client polls it, which the
//! admin client never does: served here after every call, the events stop piling up, and the
//! context learns why a login failed. Log lines are also passed on to `tracing` at debug level.

use std::ptr;
use std::time::Duration;

use rdkafka::bindings as rd;

use super::guards::Queue;
use super::{Admin, raw};

/// Most events served per call, so a flood of log lines never holds a worker for long.
const MAX_EVENTS: usize = 1000;

/// Serves the events waiting in the main queue (without waiting for more).
pub(crate) fn serve_main_queue(admin: &Admin) {
    let Some(queue) = Queue::main(admin) else { return };
    let context = admin.inner().context();
    for _ in 0..MAX_EVENTS {
        let Some(event) = queue.poll(Duration::ZERO) else { break };
        match event.kind() {
            rd::RD_KAFKA_EVENT_LOG => {
                let (mut fac, mut message, mut level) = (ptr::null(), ptr::null(), 0);
                // SAFETY: a valid log event; the strings live as long as the event.
                let found = unsafe { rd::rd_kafka_event_log(event.as_ptr(), &mut fac, &mut message, &mut level) };
                if found != 0 {
                    continue;
                }
                // SAFETY: null or nul-terminated strings owned by the event, read while it lives.
                let (fac, message) = unsafe { (raw::string(fac), raw::string(message)) };
                let (fac, message) = (fac.unwrap_or_default(), message.unwrap_or_default());
                tracing::debug!(target: "librdkafka", level, fac = %fac, "{message}");
                context.log(level, &fac, &message);
            }
            rd::RD_KAFKA_EVENT_ERROR => {
                // SAFETY: a valid error event.
                if let Some(error) = unsafe { raw::event_error(event.as_ptr()) } {
                    tracing::debug!(target: "librdkafka", %error, "librdkafka error");
                    context.error(&error);
                }
            }
            _ => {}
        }
    }
}

/// Events waiting in the main queue (tests: it must not grow while nobody else reads it).
#[cfg(test)]
pub(crate) fn main_queue_length(admin: &Admin) -> usize {
    let Some(queue) = Queue::main(admin) else { return 0 };
    // SAFETY: a valid queue while `queue` lives.
    unsafe { rd::rd_kafka_queue_length(queue.as_ptr()) }
}
