//! A coupon drop survives `kill -9`: the real daemon is killed mid-drop and
//! restarted on the same SQLite file, and the ledger and the deliveries are
//! checked against each other.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util;

const CODES: usize = 600;
const USERS: usize = 900;

const BOT: &str = r#"
adapters: [console]
plugins:
  - use: coupons
    pools: [{id: drop, codes_file: codes.txt}]
    claim: {keywords: [领券], deliver: dm}
    messages:
      claimed: "GRANT {{user.id}} {{code}}"
      already_claimed: "AGAIN {{user.id}} {{code}}"
      sold_out: "SOLDOUT {{user.id}}"
"#;

/// A running `qunbot run` whose standard output lines are collected.
struct Daemon {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    /// Start the daemon in `dir` and type `input` into its console.
    fn start(dir: &Path, input: String) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_qunbot"))
            .current_dir(dir)
            .args(["run", "--log", "warn"])
            .env_remove("QUNBOT_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start qunbot run");
        let mut stdin = child.stdin.take().unwrap();
        // Keep standard input open after writing: end of input would not stop
        // the daemon anyway, and the kill must find it mid-drop.
        std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
            std::thread::sleep(Duration::from_secs(120));
            drop(stdin);
        });
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Daemon { child, lines }
    }

    fn count(&self, word: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(word))
            .count()
    }

    /// Wait (bounded) until `done` holds for the lines seen so far.
    fn wait_until(&self, what: &str, done: impl Fn(&Daemon) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

/// Every member claims once, in groups of their own so claims run in parallel.
fn claims() -> String {
    (0..USERS)
        .map(|i| format!("/group g{}\n/as u{i}\n领券\n", i % 8))
        .collect()
}

/// `(user, code)` of each line starting with `word`.
fn pairs(lines: &[String], word: &str) -> Vec<(String, String)> {
    lines
        .iter()
        .filter_map(|l| {
            let rest = &l[l.find(word)? + word.len()..];
            let mut parts = rest.split_whitespace();
            Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
        })
        .collect()
}

#[test]
fn kill_9_mid_drop_never_double_spends_and_every_grant_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let codes: String = (0..CODES).map(|i| format!("C{i:04}\n")).collect();
    util::write_files(
        dir.path(),
        &[
            (
                "config.yaml",
                "storage: {url: \"sqlite://state.db\"}\nadapters:\n  console: {kind: console}\n",
            ),
            ("bots/codes.txt", &codes),
            ("bots/drop.yaml", BOT),
        ],
    );

    let mut first = Daemon::start(dir.path(), claims());
    first.wait_until("the drop to be under way", |d| d.count("GRANT ") >= 150);
    first.child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    first.child.wait().unwrap();
    let before = first.lines();
    assert!(
        pairs(&before, "GRANT ").len() < CODES,
        "killed too late to be mid-drop"
    );

    // Everyone asks again: each gets exactly one answer, and what the first
    // run granted but had not delivered goes out from the outbox.
    let second = Daemon::start(dir.path(), claims());
    second.wait_until("an answer to every member", |d| {
        d.count("AGAIN ") + d.count("SOLDOUT ") + pairs(&d.lines(), "GRANT ").len() >= USERS
            && d.count("SOLDOUT ") == USERS - CODES
    });
    let status = Command::new("kill")
        .args(["-TERM", &second.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut second = second;
    second.child.wait().unwrap();
    let after = second.lines();

    let export = Command::new(env!("CARGO_BIN_EXE_qunbot"))
        .current_dir(dir.path())
        .args(["coupons", "export", "--bot", "drop"])
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let csv = String::from_utf8(export.stdout).unwrap();
    let ledger: Vec<(String, String)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[4].to_owned(), f[2].to_owned())
        })
        .collect();

    // The ledger: every code once, nobody twice, never past the pool.
    assert_eq!(ledger.len(), CODES, "the pool is handed out in full");
    let codes: HashSet<&String> = ledger.iter().map(|(_, c)| c).collect();
    assert_eq!(codes.len(), ledger.len(), "a code was granted twice");
    let users: HashSet<&String> = ledger.iter().map(|(u, _)| u).collect();
    assert_eq!(users.len(), ledger.len(), "a member got two codes");

    // Deliveries: only grants of the ledger, every grant, each once — but
    // for the one delivery a kill can catch between the platform's answer
    // and the queue's record (at-least-once to the platform).
    let granted: HashSet<(String, String)> = ledger.iter().cloned().collect();
    let mut delivered: HashMap<(String, String), usize> = HashMap::new();
    for pair in pairs(&before, "GRANT ")
        .into_iter()
        .chain(pairs(&after, "GRANT "))
    {
        assert!(
            granted.contains(&pair),
            "delivered {pair:?}, which is not in the ledger"
        );
        *delivered.entry(pair).or_default() += 1;
    }
    for pair in &granted {
        assert!(delivered.contains_key(pair), "grant {pair:?} was never delivered");
    }
    let twice: Vec<_> = delivered.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.len() <= 1, "delivered more than once: {twice:?}");
    assert!(twice.iter().all(|(_, n)| **n == 2), "{twice:?}");

    // Members who asked again got their own code back.
    for (user, code) in pairs(&after, "AGAIN ") {
        assert!(
            granted.contains(&(user.clone(), code.clone())),
            "AGAIN {user} {code} is not theirs"
        );
    }
}
