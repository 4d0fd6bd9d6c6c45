//! Pure rules, no I/O: money, rates, identities, the marketplace's vocabularies and state
//! machines, matching, and validation of what users type.

pub mod account;
pub mod bank_statement;
pub mod billing;
pub mod campaign;
pub mod catalog;
pub mod clock;
pub mod collaboration;
pub mod commission;
pub mod email_address;
pub mod ledger;
pub mod links;
pub mod live;
pub mod matching;
pub mod money;
pub mod net;
pub mod order;
pub mod order_csv;
pub mod password;
pub mod payout;
pub mod product_csv;
pub mod qr;
pub mod rate;
pub mod sealed;
pub mod shop_domain;
pub mod shopify;
pub mod shopify_csv;
pub mod signature;
pub mod validate;
pub mod words;
pub mod zones;
