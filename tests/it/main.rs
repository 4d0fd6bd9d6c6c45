//! Integration tests: one binary, each test with its own database and server.

mod helpers;

mod access;
mod auth;
mod billing;
mod billing_pages;
mod browser;
mod campaign_limits;
mod cli;
mod crash;
mod dashboard;
mod data_at_rest;
mod email;
mod ledger_props;
mod ledger_tamper;
mod links;
mod live;
mod marketplace;
mod money_defects;
mod money_pages;
mod order_identity;
mod order_import;
mod order_lists;
mod pages;
mod password_reset;
mod payout_controls;
mod payout_props;
mod payout_returns;
mod payouts;
mod postbacks;
mod reports;
mod settings;
mod sign_in;
mod statements;
mod team;
mod what_people_see;
