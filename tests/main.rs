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
//! - `behaviour`: one behaviour suite every adapter's peer runs (answer, claim, spam, outage).
//! - `fakes`: in-repo fakes of platform APIs (see tests/fakes/mod.rs).
//! - `telegram`: the Telegram adapter in the real daemon against the fake: polling, webhook,
//!   429, 5xx and restarts.
//! - `webhook`: the generic webhook adapter: signed events in, signed actions out.
//! - `onebot`: the OneBot v11 adapter in the real daemon against the fake: replies, private
//!   codes, welcomes, spam deleted and muted, disconnects and restarts, tokens, reverse mode;
//!   the behaviour suite over v11 and v12, WebSocket and HTTP.
//! - `onebot_http`: the OneBot HTTP transport: signed (v11) and token-checked (v12) events,
//!   actions' refusals, retcodes and outages.
//! - `onebot_v12`: OneBot v12 over WebSockets: its shapes end to end, the reverse subprotocol.
//! - `robots`: WeCom, Feishu and DingTalk group robots: signed, paced promotions.
//! - `feishu`, `dingtalk`: the app bots: signed callbacks in, Open API out.
//! - `discord`: the Discord adapter in the real daemon against the fake: the behaviour suite,
//!   gateway resumes, invalid sessions, heartbeat ACKs, rate limits, refused tokens, roles.
//! - `slack`: the Slack adapter against the fake: the behaviour suite over Socket Mode and the
//!   Events API, lost acks, disconnect messages, signatures, rate limits, threads, error codes.
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
mod dingtalk;
mod discord;
mod fakes;
mod faq;
mod faq_embed;
mod feishu;
mod matrix;
mod moderation;
mod onebot;
mod onebot_http;
mod onebot_v12;
mod outbox;
mod robots;
mod simulate;
mod slack;
mod storage;
mod synapse;
mod telegram;
mod util;
mod webhook;
