//! The gateway: one connection at a time through the shared
//! [`ws::reconnect_loop_to`], each one Hello → Identify (or Resume) →
//! heartbeats and dispatches until it ends.
//!
//! - Heartbeats go every `heartbeat_interval` (the first after a random
//!   fraction of it); one without an ACK before the next is due means a
//!   dead connection: it is closed (resumably) and a new one resumes.
//! - After `READY` the session (id, `resume_gateway_url`, last sequence
//!   number) is kept; a later connection sends Resume and Discord replays
//!   what was missed, so a disconnect loses no event. The sequence number
//!   advances only once an event is handed to the daemon.
//! - op 7 Reconnect and op 9 Invalid Session (`true`) reconnect and resume;
//!   op 9 (`false`), close codes 4007 and 4009 start a new session.
//! - Close codes 4004 (authentication failed), 4010–4014 (shards, API
//!   version, intents) stop the adapter with an error saying what to fix.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::DiscordAdapter;
use super::convert;
use super::model::{self, Dispatch, Frame};
use crate::adapter::EventSink;
use crate::adapter::http::Backoff;
use crate::adapter::ws::{self, WsMessage, WsStream};
use crate::error::BoxError;

/// How long a new connection may take to say Hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// The close code qunbot sends when it drops a connection it wants to
/// resume (any code but 1000 and 1001 keeps the session).
const RESUMABLE_CLOSE: u16 = 4000;

/// What survives from one connection to the next.
#[derive(Debug, Default)]
pub(super) struct State {
    /// The session to resume, once `READY` named it.
    session: Option<Session>,
    /// The bot's own user id, so its messages are not events.
    pub(super) own_id: Option<String>,
}

/// A session Discord can resume.
#[derive(Debug, Clone)]
struct Session {
    /// `session_id`.
    id: String,
    /// `resume_gateway_url`.
    url: String,
    /// The last sequence number handed over.
    seq: Option<u64>,
}

/// How a connection ended, besides errors.
enum End {
    /// Stopping (shutdown or a fatal close code).
    Stop,
    /// Connect again (and resume if the session is kept).
    Again(String),
}

/// `url` with the query the gateway needs.
fn with_query(url: &str) -> String {
    let has_path = url.split_once("://").is_some_and(|(_, rest)| rest.contains('/'));
    if has_path {
        format!("{url}?v=10&encoding=json")
    } else {
        format!("{url}/?v=10&encoding=json")
    }
}

/// Close codes after which reconnecting cannot help, with what to fix.
fn fatal(code: u16) -> Option<&'static str> {
    Some(match code {
        4004 => {
            "Discord refused the bot token (close code 4004): reset it in the Developer Portal and set DISCORD_BOT_TOKEN"
        }
        4010 | 4011 => {
            "Discord asks for sharding (close code 4010/4011): qunbot runs one shard, for bots in fewer than 2500 servers"
        }
        4012 => "Discord refused the gateway version (close code 4012)",
        4013 => "Discord refused the intents (close code 4013)",
        4014 => {
            "Discord refused privileged intents (close code 4014): enable SERVER MEMBERS INTENT and MESSAGE CONTENT INTENT in the Developer Portal → the application → Bot → Privileged Gateway Intents"
        }
        _ => return None,
    })
}

