//! `typed-eventsource-server`: `serve` (the default), `token` or `salvage`. See the README for the flags.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;
use typed_eventsource_server::auth::{now_secs, Claims, Keys, PUBLISHER_ROLE};
use typed_eventsource_server::config::{Cli, Command, Config, SalvageArgs, SalvagePassArgs, ServeArgs, TokenArgs};
use typed_eventsource_server::store::embedded::salvage::{self, Pass};
use typed_eventsource_server::tls::{Tls, TlsSource};
use typed_eventsource_server::{serve, serve_tls, AppState};

fn main() -> ExitCode {
    match Cli::parse().into_command() {
        Command::Token(args) => token(&args),
        Command::Serve(args) => run(*args),
        Command::Salvage(args) => salvage(&args),
        Command::SalvagePass(args) => salvage_pass(&args),
    }
}

/// One reading pass of `salvage` (see [`salvage::read_pass`]), its findings on stdout.
fn salvage_pass(args: &SalvagePassArgs) -> ExitCode {
    let pass = match (args.pass.as_str(), &args.until_topic, args.until_position) {
        ("meta", ..) => Pass::Meta,
        ("forward", ..) => Pass::Forward,
        ("backward", Some(topic), Some(position)) => Pass::Backward { until: Some((topic.clone(), position)) },
        ("backward", ..) => Pass::Backward { until: None },
        (other, ..) => {
            eprintln!("error: unknown pass {other}");
            return ExitCode::from(2);
        }
    };
    match salvage::read_pass(&args.copy, &pass, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints what was copied and left out; exit 1 if nothing could be copied.
fn salvage(args: &SalvageArgs) -> ExitCode {
    // Each reading pass in a child process: redb panicking on a damaged page ends that pass, not the salvage.
    let mut run = |copy: &std::path::Path, pass: &Pass| -> Vec<u8> {
        let Ok(exe) = std::env::current_exe() else { return Vec::new() };
        let mut cmd = std::process::Command::new(exe);
        cmd.arg("salvage-pass").arg("--copy").arg(copy);
        match pass {
            Pass::Meta => cmd.args(["--pass", "meta"]),
            Pass::Forward => cmd.args(["--pass", "forward"]),
            Pass::Backward { until } => {
                cmd.args(["--pass", "backward"]);
                if let Some((topic, position)) = until {
                    cmd.arg("--until-topic").arg(topic).arg("--until-position").arg(position.to_string());
                }
                &mut cmd
            }
        };
        // Its stderr (a panic message from redb) is not the operator's business: the summary says what was lost.
        cmd.stdin(std::process::Stdio::null()).output().map(|o| o.stdout).unwrap_or_default()
    };
    match salvage::salvage_with(&args.from, &args.to, &mut run) {
        Ok(s) => {
            println!(
                "salvaged {} events ({} topics, {} jobs) into {}; left out {} that failed verification{}",
                s.events,
                s.topics,
                s.jobs,
                args.to.display(),
                s.failed,
                if s.unreadable { ", and the records of damaged pages that could not be read" } else { "" },
            );
            println!(
                "new epoch {} (was {}): returning clients get a replay-gap (other-epoch) and the retained history. \
                 Stop the server, keep {} for analysis, move {} to <data dir>/events.redb, start the server",
                s.new_epoch,
                s.old_epoch.as_deref().unwrap_or("unreadable"),
                args.from.display(),
                args.to.display(),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn token(args: &TokenArgs) -> ExitCode {
    let claims = Claims {
        sub: args.user.clone(),
        exp: now_secs().saturating_add(args.ttl_secs),
        role: args.publisher.then(|| PUBLISHER_ROLE.to_owned()),
        nbf: None,
        iss: args.issuer.clone(),
        aud: args.audience.clone(),
    };
    match Keys::new(&args.secret).mint_claims(&claims) {
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
        // Colours only on a terminal: log files and collectors get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
        tracing::warn!(
            "DEVELOPMENT MODE (--dev): no auth required and any loopback origin allowed; never use in production"
        );
    }
    if config.fixtures && !cfg!(feature = "fixtures") {
        return Err(std::io::Error::other(
            "--fixtures: this binary was built without the test-only fixtures (cargo build --features fixtures)",
        ));
    }
    if config.fixtures {
        tracing::warn!("--fixtures: test-only routes under /fixtures are enabled; never use in production");
    }
    let tls = match &config.conn.tls {
        Some(source) => match Tls::new(source.clone()) {
            Ok(tls) => Some(tls),
            Err(e) => return Err(std::io::Error::other(format!("TLS: {e}"))),
        },
        None => None,
    };
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
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {scheme}://{addr}")?;
        out.flush()?;
    }
    tracing::info!(%addr, "listening");
    match tls {
        None => serve(listener, state, shutdown_signal()).await,
        Some(tls) => {
            match tls.source() {
                TlsSource::SelfSigned => tracing::warn!(
                    "HTTPS with a self-signed development certificate for localhost, 127.0.0.1 and ::1; SHA-256 {}",
                    tls.fingerprint()
                ),
                TlsSource::Files { .. } => {
                    let fingerprint = tls.fingerprint();
                    tracing::info!(%fingerprint, "HTTPS (HTTP/2 and HTTP/1.1); SIGHUP reloads the certificate");
                    reload_on_sighup(tls.clone());
                }
            }
            serve_tls(listener, state, tls, shutdown_signal()).await
        }
    }
}

/// Re-reads the certificate files on every SIGHUP; a bad pair is logged and the current one kept.
fn reload_on_sighup(tls: Tls) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP: certificate reload disabled");
                return;
            }
        };
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                match tls.reload() {
                    Ok(()) => tracing::info!(fingerprint = %tls.fingerprint(), "certificate reloaded"),
                    Err(e) => tracing::error!(error = %e, "certificate reload failed; keeping the current one"),
                }
            }
        });
    }
    #[cfg(not(unix))]
    drop(tls);
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
