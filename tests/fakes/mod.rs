//! Test doubles of platforms that cannot run here, speaking their wire formats.
//!
//! - `feishu`: the Feishu Open Platform (Open API, encrypted event callbacks).
//! - `onebot`: a OneBot v11 implementation (forward WebSocket, disconnects).
//! - `robots`: the WeCom, Feishu and DingTalk group robots' webhooks.
//! - `slack`: Slack's Web API, Socket Mode and Events API delivery (signed).
//! - `telegram`: the Telegram Bot API (long polling, errors, restarts).

pub mod feishu;
pub mod onebot;
pub mod robots;
pub mod slack;
pub mod telegram;
