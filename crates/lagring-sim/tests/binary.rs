//! The `lagring-sim` binary: prints its bootstrap address first, serves real clients, exposes
//! counters on the stats endpoint and prints them as JSON on SIGINT.

// Integration-test crate: helpers outside #[test] fns panic on failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use common::{TIMEOUT, scenario_path};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

#[test]
fn binary_prints_bootstrap_serves_clients_and_reports_counts() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lagring-sim"))
        .arg("--scenario")
        .arg(scenario_path("basic.yaml"))
        .args(["--stats", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let bootstrap = line.trim().strip_prefix("bootstrap=").expect("first line is bootstrap").to_string();
    line.clear();
    stdout.read_line(&mut line).unwrap();
    let stats = line.trim().strip_prefix("stats=").unwrap().to_string();

    let consumer: BaseConsumer = ClientConfig::new().set("bootstrap.servers", &bootstrap).create().unwrap();
    let groups = consumer.fetch_group_list(None, TIMEOUT).unwrap();
    assert_eq!(groups.groups().len(), 9);

    let mut http = TcpStream::connect(&stats).unwrap();
    http.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut body = String::new();
    http.read_to_string(&mut body).unwrap();
    let json = body.split("\r\n\r\n").nth(1).unwrap();
    let counts: serde_json::Value = serde_json::from_str(json).unwrap();
    let list_groups: u64 =
        counts["by_broker"].as_object().unwrap().values().map(|apis| apis["ListGroups"].as_u64().unwrap_or(0)).sum();
    assert_eq!(list_groups, 3);

    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    let final_counts: serde_json::Value = serde_json::from_str(rest.trim()).unwrap();
    assert!(final_counts["by_broker"]["0"]["ApiVersions"].as_u64().unwrap() >= 1);
}
