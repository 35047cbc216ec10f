//! Wavefront proxy line protocol over TCP: one connection, kept open and
//! re-established after a failure.
//!
//! The proxy does not acknowledge lines, so a send counts as delivered once
//! the lines are written to the socket; a proxy that went away is noticed at
//! the next write (or connect), which then fails and is retried.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::gate::Record;
use super::naming::LineFormat;
use super::transport::SendError;

#[derive(Debug)]
pub(crate) struct WavefrontService {
    address: String,
    timeout: Duration,
    format: LineFormat,
    connection: Option<TcpStream>,
}

impl WavefrontService {
    pub fn new(address: String, timeout: Duration, format: LineFormat) -> Self {
        Self { address, timeout, format, connection: None }
    }

    pub async fn send(&mut self, records: &[Record]) -> Result<(), SendError> {
        let mut lines = String::new();
        for record in records {
            self.format.write_line(&mut lines, record);
        }
        if lines.is_empty() {
            return Ok(());
        }
        let mut stream = match self.connection.take() {
            Some(stream) => stream,
            None => match tokio::time::timeout(self.timeout, TcpStream::connect(&self.address)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return Err(SendError::Retry(format!("connect to {}: {e}", self.address))),
                Err(_) => return Err(SendError::Retry(format!("connect to {} timed out", self.address))),
            },
        };
        match tokio::time::timeout(self.timeout, stream.write_all(lines.as_bytes())).await {
            Ok(Ok(())) => {
                self.connection = Some(stream);
                Ok(())
            }
            Ok(Err(e)) => Err(SendError::Retry(format!("write to {}: {e}", self.address))),
            Err(_) => Err(SendError::Retry(format!("write to {} timed out", self.address))),
        }
    }
}
