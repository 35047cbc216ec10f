//! `lagring check` against a real tansu broker holding the testkit's ground
//! truth (the same topics, records and commits as the end-to-end suite): the table and the
//! JSON carry the exact committed, end and lag of every partition, and a
//! cluster nobody answers for makes the exit code 1 with its name on stderr.

// Test code: a panic with a message is the failure report.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use lagring_testkit::ground_truth::{self, EXPECTED};
use lagring_testkit::ports::{free_port, wait_for};
use lagring_testkit::tansu::TansuBroker;

const TIMEOUT: Duration = Duration::from_secs(60);

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn check(config: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_lagring"))
        .arg("check")
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("LAGRING_CONFIG")
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The output's non-empty lines, split on whitespace (column widths aside).
fn rows(stdout: &str) -> Vec<Vec<String>> {
    stdout.lines().filter(|l| !l.trim().is_empty()).map(|l| l.split_whitespace().map(str::to_owned).collect()).collect()
}

fn row(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

fn expected_table() -> Vec<Vec<String>> {
    let header = "GROUP TOPIC PARTITION COMMITTED END LAG";
    [
        "cluster local",
        header,
        "audit orders 0 10 10 0",
        "audit payments 0 1 5 4",
        "audit payments 1 7 7 0",
        "audit TOTAL - - - 4",
        "audit: 2 partition(s) of its topics without commit",
        header,
        "billing orders 0 4 10 6",
        "billing orders 1 20 20 0",
        "billing orders 2 25 30 5",
        "billing TOTAL - - - 11",
    ]
    .into_iter()
    .map(row)
    .collect()
}

/// (group, topic, partition, committed, end, lag) of every partition in the JSON.
fn json_partitions(json: &serde_json::Value, cluster: usize) -> Vec<(String, String, i64, i64, i64, i64)> {
    let mut out = Vec::new();
    for g in json["clusters"][cluster]["groups"].as_array().unwrap() {
        for p in g["partitions"].as_array().unwrap() {
            out.push((
                g["group"].as_str().unwrap().to_owned(),
                p["topic"].as_str().unwrap().to_owned(),
                p["partition"].as_i64().unwrap(),
                p["committed"].as_i64().unwrap(),
                p["end"].as_i64().unwrap(),
                p["lag"].as_i64().unwrap(),
            ));
        }
    }
    out
}

fn expected_json_partitions() -> Vec<(String, String, i64, i64, i64, i64)> {
    EXPECTED.iter().map(|&(g, t, p, c, e, l)| (g.to_owned(), t.to_owned(), i64::from(p), c, e, l)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_prints_exact_lag_and_fails_on_a_dead_cluster() -> Result<()> {
    let broker = TansuBroker::start()?;
    let bs = broker.bootstrap();
    ground_truth::seed(&bs).await?;

    let dir = tempfile::tempdir()?;
    let config = dir.path().join("lagring.yaml");
    let dead_port = free_port()?;
    std::fs::write(
        &config,
        format!(
            "node: {{ id: check, interval: 10s }}\n\
             clusters:\n  - name: local\n    brokers: ['{bs}']\n    groups: {{ deny: ['^test-'] }}\n\
             \x20 - name: dead\n    brokers: ['127.0.0.1:{dead_port}']\n    request_timeout: 1s\n"
        ),
    )?;

    // The broker has the data once a check of `local` shows it; from then on
    // every answer must be exact.
    let json: serde_json::Value = wait_for("exact lag in check --output json", TIMEOUT, || async {
        let run = check(&config, &["--cluster", "local", "--output", "json"]);
        anyhow::ensure!(run.code != Some(2), "config error: {}", run.stderr);
        let json: serde_json::Value = serde_json::from_str(&run.stdout)?;
        Ok((run.code == Some(0) && json_partitions(&json, 0) == expected_json_partitions()).then_some(json))
    })
    .await
    .map_err(|e| e.context(broker.log_tail(4000)))?;
    let local = &json["clusters"][0];
    assert_eq!(local["cluster"], "local");
    assert!(local.get("error").is_none(), "{json}");
    let groups: Vec<_> = local["groups"].as_array().unwrap().iter().map(|g| g["group"].clone()).collect();
    assert_eq!(groups, ["audit", "billing"], "test-ignored is denied, groups are sorted");
    assert_eq!((local["groups"][0]["sum_lag"].as_i64(), local["groups"][0]["max_lag"].as_i64()), (Some(4), Some(4)));
    assert_eq!((local["groups"][1]["sum_lag"].as_i64(), local["groups"][1]["max_lag"].as_i64()), (Some(11), Some(6)));
    assert_eq!(local["groups"][0]["partitions_without_commit"], 2);
    assert_eq!(local["groups"][1]["partitions_without_commit"], 0);
    for g in local["groups"].as_array().unwrap() {
        for p in g["partitions"].as_array().unwrap() {
            assert_eq!(p["beyond_retention"], false, "{p}");
        }
    }

    // The table: exact rows, sorted, with the group totals.
    let run = check(&config, &["--cluster", "local"]);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    assert_eq!(rows(&run.stdout), expected_table(), "table:\n{}", run.stdout);

    // --group narrows to the matching groups.
    let run = check(&config, &["--cluster", "local", "--group", "^bill"]);
    assert_eq!(run.code, Some(0), "stderr: {}", run.stderr);
    let billing: Vec<Vec<String>> =
        expected_table().into_iter().enumerate().filter(|(i, _)| *i == 0 || *i >= 7).map(|(_, r)| r).collect();
    assert_eq!(rows(&run.stdout), billing, "table:\n{}", run.stdout);

    // Both clusters: `local` is still printed exactly, `dead` fails the run.
    let run = check(&config, &[]);
    assert_eq!(run.code, Some(1), "stdout: {}\nstderr: {}", run.stdout, run.stderr);
    assert_eq!(rows(&run.stdout), expected_table(), "table:\n{}", run.stdout);
    assert!(run.stderr.lines().any(|l| l.starts_with("error: cluster dead: ")), "stderr: {}", run.stderr);
    assert!(!run.stderr.contains("cluster local"), "stderr: {}", run.stderr);

    let run = check(&config, &["--output", "json"]);
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout)?;
    assert_eq!(json_partitions(&json, 0), expected_json_partitions());
    assert_eq!(json["clusters"][1]["cluster"], "dead");
    assert!(json["clusters"][1]["error"].as_str().is_some_and(|e| !e.is_empty()), "{json}");
    assert!(run.stderr.contains("error: cluster dead: "), "stderr: {}", run.stderr);

    // Options that do not fit the config are config errors.
    assert_eq!(check(&config, &["--cluster", "nope"]).code, Some(2));
    assert_eq!(check(&config, &["--group", "(unclosed"]).code, Some(2));
    Ok(())
}
