//! `nestogy`: the one binary. `nestogy --help` lists the subcommands (the
//! processes it runs: api, worker, scheduler or all; and migrate, seed)
//! and every setting with its environment variable and default.

mod commands;
mod config;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = config::Cli::parse();
    config::init_tracing(&cli.global);
    commands::run(cli).await
}
