//! The `qunbot` binary as a user meets it.

use std::path::Path;
use std::process::{Command, Output};

use crate::util;

fn qunbot(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qunbot"))
        .current_dir(dir)
        .args(args)
        .env_remove("QUNBOT_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .expect("run qunbot")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Run `qunbot`, which must succeed, and parse the last line it printed
/// (the JSON summary of `bench` and `eval`); also the whole output.
fn summary(dir: &Path, args: &[&str]) -> (serde_json::Value, String) {
    let out = qunbot(dir, args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    let last = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    (last, text)
}

/// The lines of a JSONL file, parsed.
fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

const CONFIG: &str = "storage: {url: \"sqlite::memory:\"}\nadapters:\n  console: {kind: console}\n";

#[test]
fn check_names_file_line_col_and_the_misspelt_key() {
    let dir = tempfile::tempdir().unwrap();
    util::write_files(
        dir.path(),
        &[
            ("config.yaml", CONFIG),
            (
                "bots/shop.yaml",
                "name: shop\nplugins:\n  - use: autoreply\n    rules:\n      - match: {exact: hi}\n        reply: hello\n        coldown: 1m\n",
            ),
        ],
    );
    let out = qunbot(dir.path(), &["check"]);
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(text.contains("bots/shop.yaml:7:9:"), "{text}");
    assert!(text.contains("coldown"), "{text}");
}

#[test]
fn check_names_a_missing_environment_variable() {
    let dir = tempfile::tempdir().unwrap();
    util::write_files(
        dir.path(),
        &[
            ("config.yaml", CONFIG),
            (
                "bots/shop.yaml",
                "plugins:\n  - use: welcome\n    text: \"hi ${QUNBOT_TEST_SURELY_UNSET_VAR}\"\n",
            ),
        ],
    );
    let out = qunbot(dir.path(), &["check"]);
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(text.contains("bots/shop.yaml:3:"), "{text}");
    assert!(text.contains("QUNBOT_TEST_SURELY_UNSET_VAR"), "{text}");
}

#[test]
fn the_shipped_config_and_bots_check_clean() {
    let out = qunbot(Path::new(env!("CARGO_MANIFEST_DIR")), &["check"]);
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("2 bot(s)"), "{}", stdout(&out));
}

#[test]
fn the_shipped_bots_answer_in_simulation() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let transcript = dir.path().join("t.jsonl");
    std::fs::write(
        &transcript,
        concat!(
            r#"{"at":"2026-11-24T11:00:00+08:00","kind":"join","group":"welfare","user":"u1","name":"小王"}"#,
            "\n",
            r#"{"at":"2026-11-24T11:00:05+08:00","kind":"message","group":"welfare","user":"u1","text":"券怎么领？"}"#,
            "\n",
            r#"{"at":"2026-11-24T11:00:09+08:00","kind":"message","group":"lobby","user":"u2","text":"!rules"}"#,
            "\n",
            r#"{"at":"2026-11-24T11:00:20+08:00","kind":"message","group":"welfare","user":"u1","text":"领券"}"#,
            "\n",
            r#"{"at":"2026-11-24T11:31:00+08:00","kind":"tick"}"#,
            "\n",
        ),
    )
    .unwrap();
    let out = qunbot(root, &["simulate", transcript.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let said: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["bot"].as_str().unwrap(), l["text"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(said.len(), 5, "{text}");
    assert_eq!(
        said[0],
        (
            "didi-welfare",
            "欢迎 小王 加入福利群！回复「领券」领取今日出行券。"
        )
    );
    assert!(said[1].1.starts_with("回复「领券」即可领取"), "{text}");
    assert_eq!(said[2].0, "community");
    assert!(said[2].1.starts_with("1. Be kind."), "{text}");
    assert_eq!(lines[3]["user"], "u1", "the code goes by direct message");
    assert!(said[3].1.starts_with("u1，你的出行券券码：DD-"), "{text}");
    assert_eq!(
        lines[4]["at"], "2026-11-24T11:30:00+08:00",
        "the lunch post, on its slot"
    );
    assert!(said[4].1.contains("还剩 29 张"), "live pool state: {text}");
}

#[test]
fn simulate_reports_a_bad_line_with_its_number_and_field() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let transcript = dir.path().join("t.jsonl");
    std::fs::write(
        &transcript,
        "{\"at\":\"2026-11-24T11:00:00+08:00\",\"kind\":\"tick\"}\n{\"at\":\"2026-11-24T11:00:00+08:00\",\"kind\":\"message\",\"user\":\"u\"}\n",
    )
    .unwrap();
    let out = qunbot(root, &["simulate", transcript.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2: text:"), "{err}");
}

#[test]
fn help_lists_every_command() {
    let out = qunbot(Path::new("."), &["--help"]);
    assert!(out.status.success());
    let text = stdout(&out);
    for cmd in ["run", "check", "chat", "simulate", "schema", "list"] {
        assert!(text.contains(&format!("  {cmd} ")), "{cmd} missing from:\n{text}");
    }
}

#[test]
fn list_shows_the_registries() {
    let text = stdout(&qunbot(Path::new("."), &["list"]));
    for kind in ["autoreply", "welcome", "promotions", "console"] {
        assert!(text.contains(kind), "{kind} missing from:\n{text}");
    }
}

#[test]
fn schema_offers_each_plugin_kind() {
    let out = qunbot(Path::new("."), &["schema"]);
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = schema.to_string();
    for kind in ["autoreply", "welcome", "promotions"] {
        assert!(text.contains(&format!("\"{kind}\"")), "{kind} missing");
    }
}

#[test]
fn bench_claims_reports_a_clean_ledger() {
    let (last, _) = summary(
        Path::new("."),
        &[
            "bench",
            "claims",
            "--inventory",
            "300",
            "--users",
            "500",
            "--concurrency",
            "16",
        ],
    );
    assert_eq!(last["attempts"], 1000);
    assert_eq!(last["granted"], 300);
    assert_eq!(last["oversold"], 0);
    assert_eq!(last["duplicate_codes"], 0);
    assert_eq!(last["per_user_violations"], 0);
    assert!(last["claims_per_sec"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_pipeline_counts_events_and_actions_and_takes_the_median_of_runs() {
    let dir = tempfile::tempdir().unwrap();
    let line = |i: usize, text: &str| {
        format!(
            r#"{{"at":"2026-11-24T08:00:{i:02}+08:00","kind":"message","group":"g1","user":"u{i}","text":"{text}"}}"#
        ) + "\n"
    };
    let texts = [
        "cheap pills here",
        "see you at lunch",
        "the meeting moved",
        "cheap pills here",
        "thanks all",
        "good morning",
    ];
    let transcript: String = texts.iter().enumerate().map(|(i, t)| line(i, t)).collect();
    util::write_files(
        dir.path(),
        &[
            ("config.yaml", CONFIG),
            (
                "bots/guard.yaml",
                "plugins:\n  - use: moderation\n    rules: {banned_words: [pills]}\n    classifier: null\n",
            ),
            ("t.jsonl", transcript.as_str()),
        ],
    );
    let args = ["bench", "pipeline", "--transcript", "t.jsonl"];
    let (last, text) = summary(dir.path(), &args);
    assert_eq!(last["events"], 6);
    // Two banned messages: each deleted, and its sender warned.
    assert_eq!(last["actions"], 4, "{text}");
    assert!(last["events_per_sec"].as_f64().unwrap() > 0.0);
    assert!(last["p99_us"].as_f64().unwrap() >= last["p50_us"].as_f64().unwrap());
    assert!(!text.contains("runs "), "one run by default: {text}");

    // Three runs, each from a fresh start: the counts of one run.
    let (last, text) = summary(dir.path(), &[&args[..], &["--runs", "3"]].concat());
    assert_eq!(
        (last["events"].clone(), last["actions"].clone()),
        (6.into(), 4.into())
    );
    assert!(text.contains("runs          3"), "{text}");

    let out = qunbot(
        dir.path(),
        &[&args[..], &["--runs", "2", "--store", "sqlite::memory:"]].concat(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("leave out --store"));
}

#[test]
fn coupons_export_lists_the_grants_of_a_simulation_store() {
    let dir = tempfile::tempdir().unwrap();
    util::write_files(
        dir.path(),
        &[
            (
                "config.yaml",
                "storage: {url: \"sqlite://state.db\"}\nadapters:\n  console: {kind: console}\n",
            ),
            (
                "bots/shop.yaml",
                "plugins:\n  - use: coupons\n    pools: [{id: p, codes: [\"A,1\", B2]}]\n",
            ),
            (
                "t.jsonl",
                concat!(
                    r#"{"at":"2026-11-24T11:00:00+08:00","kind":"message","group":"g1","user":"u1","text":"领券"}"#,
                    "\n",
                    r#"{"at":"2026-11-24T11:00:01+08:00","kind":"message","group":"g2","user":"u2","text":"领券"}"#,
                    "\n"
                ),
            ),
        ],
    );
    let sim = qunbot(
        dir.path(),
        &["simulate", "t.jsonl", "--store", "sqlite://state.db"],
    );
    assert!(sim.status.success(), "{}", String::from_utf8_lossy(&sim.stderr));
    let out = qunbot(dir.path(), &["coupons", "export", "--bot", "shop"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = stdout(&out);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "id,pool,code,adapter,user,group,message,claimed_at");
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[1].contains(",p,\"A,1\",console,u1,g1,m1,2026-11-24T03:00:00.000+00:00"),
        "{csv}"
    );
    assert!(lines[2].contains(",p,B2,console,u2,g2,m2,"), "{csv}");
}

#[test]
fn eval_spam_of_a_bot_counts_per_language_and_writes_misses_with_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    util::write_files(
        dir.path(),
        &[
            ("config.yaml", CONFIG),
            (
                "bots/guard.yaml",
                "plugins:\n  - use: moderation\n    rules: {banned_words: [zorblax]}\n    classifier: null\n",
            ),
            (
                "data.jsonl",
                concat!(
                    r#"{"text":"buy zorblax now","label":"spam","lang":"en"}"#,
                    "\n",
                    // Ham with the banned word: deleted, the one false positive.
                    r#"{"text":"I read a zorblax story","label":"ham","lang":"en"}"#,
                    "\n",
                    // Spam without it: let through.
                    r#"{"text":"hello friends","label":"spam","lang":"zh"}"#,
                    "\n",
                    r#"{"text":"good morning","label":"ham","lang":"zh"}"#,
                    "\n",
                ),
            ),
        ],
    );
    let args = [
        "eval",
        "spam",
        "--bot",
        "guard",
        "--data",
        "data.jsonl",
        "--errors",
        "miss.jsonl",
    ];
    let (last, text) = summary(dir.path(), &args);
    assert_eq!(
        (last["n"].clone(), last["tp"].clone(), last["fp"].clone()),
        (4.into(), 1.into(), 1.into()),
        "{text}"
    );
    assert_eq!(last["by_lang"]["en"]["fpr"], 1.0, "{text}");
    assert_eq!(last["by_lang"]["zh"]["recall"], 0.0, "{text}");
    let misses = jsonl(&dir.path().join("miss.jsonl"));
    assert_eq!(misses.len(), 2, "{misses:?}");
    assert_eq!(misses[0]["text"], "I read a zorblax story");
    assert_eq!(misses[0]["reason"], "spam: banned word");
    assert_eq!(misses[1]["text"], "hello friends");
    assert!(misses[1].get("reason").is_none(), "{misses:?}");
}

#[test]
fn eval_faq_reports_accuracy_and_writes_its_misses() {
    let dir = tempfile::tempdir().unwrap();
    util::write_files(
        dir.path(),
        &[
            (
                "faq.yaml",
                concat!(
                    "- id: hours\n  questions: [When are you open?, What are your opening hours?]\n",
                    "  answer: Nine to five.\n",
                    "- id: refund\n  questions: [How do I get a refund?, Can I return my order?]\n",
                    "  answer: Within 30 days.\n",
                ),
            ),
            (
                "q.jsonl",
                concat!(
                    r#"{"text":"what are your opening hours today?","expect":"hours"}"#,
                    "\n",
                    r#"{"text":"how do I get a refund for my order?","expect":"refund"}"#,
                    "\n",
                    // Asks about hours, labelled refund: the one miss.
                    r#"{"text":"when are you open on sunday?","expect":"refund"}"#,
                    "\n",
                ),
            ),
        ],
    );
    let (last, text) = summary(
        dir.path(),
        &[
            "eval",
            "faq",
            "--faq",
            "faq.yaml",
            "--queries",
            "q.jsonl",
            "--errors",
            "miss.jsonl",
        ],
    );
    assert_eq!(last["n"], 3, "{text}");
    // Figures are printed to four decimals.
    assert!(
        (last["accuracy"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-3,
        "{text}"
    );
    let misses = jsonl(&dir.path().join("miss.jsonl"));
    assert_eq!(misses.len(), 1, "{misses:?}");
    assert_eq!(misses[0]["text"], "when are you open on sunday?");
    assert_eq!(misses[0]["expect"], "refund");
    assert_eq!(misses[0]["answered"], "hours");
    assert_eq!(misses[0]["top"], "hours");
}

/// The fenced blocks of README.md with the given info string, in order.
fn readme_blocks(lang: &str) -> Vec<String> {
    doc_blocks("README.md", lang)
}

/// The fenced blocks of `file` (relative to the crate) with the given info
/// string, in order.
fn doc_blocks(file: &str, lang: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_start().strip_prefix("```")) {
            (None, Some(info)) if info.trim() == lang => current = Some(String::new()),
            (Some(_), Some(_)) => blocks.push(current.take().unwrap()),
            (Some(text), None) => {
                text.push_str(line);
                text.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

#[test]
fn the_readme_bot_example_works_as_shown() {
    let bot = readme_blocks("yaml")
        .into_iter()
        .find(|b| b.contains("# bots/shop.yaml"))
        .unwrap();
    let day = readme_blocks("json")
        .into_iter()
        .find(|b| b.contains("\"kind\""))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.yaml")).unwrap();
    util::write_files(
        dir.path(),
        &[
            ("config.yaml", &config),
            ("bots/shop.yaml", &bot),
            ("day.jsonl", &day),
        ],
    );
    let check = qunbot(dir.path(), &["check"]);
    assert!(check.status.success(), "{}", stdout(&check));
    let out = qunbot(dir.path(), &["simulate", "day.jsonl"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = stdout(&out);
    let texts: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(texts.len(), 4, "{text}");
    assert_eq!(texts[0], "欢迎 Bob 加入福利群！");
    assert_eq!(texts[1], "回复「领券」即可领取。");
    assert!(texts[2].ends_with("DD-7F3K"), "{text}");
    assert_eq!(texts[3], "🚕 午餐出行券来啦！还剩 2 张，回复「领券」领取。");
}

#[test]
fn run_starts_the_shipped_bots_on_the_console_and_stops_cleanly_on_sigterm() {
    use std::io::{BufRead, BufReader, Write};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root.join("config.yaml"), dir.path().join("config.yaml")).unwrap();
    copy_tree(&root.join("bots"), &dir.path().join("bots"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_qunbot"))
        .current_dir(dir.path())
        .args(["run", "--log", "warn"])
        .env_remove("QUNBOT_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all("/as u1 小王\n领券\n".as_bytes()).unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let answer = lines.next().unwrap().unwrap();
    assert!(
        answer.contains("[dm → u1] bot: 小王，你的出行券券码：DD-"),
        "{answer}"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    drop(stdin);
    assert!(
        dir.path().join("data/qunbot.db").exists(),
        "state lives in storage.url"
    );
}

/// Copy the folder `from` (recursively) to `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The entries under `adapters:` of a config example, by id, as written.
fn adapter_entries(config: &str) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = Vec::new();
    let section = config
        .lines()
        .skip_while(|l| !l.starts_with("adapters:"))
        .skip(1)
        .take_while(|l| l.starts_with(' ') || l.is_empty());
    for line in section {
        let id = line.strip_prefix("  ").filter(|l| !l.starts_with(' '));
        match (id, entries.last_mut()) {
            (Some(rest), _) => {
                let id = rest.split(':').next().unwrap().to_owned();
                entries.push((id, format!("{line}\n")));
            }
            (None, Some((_, text))) => text.push_str(&format!("{line}\n")),
            (None, None) => {}
        }
    }
    entries
}

#[test]
fn the_adapter_docs_config_examples_pass_check() {
    let examples = doc_blocks("docs/adapters.md", "yaml");
    assert!(examples.len() >= 4, "{examples:?}");
    // A bot example (`# bots/NAME.yaml, beside …`) is checked with the
    // adapters of every config example before it.
    let mut adapters: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    for example in examples {
        let dir = tempfile::tempdir().unwrap();
        match example.lines().next().and_then(|l| l.strip_prefix("# bots/")) {
            Some(rest) => {
                let file = rest.split([',', ' ']).next().unwrap();
                // The adapters the bot names, as the examples above wrote them.
                let named = example
                    .lines()
                    .find_map(|l| l.strip_prefix("adapters: ["))
                    .unwrap()
                    .trim_end_matches(']');
                let adapters: String = named.split(',').map(|id| adapters[id.trim()].clone()).collect();
                let config = format!("storage: {{url: sqlite://data/qunbot.db}}\nadapters:\n{adapters}");
                util::write_files(
                    dir.path(),
                    &[("config.yaml", &config), (&format!("bots/{file}"), &example)],
                );
            }
            None => {
                util::write_files(dir.path(), &[("config.yaml", &example)]);
                adapters.extend(adapter_entries(&example));
            }
        }
        let out = Command::new(env!("CARGO_BIN_EXE_qunbot"))
            .current_dir(dir.path())
            .args(["check"])
            .env_remove("QUNBOT_CONFIG")
            .env("TELEGRAM_BOT_TOKEN", "123:abc")
            .env("TELEGRAM_WEBHOOK_SECRET", "s3cret")
            .env("WEBHOOK_SECRET", "0123456789abcdef")
            .env("ONEBOT_TOKEN", "t0ken")
            .env("WECOM_ROBOT_KEY_SH", "k")
            .env("FEISHU_HOOK_SH", "h")
            .env("FEISHU_SECRET_SH", "s")
            .env("DINGTALK_TOKEN_SH", "t")
            .env("DINGTALK_SECRET_SH", "SECs")
            .env("FEISHU_APP_SECRET", "s")
            .env("FEISHU_VERIFICATION_TOKEN", "t")
            .env("FEISHU_ENCRYPT_KEY", "k")
            .env("DINGTALK_APP_SECRET", "s")
            .env("ONEBOT_SECRET", "s1gn")
            .env("DISCORD_BOT_TOKEN", "MTIz.abc.def")
            .env("SLACK_BOT_TOKEN", "xoxb-1-2-abc")
            .env("SLACK_APP_TOKEN", "xapp-1-A1-2-abc")
            .env("SLACK_SIGNING_SECRET", "s3cret")
            .env("SLACK_ADMIN_TOKEN", "xoxp-1-2-abc")
            .env("MATRIX_TOKEN", "syt_t0ken")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{example}\n{}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
