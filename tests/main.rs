//! qunbot's integration tests, in one binary (one link, shared helpers).
//!
//! - `util`: shared helpers: config folders, simulation, the daemon on a virtual clock.
//! - `simulate`: transcript → expected actions, for every case in tests/transcripts/.
//! - `daemon`: the real daemon on a virtual clock: slots once across restarts and replicas,
//!   delivery through failing adapters.
//! - `crash`: `kill -9` of the real daemon mid coupon drop, then a restart on the same file.
//! - `cli`: the `qunbot` binary: check, simulate, schema, list, help.
//! - `config`: config.yaml and bot files: locations, `${VAR}`, every error at once.
//! - `faq`: the faq plugin's `llm` path against a local chat-completions server.
//! - `faq_embed`: the faq plugin's `embedding`: a local embeddings server, and the real MiniLM
//!   model (feature `embedding`, folder from `QUNBOT_TEST_MINILM`).
//! - `storage`: one suite for every `Store` backend.
//! - `outbox`: delivery order, pacing, retries, dead letters, restarts.
//! - `fakes`: in-repo fakes of platform APIs (Telegram Bot API, OneBot v11).
//! - `telegram`: the Telegram adapter in the real daemon against the fake: polling, webhook,
//!   429, 5xx and restarts.
//! - `webhook`: the generic webhook adapter: signed events in, signed actions out.
//! - `onebot`: the OneBot v11 adapter in the real daemon against the fake: replies, private
//!   codes, welcomes, spam deleted and muted, disconnects and restarts, tokens, reverse mode.
//! - `moderation`: spam figures on the shared dev data, the audit log.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

mod cli;
mod config;
mod crash;
mod daemon;
mod fakes;
mod faq;
mod faq_embed;
mod moderation;
mod onebot;
mod outbox;
mod simulate;
mod storage;
mod telegram;
mod util;
mod webhook;
