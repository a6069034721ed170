//! The Slack adapter: a Slack app's bot user in one workspace.
//!
//! - `config.rs`: [`SlackConfig`], the `kind: slack` options.
//! - `api.rs`: the Web API client and what its errors mean.
//! - `convert.rs`: event payloads → events, actions → Web API calls (pure).
//! - `socket.rs`: Socket Mode (a WebSocket the daemon opens).
//! - `events.rs`: the Events API (signed requests to the daemon's listener).
//!
//! Either way an event reaches the bots before Slack is told it arrived
//! (the envelope's ack, the request's 200), and an event Slack delivers
//! twice (retries, redelivered envelopes) is handed over once (`event_id`).
//! Failed actions return the shared [`crate::adapter::http`] mapping and
//! the outbox retries them.

mod api;
mod config;
mod convert;
mod events;
mod socket;

pub use config::{Mode, SlackConfig};

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::api::{Api, ApiError, Kind};
use self::convert::{SlackEvent, Token, UserInfo};
use super::http::Backoff;
use super::recent::Recent;
use super::{Adapter, Capabilities, EventSink, Route, SendError};
use crate::clock::{Clock, SystemClock};
use crate::error::BoxError;
use crate::event::{Action, AdapterId, Target};
use crate::outbox::{Rate, RateLimits};

/// How long a user's name and workspace role are trusted.
const USERS_TTL: Duration = Duration::from_secs(600);

/// After a failed `users.info`, how long until the next try.
const USERS_RETRY: Duration = Duration::from_secs(60);

/// How many event ids (and thread parents) are remembered.
const REMEMBERED: usize = 4096;

/// Events API requests queued between the listener and the receive loop.
const QUEUE: usize = 256;

/// A Slack app's bot user.
pub struct SlackAdapter {
    /// Its id from config.yaml.
    id: AdapterId,
    /// Its options (tokens among them: never logged).
    config: SlackConfig,
    /// The Web API client.
    api: Api,
    /// Checks the Events API's request timestamps.
    clock: Arc<dyn Clock>,
    /// The bot's own user id (`auth.test`), to skip its own messages.
    own: OnceLock<String>,
    /// Event ids handed over lately, to hand a redelivered event over once.
    seen: Mutex<Recent>,
    /// Names and workspace roles (`users.info`), with when to ask again;
    /// `None` after a failed lookup.
    users: Mutex<HashMap<String, (Option<UserInfo>, Instant)>>,
    /// Messages seen inside a thread → the thread's parent, so a reply to
    /// one lands in its thread.
    threads: Mutex<(HashMap<String, String>, VecDeque<String>)>,
    /// Direct-message channels opened (`conversations.open`), per user.
    dms: Mutex<HashMap<String, String>>,
    /// Events API requests from the listener to `run` (the sending half).
    queue_tx: mpsc::Sender<events::Delivery>,
    /// The receiving half, taken by `run`.
    queue_rx: Mutex<Option<mpsc::Receiver<events::Delivery>>>,
}

