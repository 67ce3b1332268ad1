//! `typed-eventsource-server`: `serve` (the default) or `token`. See the README for the flags.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;
use typed_eventsource_server::auth::{Keys, Role};
use typed_eventsource_server::config::{Cli, Command, Config, ServeArgs, TokenArgs};
use typed_eventsource_server::{serve, AppState};

fn main() -> ExitCode {
    match Cli::parse().into_command() {
        Command::Token(args) => token(&args),
        Command::Serve(args) => run(*args),
    }
}

fn token(args: &TokenArgs) -> ExitCode {
    let role = if args.publisher { Role::Publisher } else { Role::Subscriber };
    match Keys::new(&args.secret).mint(&args.user, role, args.ttl_secs) {
        Ok(t) => {
            println!("{t}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot mint token: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: ServeArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let listen = args.listen;
    let config = match Config::try_from(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve_on(listen, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_on(listen: std::net::SocketAddr, config: Config) -> std::io::Result<()> {
    if config.dev {
        tracing::warn!("DEVELOPMENT MODE (--dev): no auth required and any loopback origin allowed; never use in production");
    }
    if config.fixtures {
        tracing::warn!("--fixtures: test-only routes under /fixtures are enabled; never use in production");
    }
    // The store first: a server that cannot open its data refuses to start before it listens.
    let state = match AppState::open(config).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return Err(std::io::Error::other(e.to_string()));
        }
    };
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    tracing::info!(%addr, "listening");
    serve(listener, state, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
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
        () = ctrl_c => {}
        () = term => {}
    }
}
