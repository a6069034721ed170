//! The crate's error types, chosen by audience (STYLE P11).
//!
//! Callers that only report an error get a [`BoxError`]; callers that branch
//! on the cause get a typed enum from the module that raises it
//! ([`crate::adapter::SendError`], [`crate::storage::StoreError`],
//! [`crate::config::ConfigError`]).

/// A boxed error for callers that only report (plugins, adapters' event loops).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A result whose error is only reported.
pub type Result<T, E = BoxError> = std::result::Result<T, E>;
