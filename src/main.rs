use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
    // Everything Tandem creates (the database and its WAL, emails holding reset links, the
    // secret key) is for this user alone: files 0600, folders 0700.
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = tandem::cli::Cli::parse();
    if let Err(e) = tandem::cli::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
