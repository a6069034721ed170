//! Test doubles of platforms that cannot run here, speaking their wire formats.
//!
//! - `dingtalk`: DingTalk's Open API and signed robot callbacks.
//! - `discord`: Discord's REST API and gateway (resume, rate limits, close codes).
//! - `feishu`: the Feishu Open Platform (Open API, encrypted event callbacks).
//! - `onebot`: a OneBot v11 or v12 implementation (WebSockets or HTTP, signatures, disconnects).
//! - `robots`: the WeCom, Feishu and DingTalk group robots' webhooks.
//! - `slack`: Slack's Web API, Socket Mode and Events API delivery (signed).
//! - `telegram`: the Telegram Bot API (long polling, errors, restarts).
//! - `proxy`: a cuttable loopback TCP proxy, to take a real server away
//!   from the daemon only (the Matrix tests put it before Synapse).

pub mod dingtalk;
pub mod discord;
pub mod feishu;
pub mod onebot;
pub mod proxy;
pub mod robots;
pub mod slack;
pub mod telegram;
