//! librdkafka's main queue. rdkafka has librdkafka put its log lines and global errors there
//! (`log.queue`) and hands them to the client's context only when a client polls it, which the
//! admin client never does: served here after every call, the events stop piling up, and the
//! context learns why a login failed. Log lines are also passed on to `tracing` at debug level.
//! Any other admin client of the `rdkafka` crate in the process (the probe's) has the same queue
//! and is served through [`serve_admin_main_queue`].

use std::ptr;
use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::bindings as rd;
use rdkafka::client::ClientContext;

use super::guards::Queue;
use super::{Admin, raw};
use crate::error::BrokerError;

/// Most events served per call, so a flood of log lines never holds a worker for long.
const MAX_EVENTS: usize = 1000;

/// Serves the events waiting in the main queue (without waiting for more).
pub(crate) fn serve_main_queue(admin: &Admin) {
    let context = admin.inner().context();
    drain(Queue::main(admin), |level, fac, message| context.log(level, fac, message), |error| context.error(error));
}

/// Serves the main queue of another admin client of the `rdkafka` crate (the probe's topic
/// manager): its log lines go to `tracing` at debug level, its errors too, and nothing piles up.
pub fn serve_admin_main_queue<C: ClientContext>(admin: &AdminClient<C>) {
    drain(Queue::main(admin), |_, _, _| {}, |_| {});
}

/// Takes up to [`MAX_EVENTS`] events off `queue`: log lines and errors go to `tracing` at debug
/// level and to `on_log` / `on_error`; other events are dropped.
fn drain(queue: Option<Queue<'_>>, on_log: impl Fn(i32, &str, &str), on_error: impl Fn(&BrokerError)) {
    let Some(queue) = queue else { return };
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
                on_log(level, &fac, &message);
            }
            rd::RD_KAFKA_EVENT_ERROR => {
                // SAFETY: a valid error event.
                if let Some(error) = unsafe { raw::event_error(event.as_ptr()) } {
                    tracing::debug!(target: "librdkafka", %error, "librdkafka error");
                    on_error(&error);
                }
            }
            _ => {}
        }
    }
}

/// Events waiting in the main queue of an admin client (tests: it must not grow while nobody else
/// reads it).
pub fn admin_main_queue_length<C: ClientContext>(admin: &AdminClient<C>) -> usize {
    let Some(queue) = Queue::main(admin) else { return 0 };
    // SAFETY: a valid queue while `queue` lives.
    unsafe { rd::rd_kafka_queue_length(queue.as_ptr()) }
}
