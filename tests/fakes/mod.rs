//! Test doubles of platforms that cannot run here, speaking their wire formats.
//!
//! - `onebot`: a OneBot v11 implementation (forward WebSocket, disconnects).
//! - `telegram`: the Telegram Bot API (long polling, errors, restarts).
//! - `proxy`: a cuttable loopback TCP proxy, to take a real server away
//!   from the daemon only (the Matrix tests put it before Synapse).

pub mod onebot;
pub mod proxy;
pub mod telegram;
