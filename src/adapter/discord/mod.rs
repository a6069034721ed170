//! The Discord adapter: events from the gateway (WebSocket), actions by
//! the REST API (v10).
//!
//! - `config.rs`: [`DiscordConfig`], the `kind: discord` options.
//! - `api.rs`: the REST client and its rate-limit buckets.
//! - `gateway.rs`: one gateway connection (Hello, Identify or Resume,
//!   heartbeats, dispatches, reconnect opcodes and close codes).
//! - `model.rs`: the gateway's frames and the payloads qunbot reads (serde).
//! - `convert.rs`: payloads → events, actions → requests, guild roles (pure).
//!
//! # Why not twilight
//!
//! twilight-gateway/-http/-model are well kept, and can be pointed at
//! another gateway URL and API base (a proxy). They bring their own
//! WebSocket and HTTP stacks, reconnect loop, retry and rate-limit queue,
//! which would sit beside the shared [`crate::adapter::ws`] and
//! [`crate::adapter::http`] layers and the outbox's retries (two places
//! deciding when to retry), and twilight-model compiles hundreds of types
//! for the dozen payloads qunbot reads. So this module speaks the documented
//! JSON itself, with serde models of just those payloads.
//!
//! # Groups
//!
//! A qunbot group is a guild text channel (its id). Member actions (mute,
//! kick, ban) need the channel's guild: learnt from `GUILD_CREATE`'s channel
//! lists, `CHANNEL_CREATE` and messages' `guild_id`, else asked with
//! `GET /channels/{id}`. Joins and leaves are reported in the guild's system
//! channel (where Discord posts its own welcome messages); guilds without
//! one give no join or leave events.

mod api;
mod config;
mod convert;
mod gateway;
mod model;

pub use config::DiscordConfig;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use self::api::{Api, Request};
use self::convert::Guilds;
use super::http::Backoff;
use super::{Adapter, Capabilities, EventSink, SendError};
use crate::clock::{Clock, SystemClock};
use crate::error::BoxError;
use crate::event::{Action, AdapterId, Target};
use crate::outbox::{Rate, RateLimits};

/// Discord's JSON error code for a message that no longer exists.
const UNKNOWN_MESSAGE: u64 = 10008;

/// A Discord bot account.
pub struct DiscordAdapter {
    /// Its id from config.yaml.
    id: AdapterId,
    /// Its options.
    config: DiscordConfig,
    /// The REST client.
    api: Api,
    /// Stamps events without a timestamp and timeouts' end.
    clock: Arc<dyn Clock>,
    /// Owners, role permissions, channels → guilds; written by the gateway,
    /// read by both directions.
    guilds: Mutex<Guilds>,
    /// DM channel ids by user id (`POST /users/@me/channels`).
    dm_channels: Mutex<HashMap<String, String>>,
    /// The gateway session to resume, and the bot's own user id.
    session: Mutex<gateway::State>,
}

