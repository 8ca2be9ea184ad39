//! `modemflash sim` as a child process, shared by the process-level tests.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

/// How long to wait for one event.
pub const WAIT: Duration = Duration::from_secs(20);

/// A running `modemflash sim ARGS --json`; killed on drop.
pub struct SimProcess {
    pub child: Child,
    /// Every stdout line after the first, parsed (a non-JSON line fails the test).
    pub events: Receiver<Value>,
    /// The first line, which is always the `endpoints` event.
    pub first: Value,
}

impl SimProcess {
    pub fn spawn(args: &[&str]) -> Self {
        let mut child = Command::cargo_bin("modemflash")
            .unwrap()
            .arg("sim")
            .args(args)
            .arg("--json")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, events) = mpsc::channel();
        // Reading continuously also keeps the simulator from blocking on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let v: Value =
                    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let first = events.recv_timeout(WAIT).unwrap();
        assert_eq!(first["event"], "endpoints", "{first}");
        SimProcess { child, events, first }
    }

    /// The next event named `event`, skipping others.
    pub fn next_event(&self, event: &str) -> Value {
        loop {
            let v = self.events.recv_timeout(WAIT).unwrap_or_else(|e| panic!("no {event} event: {e}"));
            if v["event"] == event {
                return v;
            }
        }
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
