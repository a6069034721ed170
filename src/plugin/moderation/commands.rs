//! Admin commands in a group: `/spam` and `/ham` (as a reply: learn, and for
//! spam delete and punish), `/unmute`, `/unban`, `/warns` (as a reply or
//! naming the member: `/warns alice`).

use super::{Moderation, Rule};
use crate::error::BoxError;
use crate::event::{Action, Chat, Event, GroupId, Message, Sender, UserId};
use crate::runtime::Ctx;
use crate::storage::AuditEntry;

/// A parsed admin command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Command {
    /// Delete, punish and learn the replied message as spam.
    Spam,
    /// Learn the replied message as not spam.
    Ham,
    /// Lift a mute (and reset the member's count).
    Unmute(Option<String>),
    /// Reset a member's count and lift what the platform can lift.
    Unban(Option<String>),
    /// Show a member's count.
    Warns(Option<String>),
}

impl Command {
    /// The command of a message, if it is one (`/spam`, `/spam@bot`, …).
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split_whitespace();
        let head = parts.next()?.strip_prefix('/')?;
        let name = head.split('@').next().unwrap_or(head).to_ascii_lowercase();
        let arg = parts
            .next()
            .map(|a| a.trim_start_matches('@').to_owned())
            .filter(|a| !a.is_empty());
        Some(match name.as_str() {
            "spam" => Command::Spam,
            "ham" => Command::Ham,
            "unmute" => Command::Unmute(arg),
            "unban" => Command::Unban(arg),
            "warns" => Command::Warns(arg),
            _ => return None,
        })
    }
}

/// Run an admin's command.
pub(super) async fn run(
    m: &Moderation,
    ctx: &Ctx<'_>,
    event: &Event,
    chat: &Chat,
    group: &GroupId,
    message: &Message,
    command: Command,
) -> Result<(), BoxError> {
    let replied = message.reply_to.as_ref().and_then(|id| m.recent(chat, group, id));
    let zh = matches!(ctx.bot().locale, crate::bot::Locale::Zh);
    let target = |arg: &Option<String>| -> Option<(UserId, String)> {
        match arg {
            Some(a) => Some((UserId(a.clone()), a.clone())),
            None => replied
                .as_ref()
                .map(|r| (r.sender.id.clone(), r.sender.name.clone())),
        }
    };
    match command {
        Command::Spam => {
            if let Some(r) = &replied {
                m.learn(ctx, &r.text, true).await?;
                m.punish(
                    ctx,
                    chat,
                    group,
                    &r.sender,
                    Some((&r.id, &r.text)),
                    Rule::Reported,
                )
                .await?;
            } else if let Some(id) = &message.reply_to {
                // Too old to know its text: delete it all the same.
                ctx.act(
                    &chat.adapter,
                    Action::Delete {
                        group: group.clone(),
                        message: id.clone(),
                    },
                    Some(Rule::Reported.reason().to_owned()),
                );
            } else {
                ctx.reply(
                    event,
                    if zh {
                        "请回复要举报的消息"
                    } else {
                        "reply to the message to report"
                    },
                );
            }
        }
        Command::Ham => match &replied {
            Some(r) => {
                m.learn(ctx, &r.text, false).await?;
                ctx.reply(
                    event,
                    if zh {
                        "已记住：这不是广告"
                    } else {
                        "noted: not spam"
                    },
                );
            }
            None => ctx.reply(
                event,
                if zh {
                    "请回复那条消息"
                } else {
                    "reply to the message"
                },
            ),
        },
        Command::Unmute(ref arg) | Command::Unban(ref arg) => {
            let unban = matches!(command, Command::Unban(_));
            let Some((user, name)) = target(arg) else {
                ask_for_member(ctx, event, zh);
                return Ok(());
            };
            m.ladder.clear(ctx, &chat.adapter, group, &user).await?;
            // TODO(unban): the Action set has no `unban` (spec/simulate.md);
            // lifting the mute is what every platform can do.
            ctx.act(
                &chat.adapter,
                Action::Unmute {
                    group: group.clone(),
                    user: user.clone(),
                },
                Some(format!(
                    "/{} by {}",
                    if unban { "unban" } else { "unmute" },
                    message_author(event)
                )),
            );
            ctx.store()
                .audit_append(AuditEntry {
                    bot: ctx.bot().name.clone(),
                    adapter: chat.adapter.clone(),
                    group: group.clone(),
                    user: user.clone(),
                    user_name: name.clone(),
                    message: None,
                    text: String::new(),
                    rule: if unban { "/unban".into() } else { "/unmute".into() },
                    action: "unmute".into(),
                    dry_run: false,
                    at: ctx.now(),
                })
                .await?;
            ctx.reply(
                event,
                if zh {
                    format!("已解除 {name} 的限制")
                } else {
                    format!("{name} is free again")
                },
            );
        }
        Command::Warns(ref arg) => {
            let Some((user, name)) = target(arg) else {
                ask_for_member(ctx, event, zh);
                return Ok(());
            };
            let count = m.ladder.count(ctx, &chat.adapter, group, &user).await?;
            ctx.reply(
                event,
                if zh {
                    format!("{name}：{count} 次违规")
                } else {
                    format!("{name}: {count} violation(s)")
                },
            );
        }
    }
    Ok(())
}

fn message_author(event: &Event) -> String {
    event
        .sender()
        .map(|s: &Sender| s.id.to_string())
        .unwrap_or_default()
}

/// Ask an admin whose command names no member to name one.
fn ask_for_member(ctx: &Ctx<'_>, event: &Event, zh: bool) {
    let text = if zh {
        "请回复或写出成员 id"
    } else {
        "reply to a member's message or name their id"
    };
    ctx.reply(event, text);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_with_bot_suffix_and_arguments() {
        assert_eq!(Command::parse("/spam"), Some(Command::Spam));
        assert_eq!(Command::parse(" /SPAM@qunbot "), Some(Command::Spam));
        assert_eq!(
            Command::parse("/warns @alice"),
            Some(Command::Warns(Some("alice".into())))
        );
        assert_eq!(Command::parse("/unmute"), Some(Command::Unmute(None)));
        assert_eq!(Command::parse("/coupons"), None);
        assert_eq!(Command::parse("spam"), None);
    }
}
