use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() {
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
