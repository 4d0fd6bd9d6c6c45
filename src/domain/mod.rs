//! Pure rules, no I/O: money, identities, validation of what users type.

pub mod account;
pub mod clock;
pub mod email_address;
pub mod money;
pub mod password;
pub mod validate;
