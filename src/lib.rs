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
