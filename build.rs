//! Rebuilds the crate when a migration changes: `embed_migrations!` reads the SQL files at
//! compile time, which cargo does not track by itself.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
