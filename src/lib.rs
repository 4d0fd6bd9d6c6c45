//! Tandem: a self-hosted affiliate and payout system for creator commerce.
//!
//! Layers, each calling only the one below: `web` (HTTP) -> `service` (use-cases, one
//! transaction each) -> `domain` (pure rules) + `db` (diesel). `jobs` call services too.

pub mod api;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod email;
pub mod error;
pub mod jobs;
pub mod service;
pub mod startup;
pub mod web;

/// Crash injection for tests: `TANDEM_FAILPOINT=<name>` makes the process abort (as a
/// `kill -9` would stop it) when it reaches the point of that name. Unset, it costs one
/// environment lookup per process.
pub fn failpoint(name: &str) {
    static ARMED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var("TANDEM_FAILPOINT").ok());
    if armed.as_deref() == Some(name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}
