//! qunbot's integration tests, in one binary (one link, shared helpers).
//!
//! - `util`: shared helpers: config folders, simulation, the daemon on a virtual clock.
//! - `simulate`: transcript → expected actions, for every case in tests/transcripts/.
//! - `daemon`: the real daemon on a virtual clock: slots once across restarts and replicas,
//!   delivery through failing adapters.
//! - `cli`: the `qunbot` binary: check, simulate, schema, list, help.
//! - `config`: config.yaml and bot files: locations, `${VAR}`, every error at once.
//! - `storage`: one suite for every `Store` backend.
//! - `outbox`: delivery order, pacing, retries, dead letters, restarts.
//! - `moderation`: spam figures on the shared dev data, the audit log.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

mod cli;
mod config;
mod daemon;
mod moderation;
mod outbox;
mod simulate;
mod storage;
mod util;
