//! The console adapter: the terminal as a group chat. `qunbot chat` and a
//! token-less `qunbot run` use it; each line typed is a member's message,
//! each action is printed.
//!
//! Lines starting with one of the [`Control`] words steer the session
//! (who you are, which group, joining); every other line, bot commands such
//! as `/coupons` included, is a message to the bots.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

use super::{Adapter, AdapterConfig, AdapterCx, EventSink, SendError};
use crate::clock::{Clock, SystemClock};
use crate::config::ConfigError;
use crate::error::BoxError;
use crate::event::{
    Action, AdapterId, Chat, Event, EventKind, GroupId, Message, MessageId, Role, Sender, Target,
};

/// Options of `kind: console`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// The group you start in.
    #[serde(default = "default_group")]
    pub group: String,
    /// The user you start as.
    #[serde(default = "default_user")]
    pub user: String,
}

fn default_group() -> String {
    "console".into()
}

fn default_user() -> String {
    "me".into()
}

impl AdapterConfig for ConsoleConfig {
    const KIND: &'static str = "console";
    const ABOUT: &'static str = "the terminal: type as a group member, see what the bots do";

    fn build(self, cx: &AdapterCx<'_>) -> Result<Arc<dyn Adapter>, Vec<ConfigError>> {
        Ok(Arc::new(ConsoleAdapter::new(cx.id.clone(), self)))
    }
}

/// The terminal as a platform.
#[derive(Debug)]
pub struct ConsoleAdapter {
    /// Its id.
    id: AdapterId,
    /// Where the session starts.
    config: ConsoleConfig,
    /// Stamps typed messages.
    clock: Arc<dyn Clock>,
    /// Numbers typed messages (`c1`, `c2`, …) so they can be replied to.
    next_id: AtomicU64,
    /// Whether it reads the terminal; a printing-only console stands in for
    /// other adapters in `qunbot chat`.
    interactive: bool,
    /// Fired when the user ends the session (`/quit` or end of input), if
    /// the session should end the program (`qunbot chat`).
    quit: Option<CancellationToken>,
}

/// A line that steers the console session instead of being sent.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Control {
    /// `/as USER [NAME]`: write as another user.
    As(String, Option<String>),
    /// `/group G`: move to group G.
    Group(String),
    /// `/dm`: write to the bots directly.
    Direct,
    /// `/join`: join the current group (bots see a join).
    Join,
    /// `/leave`: leave the current group.
    Leave,
    /// `/admin`: become an admin of the group.
    Admin,
    /// `/member`: become an ordinary member.
    Member,
    /// `/reply ID TEXT`: answer message ID.
    Reply(String, String),
    /// `/help`.
    Help,
    /// `/quit`.
    Quit,
}

const HELP: &str = "\
console controls (anything else is a message to the bots):
  /as USER [NAME]   write as USER          /group G     move to group G
  /dm               write to the bots privately
  /join  /leave     join or leave the current group
  /admin /member    take the admin or the member role
  /reply ID TEXT    answer message ID (shown as #ID)
  /help  /quit";

impl Control {
    /// Parse a typed line; `None` if it is a message.
    fn parse(line: &str) -> Option<Control> {
        let mut words = line.trim().splitn(3, ' ');
        let head = words.next()?;
        let a = words.next().map(str::trim).filter(|s| !s.is_empty());
        let b = words.next().map(str::trim).filter(|s| !s.is_empty());
        Some(match (head, a, b) {
            ("/as", Some(user), name) => Control::As(user.to_owned(), name.map(str::to_owned)),
            ("/group", Some(g), None) => Control::Group(g.to_owned()),
            ("/dm", None, None) => Control::Direct,
            ("/join", None, None) => Control::Join,
            ("/leave", None, None) => Control::Leave,
            ("/admin", None, None) => Control::Admin,
            ("/member", None, None) => Control::Member,
            ("/reply", Some(id), Some(text)) => {
                Control::Reply(id.trim_start_matches('#').to_owned(), text.to_owned())
            }
            ("/help", None, None) => Control::Help,
            ("/quit" | "/exit", None, None) => Control::Quit,
            _ => return None,
        })
    }
}

/// Who is typing and where.
struct Session {
    user: Sender,
    group: Option<GroupId>,
}

impl ConsoleAdapter {
    /// A console adapter with id `id`.
    pub fn new(id: AdapterId, config: ConsoleConfig) -> Self {
        Self {
            id,
            config,
            clock: Arc::new(SystemClock),
            next_id: AtomicU64::new(1),
            interactive: true,
            quit: None,
        }
    }

    /// A console that only prints actions and reads nothing.
    pub fn printing_only(mut self) -> Self {
        self.interactive = false;
        self
    }

    /// End the program through `token` when the user quits or input ends.
    pub fn quit_with(mut self, token: CancellationToken) -> Self {
        self.quit = Some(token);
        self
    }

    fn event(&self, session: &Session, kind: impl FnOnce(Chat, Sender) -> EventKind) -> Event {
        let chat = Chat {
            adapter: self.id.clone(),
            group: session.group.clone(),
        };
        Event {
            at: self.clock.now(),
            kind: kind(chat, session.user.clone()),
        }
    }

    fn message(&self, session: &Session, text: String, reply_to: Option<MessageId>) -> Event {
        let id = MessageId(format!("c{}", self.next_id.fetch_add(1, Ordering::Relaxed)));
        if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            println!("  #{id}");
        }
        self.event(session, |chat, sender| EventKind::Message {
            chat,
            sender,
            message: Message { id, text, reply_to },
        })
    }

    /// Apply a control line; returns the event it causes, if any, and
    /// whether the session ends.
    fn control(&self, session: &mut Session, control: Control) -> (Option<Event>, bool) {
        match control {
            Control::As(user, name) => {
                session.user = Sender {
                    name: name.unwrap_or_else(|| user.clone()),
                    id: user.into(),
                    role: Role::Member,
                    is_bot: false,
                };
            }
            Control::Group(g) => session.group = Some(g.into()),
            Control::Direct => session.group = None,
            Control::Join | Control::Leave if session.group.is_none() => {
                println!("  (you are in a direct chat; /group G first)");
            }
            Control::Join => {
                return (
                    Some(self.event(session, |chat, member| EventKind::Join { chat, member })),
                    false,
                );
            }
            Control::Leave => {
                return (
                    Some(self.event(session, |chat, member| EventKind::Leave { chat, member })),
                    false,
                );
            }
            Control::Admin => session.user.role = Role::Admin,
            Control::Member => session.user.role = Role::Member,
            Control::Reply(id, text) => {
                return (Some(self.message(session, text, Some(MessageId(id)))), false);
            }
            Control::Help => println!("{HELP}"),
            Control::Quit => return (None, true),
        }
        (None, false)
    }

    fn prompt(session: &Session) -> String {
        let place = session
            .group
            .as_ref()
            .map_or_else(|| "dm".to_owned(), |g| g.to_string());
        let role = if session.user.role.is_admin() {
            " (admin)"
        } else {
            ""
        };
        format!("[{place}] {}{role}> ", session.user.name)
    }
}

