//! Unit tests of the moderation plugin through the plugin harness.
