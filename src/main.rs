//! `kbstack`: a self-hostable, wire-compatible Keboola Connection stack in one binary.
use clap::{Parser, Subcommand};

use kbstack::config::{Config, ServeArgs};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "kbstack", version, about = "Self-hosted, wire-compatible Keboola Connection")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the stack (Storage API, blob endpoint, ...) on the embedded default backends.
    Serve(ServeArgs),
    /// Manage the components the Queue runs.
    #[command(subcommand)]
    Component(ComponentCommand),
    /// Create the local CA and the certificate for `*.<stack suffix>` in <data-dir>/tls (once;
    /// `serve` does it too), and print how clients trust it.
    Cert(ServeArgs),
    /// Print the /etc/hosts lines for the stack suffix's host names.
    Hosts(ServeArgs),
    /// Print every route of every service, one `METHOD /path` a line (what is served).
    Routes,
    /// Write the stack in --data-dir to a new directory (metadata as JSON lines, tables as
    /// Parquet, files; keys only when asked), with the server stopped. See `kbstack import`.
    Export {
        /// The directory to create.
        #[arg(long)]
        to: std::path::PathBuf,
        /// Also carry the encryption/SAS keys and the master and manage tokens (without them,
        /// values the stack encrypted cannot be read after import).
        #[arg(long)]
        include_keys: bool,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Read an export into a new --data-dir (any build that knows the export's schema version;
    /// older metadata is migrated as its data dir would be).
    Import {
        /// The directory `kbstack export` wrote.
        from: std::path::PathBuf,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

#[derive(Subcommand)]
enum ComponentCommand {
    /// Register a process component from its JSON definition (copied into <data-dir>/components).
    Register {
        /// The definition file (id, type, name, command, ...).
        file: std::path::PathBuf,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Import Keboola's component catalog from a saved file: the Developer Portal's app list
    /// (`https://apps-api.keboola.com/apps?limit=...`) or a Storage index (`GET /v2/storage`).
    /// Kept in <data-dir>/component-catalog.json and listed (over the built-in catalog) from the
    /// next start; configurations of every listed component can be stored.
    ImportCatalog {
        /// The saved JSON file.
        file: std::path::PathBuf,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// List the registered process components.
    List {
        #[command(flatten)]
        serve: ServeArgs,
    },
}

fn main() -> anyhow::Result<()> {
    // reqwest (with object_store's S3 client) is built with rustls but no provider of its own:
    // ring for the whole process (no aws-lc C build).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KBSTACK_LOG")
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Serve(args) => {
            let config = Config::load(args)?;
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(kbstack::app::serve(config))
        }
        Command::Export { to, include_keys, serve } => {
            let config = Config::load(serve)?;
            let m = kbstack::transfer::export(&config, &to, include_keys)?;
            let rows: u64 = m.metadata_rows.values().sum();
            println!("exported to {}: {rows} metadata rows, {} files, keys {}", to.display(), m.files, if m.includes_keys { "included" } else { "not included" });
            Ok(())
        }
        Command::Import { from, serve } => {
            let config = Config::load(serve)?;
            let m = kbstack::transfer::import(&from, &config)?;
            println!("imported {} (kbstack {}, metadata schema {}) into {}", from.display(), m.kbstack_version, m.metadata_schema_version, config.data_dir.display());
            Ok(())
        }
        Command::Routes => {
            for route in kbstack::app::routes().table() {
                for method in &route.methods {
                    println!("{method} {}", route.path);
                }
            }
            Ok(())
        }
        Command::Component(ComponentCommand::Register { file, serve }) => {
            let config = Config::load(serve)?;
            println!("{}", kbstack::runner::registry::register(&config.data_dir, &file)?);
            Ok(())
        }
        Command::Component(ComponentCommand::ImportCatalog { file, serve }) => {
            let config = Config::load(serve)?;
            println!("{}", kbstack::storage::components::catalog::import(&config.data_dir, &file)?);
            Ok(())
        }
        Command::Cert(args) => {
            let config = Config::load(args)?;
            anyhow::ensure!(config.stack_suffix.is_some(), "kbstack cert needs --stack-suffix (e.g. local.keboola.dev)");
            kbstack::app::lock_down_data_dir(&config.data_dir)?;
            let files = kbstack::net::tls_files(&config)?;
            println!("{} {}", if files.created { "created" } else { "already present:" }, files.chain.display());
            println!("private key: {}", files.key.display());
            for line in kbstack::net::client_setup(&config, files.ca.as_deref()) {
                println!("{line}");
            }
            Ok(())
        }
        Command::Hosts(args) => {
            let config = Config::load(args)?;
            let (Some(suffix), Some(tls_listen)) = (&config.stack_suffix, &config.tls_listen) else {
                anyhow::bail!("kbstack hosts needs --stack-suffix (e.g. local.keboola.dev)");
            };
            print_lines(kbstack::net::hosts::hosts_lines(suffix, kbstack::net::hosts::hosts_ip(tls_listen)));
            Ok(())
        }
        Command::Component(ComponentCommand::List { serve }) => {
            let config = Config::load(serve)?;
            print_lines(kbstack::runner::registry::process_components(&config.data_dir).iter().map(|c| {
                format!("{}\t{}\t{}", c["id"].as_str().unwrap_or(""), c["type"].as_str().unwrap_or(""), c["name"].as_str().unwrap_or(""))
            }));
            Ok(())
        }
    }
}

/// Lines to stdout, stopping quietly when the reader has gone (`kbstack hosts | head`): `println!`
/// would panic on the closed pipe.
fn print_lines(lines: impl IntoIterator<Item = String>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
}
