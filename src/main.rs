//! `nestogy`: the one binary. `nestogy --help` lists the roles and every
//! setting with its environment variable and default.

mod config;
mod roles;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = config::Cli::parse();
    config::init_tracing(&cli.global);
    roles::run(cli).await
}
