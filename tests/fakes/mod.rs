//! Test doubles of platforms that cannot run here, speaking their wire formats.
//!
//! - `telegram`: the Telegram Bot API (long polling, errors, restarts).

pub mod telegram;
