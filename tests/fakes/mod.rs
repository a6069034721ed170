//! Test doubles of platforms that cannot run here, speaking their wire formats.
//!
//! - `discord`: Discord's REST API and gateway (resume, rate limits, close codes).
//! - `onebot`: a OneBot v11 implementation (forward WebSocket, disconnects).
//! - `telegram`: the Telegram Bot API (long polling, errors, restarts).

pub mod discord;
pub mod onebot;
pub mod telegram;