impl std::fmt::Debug for SlackAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackAdapter")
            .field("id", &self.id)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SlackAdapter {
    /// A not yet running adapter for `config`.
    pub fn new(id: AdapterId, config: SlackConfig) -> Result<Self, BoxError> {
        let api = Api::new(&config.api_base)?;
        let (queue_tx, queue_rx) = mpsc::channel(QUEUE);
        Ok(Self {
            id,
            config,
            api,
            clock: Arc::new(SystemClock),
            own: OnceLock::new(),
            seen: Mutex::new(Recent::new(REMEMBERED)),
            users: Mutex::new(HashMap::new()),
            threads: Mutex::new((HashMap::new(), VecDeque::new())),
            dms: Mutex::new(HashMap::new()),
            queue_tx,
            queue_rx: Mutex::new(Some(queue_rx)),
        })
    }

    /// The same adapter reading time from `clock` (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The Events API's path on the listener.
    pub fn events_path(&self) -> String {
        self.config
            .path
            .clone()
            .unwrap_or_else(|| format!("/slack/{}", self.id))
    }

    /// The token a call needs: deletes use the admin's user token when one
    /// is configured.
    fn token(&self, token: Token) -> &str {
        match (token, &self.config.user_token) {
            (Token::User, Some(user)) => user,
            _ => &self.config.bot_token,
        }
    }

    /// Learn the bot's own user id with `auth.test`, retrying until it
    /// works; `Ok(false)` if shut down first, an error if the token is
    /// refused.
    async fn learn_own_id(&self, shutdown: &CancellationToken) -> Result<bool, BoxError> {
        let mut backoff = Backoff::default();
        loop {
            let answer = tokio::select! {
                answer = self.api.call("auth.test", &self.config.bot_token, &[]) => answer,
                () = shutdown.cancelled() => return Ok(false),
            };
            match answer {
                Ok(body) => {
                    if let Some(user) = body["user_id"].as_str() {
                        let _ = self.own.set(user.to_owned());
                    }
                    return Ok(true);
                }
                Err(error) if error.kind() == Kind::Auth => {
                    return Err(format!("Slack refused the bot token: {error}").into());
                }
                Err(error) => {
                    tracing::warn!(adapter = %self.id, %error, retry_in = ?backoff.peek(), "auth.test failed; retrying");
                    if !backoff.wait(shutdown).await {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// Hand the event `event_id` over unless it was already; `false` once
    /// nobody receives events any more (the caller then does not confirm
    /// it to Slack, which delivers it again later).
    async fn deliver(&self, event_id: &str, event: &SlackEvent, events: &EventSink) -> bool {
        if self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(event_id)
        {
            tracing::debug!(adapter = %self.id, event_id, "an event delivered again; already handed over");
            return true;
        }
        if let SlackEvent::Message(m) = event {
            if let Some(parent) = m.thread_ts.as_ref().filter(|t| **t != m.ts) {
                self.note_thread(&m.ts, parent);
            }
        }
        let who = match event.user() {
            Some(user) => self.user_info(user).await,
            None => None,
        };
        let own = self.own.get().map(String::as_str);
        if let Some(converted) = convert::event(&self.id, event, own, who.as_ref(), self.clock.now()) {
            if events.send(converted).await.is_err() {
                return false;
            }
        }
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(event_id);
        true
    }

    /// A user's name and workspace role, from the cache or `users.info`;
    /// `None` if Slack could not say (the member then counts as a member).
    async fn user_info(&self, user: &str) -> Option<UserInfo> {
        let now = Instant::now();
        if let Some((info, until)) = self.users.lock().unwrap_or_else(|e| e.into_inner()).get(user) {
            if *until > now {
                return info.clone();
            }
        }
        let answer = self
            .api
            .call("users.info", &self.config.bot_token, &[("user", user)])
            .await;
        let (info, ttl) = match answer {
            Ok(body) => (UserInfo::from_user(&body["user"]), USERS_TTL),
            Err(error) => {
                tracing::warn!(adapter = %self.id, %error, "users.info failed; taking the sender as a member for now");
                (None, USERS_RETRY)
            }
        };
        self.users
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user.to_owned(), (info.clone(), now + ttl));
        info
    }

    /// Remember that message `ts` sits in the thread of `parent`.
    fn note_thread(&self, ts: &str, parent: &str) {
        let mut guard = self.threads.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *guard;
        if map.insert(ts.to_owned(), parent.to_owned()).is_none() {
            order.push_back(ts.to_owned());
            if order.len() > REMEMBERED {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
    }

    /// The thread parent of message `ts`, if it was seen in a thread.
    fn thread_of(&self, ts: &str) -> Option<String> {
        self.threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .get(ts)
            .cloned()
    }

    /// The direct-message channel with `user`, opened if needed.
    async fn dm_channel(&self, user: &str) -> Result<String, SendError> {
        if let Some(channel) = self.dms.lock().unwrap_or_else(|e| e.into_inner()).get(user) {
            return Ok(channel.clone());
        }
        let body = self
            .api
            .call("conversations.open", &self.config.bot_token, &[("users", user)])
            .await
            .map_err(|e| self.failed(&e))?;
        let Some(channel) = body["channel"]["id"].as_str() else {
            return Err(SendError::Transient(
                "conversations.open: no channel id in the answer".into(),
            ));
        };
        self.dms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user.to_owned(), channel.to_owned());
        Ok(channel.to_owned())
    }

    /// What a failed call means to the outbox; a refused token is also
    /// logged as the configuration problem it is.
    fn failed(&self, error: &ApiError) -> SendError {
        if error.kind() == Kind::Auth {
            tracing::error!(adapter = %self.id, %error, "Slack refused a token; fix config.yaml");
        }
        error.send_error()
    }
}

#[async_trait]
impl Adapter for SlackAdapter {
    fn id(&self) -> &AdapterId {
        &self.id
    }

    /// Slack has no mute or ban for apps; deleting members' messages needs
    /// an admin's user token.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            send: true,
            reply: true,
            direct_message: true,
            delete: self.config.user_token.is_some(),
            mute: false,
            kick: true,
            ban: false,
        }
    }

    /// Slack's documented limit for posting: about one message a second per
    /// channel (short bursts allowed).
    fn limits(&self) -> RateLimits {
        RateLimits::none().per_group(Rate::new(1, Duration::from_secs(1)))
    }

    async fn run(&self, events: EventSink, shutdown: CancellationToken) -> Result<(), BoxError> {
        match self.config.mode {
            Mode::Socket => self.socket(events, shutdown).await,
            Mode::Events => self.events(events, shutdown).await,
        }
    }

    fn routes(&self) -> Vec<Route> {
        if self.config.mode != Mode::Events {
            return Vec::new();
        }
        vec![Route {
            path: self.events_path(),
            handler: events::handler(
                self.config.signing_secret.clone().unwrap_or_default(),
                self.clock.clone(),
                self.queue_tx.clone(),
            ),
        }]
    }

    async fn execute(&self, action: &Action) -> Result<(), SendError> {
        let channel = match action {
            Action::Send {
                to: Target::User(user),
                ..
            } => Some(self.dm_channel(user.as_str()).await?),
            _ => None,
        };
        let thread = match action {
            Action::Reply { reply_to, .. } => self.thread_of(reply_to.as_str()),
            _ => None,
        };
        let Some(call) = convert::call(action, channel.as_deref(), thread.as_deref()) else {
            return Err(SendError::Permanent(format!(
                "Slack has no {} for apps",
                action.name()
            )));
        };
        let args: Vec<(&str, &str)> = call.args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.api
            .call(call.method, self.token(call.token), &args)
            .await
            .map(|_| ())
            .map_err(|e| self.failed(&e))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn debug_output_shows_no_secrets() {
        let config: SlackConfig = serde_json::from_value(json!({
            "bot_token": "xoxb-TOPSECRET", "mode": "socket", "app_token": "xapp-APPSECRET",
            "user_token": "xoxp-USERSECRET", "signing_secret": "SIGNSECRET"
        }))
        .unwrap();
        let adapter = SlackAdapter::new("sl".into(), config).unwrap();
        let text = format!("{adapter:?}");
        for secret in ["TOPSECRET", "APPSECRET", "USERSECRET", "SIGNSECRET"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}
