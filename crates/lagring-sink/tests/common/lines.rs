//! A recording TCP receiver of line protocols (what a Wavefront proxy
//! reads): every line of every connection, in arrival order.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

#[derive(Debug)]
pub struct LineReceiver {
    pub port: u16,
    lines: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl LineReceiver {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = lines.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = sink.clone();
                tokio::spawn(async move {
                    let mut reader = BufReader::new(stream).lines();
                    while let Ok(Some(line)) = reader.next_line().await {
                        sink.lock().unwrap().push(line);
                    }
                });
            }
        });
        Self { port, lines, task }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Polls until at least `n` lines arrived; returns them all.
    pub async fn wait_lines(&self, n: usize) -> Vec<String> {
        lagring_testkit::ports::wait_for(&format!("{n} lines"), super::WAIT, || async {
            let lines = self.lines();
            Ok((lines.len() >= n).then_some(lines))
        })
        .await
        .unwrap_or_else(|e| panic!("{e:#}; got {:?}", self.lines()))
    }
}

impl Drop for LineReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback port nothing listens on: connects are refused at once.
pub async fn refused_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}
