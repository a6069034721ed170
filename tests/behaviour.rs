//! One behaviour suite for every adapter: the real daemon (`runtime::run`)
//! with a bot using `faq`, `coupons` and `moderation`, driven through a
//! platform peer — an in-repo fake that speaks the platform's wire format,
//! or a real server. Each adapter's test module implements [`Peer`] for its
//! peer and calls [`run`]:
//!
//! 1. a member's question gets the FAQ's answer, as a reply to it;
//! 2. a claim gets a coupon code;
//! 3. a spam message is deleted and its sender muted (or, where the platform
//!    cannot mute, warned and their next message deleted);
//! 4. the platform goes away (connections dropped, API down) right after a
//!    question, a claim is posted meanwhile, and it comes back: both are
//!    answered, each exactly once.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;

use crate::util::{self, Running};

/// The adapter id the suite's config gives the peer's adapter.
pub const ADAPTER: &str = "chat";

/// The first question and its answer.
pub const QUESTION: &str = "How do I get a refund?";
/// The FAQ's answer to [`QUESTION`].
pub const ANSWER: &str = "Refunds take 3 days.";
/// The question asked around the outage.
pub const QUESTION_2: &str = "When does the shop open?";
/// The FAQ's answer to [`QUESTION_2`].
pub const ANSWER_2: &str = "We open at 9 every day.";
/// The claim keyword; codes go out in order.
pub const CLAIM: &str = "claim";
/// The pool's codes, in the order they are handed out.
pub const CODES: [&str; 2] = ["RIDE-001", "RIDE-002"];
/// A message the moderation plugin deletes.
pub const SPAM: &str = "cheap viagra here";
/// How long a spammer is muted.
pub const MUTE_SECONDS: u64 = 600;

/// The suite's bot, served on [`ADAPTER`] in every group.
pub const BOT: &str = r#"
name: shop
adapters: [chat]
groups: ["*"]
locale: en
plugins:
  - use: moderation
    rules:
      banned_words: [viagra]
    classifier: null
    escalation: [{mute: 10m}]
  - use: coupons
    pools:
      - id: ride
        title: Ride
        codes: [RIDE-001, RIDE-002]
        per_user: 1
    claim:
      keywords: [claim]
      deliver: group
  - use: faq
    entries:
      - id: refund
        questions: ["How do I get a refund?", "how long does a refund take"]
        answer: "Refunds take 3 days."
      - id: hours
        questions: ["When does the shop open?", "opening hours"]
        answer: "We open at 9 every day."
"#;

/// The members of the test group; each peer maps them to its own user ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Member {
    /// Asks questions.
    Ann,
    /// Claims a code.
    Bob,
    /// Spams.
    Cat,
}

/// A message the bot posted, as the platform recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Said {
    /// Its text (plain, as a member would read it).
    pub text: String,
    /// The platform id of the message it answers (quote, reply reference,
    /// thread), if any.
    pub reply_to: Option<String>,
}

/// A platform peer the suite drives: members post through it, and it
/// records what the bot did.
#[async_trait]
pub trait Peer: Send {
    /// The flow mapping that configures the adapter under test, e.g.
    /// `{kind: telegram, token: "…", api_base: "http://127.0.0.1:…"}`.
    fn adapter_config(&self) -> String;

    /// Top-level config.yaml lines besides `storage` and `adapters` (such
    /// as an `http:` listener for webhooks); none by default.
    fn extra_config(&self) -> String {
        String::new()
    }

    /// Whether the platform can mute members; if not, the suite expects the
    /// fallback: a warning in the group and the member's next message
    /// deleted.
    fn can_mute(&self) -> bool {
        true
    }

    /// Whether the platform makes a retried send idempotent (Matrix's
    /// transaction ids): then nothing may be said twice, even across the
    /// outage.
    fn dedupes_retries(&self) -> bool {
        false
    }

    /// Called once the daemon is ready, with its HTTP listener's address if
    /// it has one (peers that connect to the daemon do it here).
    async fn daemon_started(&mut self, _http: Option<SocketAddr>) {}

    /// `member` posts `text` in the test group; returns the platform's id of
    /// the message (as the bot would see it).
    async fn post(&mut self, member: Member, text: &str) -> String;

