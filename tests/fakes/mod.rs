//! Test doubles of platforms that cannot run here, speaking their wire formats.
//!
//! - `onebot`: a OneBot v11 or v12 implementation (WebSockets or HTTP, signatures, disconnects).
//! - `telegram`: the Telegram Bot API (long polling, errors, restarts).

pub mod onebot;
pub mod telegram;
