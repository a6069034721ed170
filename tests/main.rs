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
//! - `storage`: one suite for every `Store` backend.
//! - `outbox`: delivery order, pacing, retries, dead letters, restarts.
//! - `fakes`: in-repo fakes of platform APIs (Telegram Bot API, OneBot v11).
//! - `telegram`: the Telegram adapter in the real daemon against the fake: polling, webhook,
//!   429, 5xx and restarts.
//! - `webhook`: the generic webhook adapter: signed events in, signed actions out.
//! - `onebot`: the OneBot v11 adapter in the real daemon against the fake: replies, private
//!   codes, welcomes, spam deleted and muted, disconnects and restarts, tokens, reverse mode.
//! - `synapse`: a real Synapse homeserver for the Matrix tests (from `scripts/synapse.sh`'s
//!   virtualenv), started once per run; users registered through the admin API.
//! - `matrix`: the Matrix adapter in the real daemon against Synapse: the behaviour suite with
//!   an outage, the sync token across restarts, invites, power levels, mutes, kick/ban, 401.
//! - `moderation`: spam figures on the shared dev data, the audit log.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

mod behaviour;
mod cli;
mod config;
mod crash;
mod daemon;
mod fakes;
mod faq;
mod matrix;
mod moderation;
mod onebot;
mod outbox;
mod simulate;
mod storage;
mod synapse;
mod telegram;
mod util;
mod webhook;