impl DiscordAdapter {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.session.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keep a gateway connection until shutdown or a fatal close code.
    pub(super) async fn gateway(
        &self,
        url: &str,
        events: EventSink,
        shutdown: CancellationToken,
    ) -> Result<(), BoxError> {
        let stop = shutdown.child_token();
        let failure = std::sync::Mutex::new(None::<String>);
        let name = self.id.to_string();
        let connect_to = || {
            let resume = self.state().session.as_ref().map(|s| s.url.clone());
            with_query(resume.as_deref().unwrap_or(url))
        };
        ws::reconnect_loop_to(
            &name,
            connect_to,
            None,
            Backoff::default(),
            &stop,
            |stream| async {
                match self.connection(stream, &events, &stop).await {
                    Ok(End::Stop) => Ok(()),
                    Ok(End::Again(why)) => Err(why),
                    Err(Fatal(why)) => {
                        *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(why.clone());
                        stop.cancel();
                        Err(why)
                    }
                }
            },
        )
        .await;
        match failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(why) if !shutdown.is_cancelled() => Err(why.into()),
            _ => Ok(()),
        }
    }

    /// One connection; `Err` only for fatal close codes.
    async fn connection(
        &self,
        stream: WsStream,
        events: &EventSink,
        stop: &CancellationToken,
    ) -> Result<End, Fatal> {
        let (mut sink, mut source) = stream.split();
        let hello = tokio::time::timeout(HELLO_TIMEOUT, async {
            loop {
                match source.next().await {
                    Some(Ok(WsMessage::Text(text))) => {
                        if let Ok(Frame::Hello(ms)) = model::frame(text.as_str()) {
                            return Ok(ms);
                        }
                    }
                    Some(Ok(WsMessage::Close(close))) => {
                        return Err(close.map(|c| (u16::from(c.code), c.reason.to_string())));
                    }
                    Some(Ok(_)) => {}
                    _ => return Err(None),
                }
            }
        });
        let interval = tokio::select! {
            hello = hello => match hello {
                Ok(Ok(ms)) => Duration::from_millis(ms.max(1)),
                Ok(Err(close)) => return self.closed(close),
                Err(_) => return Ok(End::Again("no Hello from the gateway".into())),
            },
            () = stop.cancelled() => return Ok(End::Stop),
        };
        let token = &self.config.token;
        let session = self.state().session.clone();
        let opening = match &session {
            Some(s) => model::resume(token, &s.id, s.seq),
            None => model::identify(token),
        };
        if let Err(error) = sink.send(WsMessage::text(opening.to_string())).await {
            return Ok(End::Again(ws::describe(&error)));
        }
        if let Some(s) = &session {
            tracing::info!(adapter = %self.id, seq = ?s.seq, "resuming the gateway session");
        }
        let mut next_beat = Instant::now() + interval.mul_f64(rand::random::<f64>());
        let mut acked = true;
        loop {
            let send = tokio::select! {
                frame = source.next() => {
                    let text = match frame {
                        Some(Ok(WsMessage::Text(text))) => text,
                        Some(Ok(WsMessage::Close(close))) => {
                            return self.closed(close.map(|c| (u16::from(c.code), c.reason.to_string())));
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(error)) => return Ok(End::Again(ws::describe(&error))),
                        None => return Ok(End::Again("the gateway connection ended".into())),
                    };
                    let frame = match model::frame(text.as_str()) {
                        Ok(frame) => frame,
                        Err(error) => {
                            tracing::warn!(adapter = %self.id, %error, "a gateway frame that is not JSON; skipped");
                            continue;
                        }
                    };
                    match frame {
                        Frame::Dispatch { seq, event } => {
                            if !self.dispatch(*event, events).await {
                                return Ok(End::Stop);
                            }
                            if let (Some(seq), Some(s)) = (seq, self.state().session.as_mut()) {
                                s.seq = Some(seq);
                            }
                            None
                        }
                        Frame::Heartbeat => Some(model::heartbeat(self.seq())),
                        Frame::HeartbeatAck => {
                            acked = true;
                            None
                        }
                        Frame::Reconnect => {
                            let _ = sink.send(resumable_close()).await;
                            return Ok(End::Again("the gateway asked to reconnect (op 7)".into()));
                        }
                        Frame::InvalidSession(resumable) => {
                            if !resumable {
                                self.state().session = None;
                            }
                            // Discord asks for a wait of 1 to 5 seconds.
                            let wait = Duration::from_millis(1000 + rand::random_range(0..4000));
                            tokio::select! {
                                () = tokio::time::sleep(wait) => {}
                                () = stop.cancelled() => return Ok(End::Stop),
                            }
                            let _ = sink.send(resumable_close()).await;
                            return Ok(End::Again(format!("the gateway invalidated the session (op 9, resumable: {resumable})")));
                        }
                        Frame::Hello(_) => None,
                        Frame::Other(op) => {
                            tracing::debug!(adapter = %self.id, op, "a gateway opcode qunbot does not use");
                            None
                        }
                    }
                }
                () = tokio::time::sleep_until(next_beat) => {
                    if !acked {
                        let _ = sink.send(resumable_close()).await;
                        return Ok(End::Again("no heartbeat ACK; the connection is taken as dead".into()));
                    }
                    acked = false;
                    next_beat = Instant::now() + interval;
                    Some(model::heartbeat(self.seq()))
                }
                () = stop.cancelled() => {
                    let _ = sink.send(WsMessage::Close(None)).await;
                    return Ok(End::Stop);
                }
            };
            if let Some(payload) = send {
                if let Err(error) = sink.send(WsMessage::text(payload.to_string())).await {
                    return Ok(End::Again(ws::describe(&error)));
                }
            }
        }
    }

    /// The last sequence number handed over.
    fn seq(&self) -> Option<u64> {
        self.state().session.as_ref().and_then(|s| s.seq)
    }

    /// The gateway closed with `close` (code and reason).
    fn closed(&self, close: Option<(u16, String)>) -> Result<End, Fatal> {
        let Some((code, reason)) = close else {
            return Ok(End::Again("the gateway closed the connection".into()));
        };
        if let Some(why) = fatal(code) {
            return Err(Fatal(why.to_owned()));
        }
        if matches!(code, 4007 | 4009) {
            // Invalid sequence, session timed out: identify anew.
            self.state().session = None;
        }
        Ok(End::Again(format!("the gateway closed with {code}: {reason}")))
    }

    /// Act on one dispatch; `false` once nobody receives events.
    async fn dispatch(&self, event: Dispatch, events: &EventSink) -> bool {
        let now = self.clock.now();
        let out = match event {
            Dispatch::Ready(ready) => {
                tracing::info!(adapter = %self.id, user = %ready.user.username, "gateway session ready");
                let mut state = self.state();
                state.own_id = Some(ready.user.id.clone());
                state.session = Some(Session {
                    id: ready.session_id,
                    url: ready.resume_gateway_url,
                    seq: None,
                });
                None
            }
            Dispatch::Resumed => {
                tracing::info!(adapter = %self.id, "gateway session resumed");
                None
            }
            Dispatch::Guild(guild) => {
                self.guilds().guild(&guild);
                None
            }
            Dispatch::Role(role) => {
                self.guilds().role(&role);
                None
            }
            Dispatch::RoleDelete(role) => {
                self.guilds().role_delete(&role);
                None
            }
            Dispatch::Channel(channel) => {
                if let Some(guild) = &channel.guild_id {
                    self.guilds().channel(&channel.id, guild);
                }
                None
            }
            Dispatch::Message(m) => {
                let role = match &m.guild_id {
                    Some(guild) => {
                        let mut guilds = self.guilds();
                        guilds.channel(&m.channel_id, guild);
                        let roles = m
                            .member
                            .as_ref()
                            .map(|mb| mb.roles.as_slice())
                            .unwrap_or_default();
                        guilds.role_of(guild, &m.author.id, roles)
                    }
                    None => crate::event::Role::Member,
                };
                let own = self.state().own_id.clone();
                convert::message_event(&self.id, &m, own.as_deref(), role, now)
            }
            Dispatch::MemberAdd(e) => self.member_event(&e, true, now),
            Dispatch::MemberRemove(e) => self.member_event(&e, false, now),
            Dispatch::Other(name) => {
                tracing::trace!(adapter = %self.id, event = %name, "a dispatch qunbot does not use");
                None
            }
        };
        match out {
            Some(event) => events.send(event).await.is_ok(),
            None => true,
        }
    }

    /// A join or leave, reported in the guild's system channel.
    fn member_event(
        &self,
        e: &model::MemberEvent,
        joined: bool,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<crate::event::Event> {
        let guilds = self.guilds();
        let Some(channel) = guilds.system_channel(&e.guild_id) else {
            tracing::debug!(adapter = %self.id, guild = %e.guild_id, "a join or leave in a guild without a system channel; no event");
            return None;
        };
        let role = guilds.role_of(&e.guild_id, &e.user.id, &e.roles);
        Some(convert::member_event(&self.id, e, joined, channel, role, now))
    }
}

/// A fatal close: what to fix.
struct Fatal(String);

/// A close frame that keeps the session resumable.
fn resumable_close() -> WsMessage {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    WsMessage::Close(Some(CloseFrame {
        code: RESUMABLE_CLOSE.into(),
        reason: "reconnecting".into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_goes_after_the_host_or_the_path() {
        assert_eq!(
            with_query("wss://gateway.discord.gg"),
            "wss://gateway.discord.gg/?v=10&encoding=json"
        );
        assert_eq!(
            with_query("ws://127.0.0.1:9/gateway"),
            "ws://127.0.0.1:9/gateway?v=10&encoding=json"
        );
        assert!(fatal(4014).is_some_and(|w| w.contains("MESSAGE CONTENT INTENT")));
        assert!(fatal(4000).is_none() && fatal(4009).is_none());
    }
}