    /// Everything the bot has posted in the test group so far, in order,
    /// each once (a send the platform accepted twice shows twice).
    async fn said(&self) -> Vec<Said>;

    /// The ids of the messages the bot deleted so far.
    async fn deleted(&self) -> Vec<String>;

    /// The members the bot muted so far, with the duration in seconds.
    async fn muted(&self) -> Vec<(Member, u64)>;

    /// The platform goes away: the bot's connections drop and its API calls
    /// fail (refused, 5xx or timeouts, as the platform would). Members may
    /// still post meanwhile: the platform delivers their messages once the
    /// bot is back, as it would.
    async fn go_down(&mut self);

    /// The platform is reachable again.
    async fn come_back(&mut self);
}

/// Evaluate `$found` (an `Option`) until it is `Some`, with a real deadline:
/// the daemon runs on the system clock and the peer on sockets.
macro_rules! eventually {
    ($what:expr, $found:expr) => {{
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(found) = $found {
                break found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {}",
                $what
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }};
}

async fn said_containing<P: Peer + ?Sized>(peer: &P, text: &str) -> Said {
    eventually!(
        format!("the bot to say {text:?}"),
        peer.said().await.into_iter().find(|s| s.text.contains(text))
    )
}

async fn deleted<P: Peer + ?Sized>(peer: &P, id: &str) {
    eventually!(
        format!("message {id} deleted"),
        peer.deleted().await.iter().any(|d| d == id).then_some(())
    )
}

/// Write the suite's config for `peer` into `dir`.
pub fn write_config(dir: &Path, peer: &dyn Peer) {
    let config = format!(
        "storage: {{url: sqlite://state.db}}\n{}adapters:\n  {ADAPTER}: {}\n",
        peer.extra_config(),
        peer.adapter_config()
    );
    util::write_files(dir, &[("config.yaml", &config), ("bots/shop.yaml", BOT)]);
}

/// Run the whole suite against `peer`.
pub async fn run<P: Peer>(peer: &mut P) {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), peer);
    let daemon = Running::start(dir.path()).await;
    peer.daemon_started(daemon.http).await;

    // 1. The FAQ answers, quoting the question.
    let asked = peer.post(Member::Ann, QUESTION).await;
    let answer = said_containing(peer, ANSWER).await;
    assert_eq!(
        answer.reply_to.as_deref(),
        Some(asked.as_str()),
        "the answer quotes the question"
    );

    // 2. A claim gets the first code.
    peer.post(Member::Bob, CLAIM).await;
    said_containing(peer, CODES[0]).await;

    // 3. Spam is deleted and its sender muted, or warned and kept quiet.
    let spam = peer.post(Member::Cat, SPAM).await;
    deleted(peer, &spam).await;
    if peer.can_mute() {
        eventually!(
            "the spammer muted",
            peer.muted()
                .await
                .contains(&(Member::Cat, MUTE_SECONDS))
                .then_some(())
        );
    } else {
        said_containing(peer, "muted").await;
        let again = peer.post(Member::Cat, "hello again").await;
        deleted(peer, &again).await;
    }

    // 4. An outage right after a question, with a claim posted meanwhile.
    peer.post(Member::Ann, QUESTION_2).await;
    peer.go_down().await;
    peer.post(Member::Ann, CLAIM).await;
    peer.come_back().await;
    said_containing(peer, ANSWER_2).await;
    said_containing(peer, CODES[1]).await;
    daemon.stop().await;

    let said = peer.said().await;
    let times = |text: &str| said.iter().filter(|s| s.text.contains(text)).count();
    for text in [ANSWER, CODES[0]] {
        assert_eq!(times(text), 1, "{text:?} said once: {said:?}");
    }
    // Across the outage: delivery is at least once. A send the platform
    // took but whose answer the outage cut is sent again, unless the
    // platform makes retries idempotent (transaction ids).
    let most = if peer.dedupes_retries() { 1 } else { 2 };
    for text in [ANSWER_2, CODES[1]] {
        assert!(
            (1..=most).contains(&times(text)),
            "{text:?} said {} times: {said:?}",
            times(text)
        );
    }
    assert!(
        !said.iter().any(|s| s.text.contains("viagra")),
        "spam never gets an answer: {said:?}"
    );
}
