//! Actions → client-server API calls: messages and redactions with
//! transaction ids, kicks and bans, and mutes by power level (noted in the
//! store so that they are lifted when due).

use reqwest::Method;
use serde_json::{Value, json};

use super::client::Request;
use super::convert::{self, PowerLevels};
use super::mutes::Muted;
use super::{MUTED_UNTIL, MatrixAdapter};
use crate::adapter::SendError;
use crate::event::{Action, Target};

impl MatrixAdapter {
    /// The room's current power levels (an absent event reads as the defaults).
    async fn power_levels(&self, room: &str) -> Result<PowerLevels, SendError> {
        let request = Request::new(
            "state",
            Method::GET,
            vec!["rooms", room, "state", "m.room.power_levels", ""],
        );
        match self.client.call::<Value>(request).await {
            Ok(content) => Ok(PowerLevels { content }),
            Err(error) if error.errcode() == Some("M_NOT_FOUND") => Ok(PowerLevels::default()),
            Err(error) => Err(error.send_error()),
        }
    }

    async fn put_power_levels(&self, room: &str, content: Value) -> Result<(), SendError> {
        let path = vec!["rooms", room, "state", "m.room.power_levels", ""];
        self.call(Request::new("state", Method::PUT, path).body(content))
            .await
    }

    /// Mute: note the end in the store first (so a crash after the change
    /// still lifts it), then lower the member below the level to post.
    async fn mute(&self, room: &str, user: &str, seconds: u64) -> Result<(), SendError> {
        let attached = self.attached().map_err(|e| SendError::Permanent(e.to_string()))?;
        let levels = self.power_levels(room).await?;
        let until = attached.clock.now()
            + chrono::Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX / 1000));
        let muted_level = levels.user(user).min(levels.to_post() - 1);
        attached
            .mutes
            .add(Muted {
                room: room.to_owned(),
                user: user.to_owned(),
                until,
                restore: levels.listed(user).filter(|l| *l >= levels.to_post()),
            })
            .await
            .map_err(|e| SendError::Transient(e.to_string()))?;
        self.mute_added.notify_one();
        let mut content = levels.with_user(user, Some(muted_level));
        let note = &mut content[MUTED_UNTIL];
        if !note.is_object() {
            *note = json!({});
        }
        note[user] = json!(until.timestamp_millis());
        self.put_power_levels(room, content).await
    }

    /// Give a muted member back the level they had (if they are still
    /// muted: someone may have changed it since).
    pub(super) async fn lift(&self, room: &str, user: &str, restore: Option<i64>) -> Result<(), SendError> {
        let levels = self.power_levels(room).await?;
        let noted = levels
            .content
            .get(MUTED_UNTIL)
            .and_then(|n| n.get(user))
            .is_some();
        if levels.user(user) >= levels.to_post() && !noted {
            return Ok(());
        }
        let restore = restore.filter(|l| *l >= levels.to_post());
        let mut content = if levels.user(user) < levels.to_post() {
            levels.with_user(user, restore)
        } else {
            levels.content.clone()
        };
        if let Some(note) = content.get_mut(MUTED_UNTIL).and_then(Value::as_object_mut) {
            note.remove(user);
        }
        self.put_power_levels(room, content).await
    }

    /// Make one call whose answer is not needed.
    async fn call(&self, request: Request<'_>) -> Result<(), SendError> {
        self.client
            .call::<Value>(request)
            .await
            .map(|_| ())
            .map_err(|e| e.send_error())
    }

    /// Carry out `action` with transaction id `txn` for sends and redactions.
    pub(super) async fn act(&self, action: &Action, txn: &str) -> Result<(), SendError> {
        match action {
            Action::Send {
                to: Target::Group(group),
                text,
            } => {
                let path = vec!["rooms", group.as_str(), "send", "m.room.message", txn];
                self.call(Request::new("send", Method::PUT, path).body(convert::message_content(text, None)))
                    .await
            }
            Action::Send {
                to: Target::User(_), ..
            } => Err(SendError::Permanent(
                "direct messages are not supported by the matrix adapter".into(),
            )),
            Action::Reply {
                group,
                reply_to,
                text,
            } => {
                let path = vec!["rooms", group.as_str(), "send", "m.room.message", txn];
                let content = convert::message_content(text, Some(reply_to.as_str()));
                self.call(Request::new("send", Method::PUT, path).body(content))
                    .await
            }
            Action::Delete { group, message } => {
                let path = vec!["rooms", group.as_str(), "redact", message.as_str(), txn];
                self.call(Request::new("redact", Method::PUT, path).body(json!({})))
                    .await
            }
            Action::Mute { group, user, seconds } => self.mute(group.as_str(), user.as_str(), *seconds).await,
            Action::Unmute { group, user } => {
                let attached = self.attached().map_err(|e| SendError::Permanent(e.to_string()))?;
                let pending = attached
                    .mutes
                    .take(group.as_str(), user.as_str())
                    .await
                    .map_err(|e| SendError::Transient(e.to_string()))?;
                let result = self
                    .lift(
                        group.as_str(),
                        user.as_str(),
                        pending.as_ref().and_then(|m| m.restore),
                    )
                    .await;
                if result.is_err() {
                    if let Some(muted) = pending {
                        // Keep it, so the timer lifts it if the retries fail.
                        let _ = attached.mutes.add(muted).await;
                    }
                }
                result
            }
            Action::Kick { group, user } => {
                let path = vec!["rooms", group.as_str(), "kick"];
                self.call(Request::new("kick", Method::POST, path).body(json!({"user_id": user.as_str()})))
                    .await
            }
            Action::Ban { group, user } => {
                let path = vec!["rooms", group.as_str(), "ban"];
                self.call(Request::new("ban", Method::POST, path).body(json!({"user_id": user.as_str()})))
                    .await
            }
        }
    }
}