impl std::fmt::Debug for DiscordAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordAdapter")
            .field("id", &self.id)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl DiscordAdapter {
    /// A not yet running adapter for `config`.
    pub fn new(id: AdapterId, config: DiscordConfig) -> Result<Self, BoxError> {
        Ok(Self {
            api: Api::new(&config.api_base, &config.token)?,
            id,
            config,
            clock: Arc::new(SystemClock),
            guilds: Mutex::new(Guilds::default()),
            dm_channels: Mutex::new(HashMap::new()),
            session: Mutex::new(gateway::State::default()),
        })
    }

    fn guilds(&self) -> std::sync::MutexGuard<'_, Guilds> {
        self.guilds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The gateway URL: configured, or asked from Discord until it answers.
    /// `None` on shutdown; an error if the token is refused.
    async fn gateway_url(&self, shutdown: &CancellationToken) -> Result<Option<String>, BoxError> {
        if let Some(url) = &self.config.gateway_url {
            return Ok(Some(url.clone()));
        }
        let mut backoff = Backoff::default();
        loop {
            let answer = tokio::select! {
                answer = self.api.gateway_url() => answer,
                () = shutdown.cancelled() => return Ok(None),
            };
            match answer {
                Ok(url) => return Ok(Some(url)),
                Err(error) if error.is_unauthorized() => {
                    return Err(format!("discord refused the bot token: {error}").into());
                }
                Err(error) => {
                    tracing::warn!(adapter = %self.id, %error, retry_in = ?backoff.peek(), "GET /gateway/bot failed; retrying");
                    if !backoff.wait(shutdown).await {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// The guild of channel `channel`, from the cache or the API.
    async fn guild_for(&self, channel: &str) -> Result<String, SendError> {
        if let Some(guild) = self.guilds().guild_of(channel) {
            return Ok(guild.to_owned());
        }
        let answer = self
            .api
            .call(&convert::get_channel(channel))
            .await
            .map_err(|e| e.send_error())?;
        let Some(guild) = answer["guild_id"].as_str() else {
            return Err(SendError::Permanent(format!(
                "channel {channel} is not in a guild; members can only be muted, kicked or banned in guild channels"
            )));
        };
        self.guilds().channel(channel, guild);
        Ok(guild.to_owned())
    }

    /// The DM channel with `user`, opened once.
    async fn dm_channel(&self, user: &str) -> Result<String, SendError> {
        let known = self
            .dm_channels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(user)
            .cloned();
        if let Some(channel) = known {
            return Ok(channel);
        }
        let answer = self
            .api
            .call(&convert::open_dm(user))
            .await
            .map_err(|e| e.send_error())?;
        let Some(channel) = answer["id"].as_str() else {
            return Err(SendError::Transient("opening a DM gave no channel id".into()));
        };
        self.dm_channels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(user.to_owned(), channel.to_owned());
        Ok(channel.to_owned())
    }

    /// Make every request in order; stop at the first failure.
    async fn call_all(&self, requests: Vec<Request>) -> Result<(), SendError> {
        for request in requests {
            self.api.call(&request).await.map_err(|e| e.send_error())?;
        }
        Ok(())
    }
}

#[async_trait]
impl Adapter for DiscordAdapter {
    fn id(&self) -> &AdapterId {
        &self.id
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    /// Discord's documented limits: 50 requests a second per bot, and
    /// about 5 messages per 5 seconds in a channel (the buckets' headers
    /// have the last word).
    fn limits(&self) -> RateLimits {
        RateLimits::none()
            .per_account(Rate::new(50, Duration::from_secs(1)))
            .per_group(Rate::new(5, Duration::from_secs(5)))
    }

    async fn run(&self, events: EventSink, shutdown: CancellationToken) -> Result<(), BoxError> {
        let Some(url) = self.gateway_url(&shutdown).await? else {
            return Ok(());
        };
        self.gateway(&url, events, shutdown).await
    }

    async fn execute(&self, action: &Action) -> Result<(), SendError> {
        let now = self.clock.now();
        match action {
            Action::Send {
                to: Target::Group(g),
                text,
            } => self.call_all(convert::send(g.as_str(), text, None)).await,
            Action::Send {
                to: Target::User(u),
                text,
            } => {
                let channel = self.dm_channel(u.as_str()).await?;
                self.call_all(convert::send(&channel, text, None)).await
            }
            Action::Reply {
                group,
                reply_to,
                text,
            } => {
                self.call_all(convert::send(group.as_str(), text, Some(reply_to.as_str())))
                    .await
            }
            Action::Delete { group, message } => {
                match self
                    .api
                    .call(&convert::delete(group.as_str(), message.as_str()))
                    .await
                {
                    Ok(_) => Ok(()),
                    // Already gone (deleted by someone else, or by a first
                    // attempt whose answer was lost).
                    Err(error) if error.code() == Some(UNKNOWN_MESSAGE) => Ok(()),
                    Err(error) => Err(error.send_error()),
                }
            }
            Action::Mute { group, user, seconds } => {
                let guild = self.guild_for(group.as_str()).await?;
                self.call_all(vec![convert::timeout(&guild, user.as_str(), Some(*seconds), now)])
                    .await
            }
            Action::Unmute { group, user } => {
                let guild = self.guild_for(group.as_str()).await?;
                self.call_all(vec![convert::timeout(&guild, user.as_str(), None, now)])
                    .await
            }
            Action::Kick { group, user } => {
                let guild = self.guild_for(group.as_str()).await?;
                self.call_all(vec![convert::kick(&guild, user.as_str())]).await
            }
            Action::Ban { group, user } => {
                let guild = self.guild_for(group.as_str()).await?;
                self.call_all(vec![convert::ban(&guild, user.as_str())]).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_shows_no_token() {
        let config: DiscordConfig =
            serde_json::from_value(serde_json::json!({"token": "TOPSECRET"})).unwrap();
        assert!(!format!("{config:?}").contains("TOPSECRET"));
        let adapter = DiscordAdapter::new("dc".into(), config).unwrap();
        assert!(!format!("{adapter:?}").contains("TOPSECRET"));
    }
}
