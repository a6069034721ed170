//! Test doubles of platforms that cannot run here, speaking their wire formats.
//!
//! - `dingtalk`: DingTalk's Open API and signed robot callbacks.
//! - `feishu`: the Feishu Open Platform (Open API, encrypted event callbacks).
//! - `onebot`: a OneBot v11 or v12 implementation (WebSockets or HTTP, signatures, disconnects).
//! - `robots`: the WeCom, Feishu and DingTalk group robots' webhooks.
//! - `telegram`: the Telegram Bot API (long polling, errors, restarts).

pub mod dingtalk;
pub mod feishu;
pub mod onebot;
pub mod robots;
pub mod telegram;
