//! OAUTHBEARER tokens handed to librdkafka.
//!
//! The admin client of the `rdkafka` crate neither registers a token refresh callback nor polls
//! the client's main queue, so lagring does both jobs itself: it sets each token with
//! `rd_kafka_oauthbearer_set_token` (allowed from any thread at any time) and serves the main
//! queue (`main_queue`), where a broker's refusal of a login is reported.

use std::ffi::{CString, c_char, c_int};

use rdkafka::bindings as rd;

use super::Admin;
use super::raw;

// As in `rdkafka::bindings`, with the returned error code typed as `c_int` (see `raw`).
unsafe extern "C" {
    #[link_name = "rd_kafka_oauthbearer_set_token"]
    fn set_token(
        rk: *mut rd::rd_kafka_t,
        token_value: *const c_char,
        md_lifetime_ms: i64,
        md_principal_name: *const c_char,
        extensions: *mut *const c_char,
        extension_size: usize,
        errstr: *mut c_char,
        errstr_size: usize,
    ) -> c_int;
    #[link_name = "rd_kafka_oauthbearer_set_token_failure"]
    fn set_token_failure(rk: *mut rd::rd_kafka_t, errstr: *const c_char) -> c_int;
}

/// Gives librdkafka `token` for its logins, valid until `expires_ms` (milliseconds since the
/// Unix epoch); `principal` names the login in librdkafka's own messages.
pub(crate) fn set_oauthbearer_token(
    admin: &Admin,
    token: &str,
    expires_ms: i64,
    principal: &str,
) -> Result<(), String> {
    let token = CString::new(token).map_err(|_| "the token contains a nul byte".to_owned())?;
    let principal = CString::new(principal).map_err(|_| "the principal contains a nul byte".to_owned())?;
    let mut errstr = [0 as c_char; 512];
    // SAFETY: valid client handle while `admin` is borrowed; both strings are nul-terminated and
    // outlive the call (librdkafka copies them); no extensions; `errstr` is writable for its length.
    let code = unsafe {
        set_token(
            admin.inner().native_ptr(),
            token.as_ptr(),
            expires_ms,
            principal.as_ptr(),
            std::ptr::null_mut(),
            0,
            errstr.as_mut_ptr(),
            errstr.len(),
        )
    };
    if code == 0 {
        return Ok(());
    }
    // SAFETY: librdkafka wrote a nul-terminated message into `errstr` (zeroed before the call).
    let message = unsafe { raw::string(errstr.as_ptr()) }.filter(|m| !m.is_empty());
    Err(message.unwrap_or_else(|| raw::describe(code)))
}

/// Tells librdkafka that no token could be had, and why; it keeps any token it still holds.
pub(crate) fn set_oauthbearer_failure(admin: &Admin, reason: &str) {
    let reason = CString::new(reason.replace('\0', " ")).unwrap_or_default();
    // SAFETY: valid client handle while `admin` is borrowed; `reason` is nul-terminated and
    // copied by librdkafka. The only failures (not OAUTHBEARER, empty reason) need no handling.
    unsafe { set_token_failure(admin.inner().native_ptr(), reason.as_ptr()) };
}