#[async_trait]
impl Adapter for ConsoleAdapter {
    fn id(&self) -> &AdapterId {
        &self.id
    }

    async fn run(&self, events: EventSink, shutdown: CancellationToken) -> Result<(), BoxError> {
        if !self.interactive {
            shutdown.cancelled().await;
            return Ok(());
        }
        let mut session = Session {
            user: Sender::member(self.config.user.clone()),
            group: Some(self.config.group.clone().into()),
        };
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        let mut stdout = tokio::io::stdout();
        // Prompts and message ids help a person typing; piped input gets
        // only the bots' actions.
        let typing = std::io::IsTerminal::is_terminal(&std::io::stdin());
        loop {
            if typing {
                stdout.write_all(Self::prompt(&session).as_bytes()).await?;
                stdout.flush().await?;
            }
            let line = tokio::select! {
                () = shutdown.cancelled() => break,
                line = lines.next_line() => line?,
            };
            let Some(line) = line else {
                // End of input: in `chat` the session is over; in `run` the
                // daemon keeps serving its other adapters.
                if let Some(quit) = &self.quit {
                    quit.cancel();
                }
                shutdown.cancelled().await;
                break;
            };
            let line = line.trim_end().to_owned();
            if line.trim().is_empty() {
                continue;
            }
            let (event, quit) = match Control::parse(&line) {
                Some(control) => self.control(&mut session, control),
                None => (Some(self.message(&session, line, None)), false),
            };
            if let Some(event) = event {
                if events.send(event).await.is_err() {
                    break;
                }
            }
            if quit {
                if let Some(token) = &self.quit {
                    token.cancel();
                }
                break;
            }
        }
        Ok(())
    }

    async fn execute(&self, action: &Action) -> Result<(), SendError> {
        let line = match action {
            Action::Send {
                to: Target::Group(g),
                text,
            } => format!("[{g}] bot: {text}"),
            Action::Send {
                to: Target::User(u),
                text,
            } => format!("[dm → {u}] bot: {text}"),
            Action::Reply {
                group,
                reply_to,
                text,
            } => format!("[{group}] bot ↪ #{reply_to}: {text}"),
            Action::Delete { group, message } => format!("[{group}] (message #{message} deleted)"),
            Action::Mute { group, user, seconds } => format!("[{group}] ({user} muted for {seconds}s)"),
            Action::Unmute { group, user } => format!("[{group}] ({user} unmuted)"),
            Action::Kick { group, user } => format!("[{group}] ({user} removed)"),
            Action::Ban { group, user } => format!("[{group}] ({user} banned)"),
        };
        let mut stdout = tokio::io::stdout();
        let write = async {
            // On a terminal, overwrite the prompt the action interrupts.
            let lead = if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                "\r"
            } else {
                ""
            };
            stdout.write_all(format!("{lead}{line}\n").as_bytes()).await?;
            stdout.flush().await
        };
        write.await.map_err(|e| SendError::Transient(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_parse_and_messages_pass_through() {
        assert_eq!(
            Control::parse("/as bob Bob Li"),
            Some(Control::As("bob".into(), Some("Bob Li".into())))
        );
        assert_eq!(Control::parse("/group g2"), Some(Control::Group("g2".into())));
        assert_eq!(
            Control::parse("/reply #c3 thanks!"),
            Some(Control::Reply("c3".into(), "thanks!".into()))
        );
        assert_eq!(Control::parse("/join"), Some(Control::Join));
        // Bot commands and plain text are messages.
        assert_eq!(Control::parse("/coupons"), None);
        assert_eq!(Control::parse("/as"), None);
        assert_eq!(Control::parse("领券"), None);
    }
}
