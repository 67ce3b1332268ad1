//! Command-line flags (each with an environment fallback) and the [`Config`] the router is built from.
//!
//! ```
//! use clap::Parser;
//! use typed_eventsource_server::config::{Cli, Command};
//!
//! let cli = Cli::try_parse_from(["typed-eventsource-server", "serve", "--listen", "127.0.0.1:0", "--dev"]).unwrap();
//! assert!(matches!(cli.command, Some(Command::Serve(ref a)) if a.dev));
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::tls::TlsSource;

/// The secret used in `--dev` mode when none is given. Never use it in production.
pub const DEV_SECRET: &str = "typed-eventsource-dev-secret-do-not-use";

/// The command line: `serve` (the default), `token` or `salvage`.
#[derive(Debug, Parser)]
#[command(name = "typed-eventsource-server", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Flags of `serve`, accepted without the subcommand too.
    #[command(flatten)]
    pub serve: ServeArgs,
}

impl Cli {
    /// The command to run, with `serve` as the default.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Serve(Box::new(self.serve)))
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve(Box<ServeArgs>),
    /// Mint a subscriber (or publisher) token for development and print it.
    Token(TokenArgs),
    /// Copy every event record that still verifies from a damaged data file into a new file (new epoch).
    Salvage(SalvageArgs),
    /// One reading pass of `salvage`, run by it in a child process.
    #[command(hide = true)]
    SalvagePass(SalvagePassArgs),
}

/// Flags of the internal `salvage-pass`.
#[derive(Debug, Clone, Args)]
pub struct SalvagePassArgs {
    /// The copy of the damaged file.
    #[arg(long)]
    pub copy: PathBuf,
    /// `meta`, `forward` or `backward`.
    #[arg(long)]
    pub pass: String,
    /// Backward: the topic of the last key the forward pass reached.
    #[arg(long)]
    pub until_topic: Option<String>,
    /// Backward: the position of that key.
    #[arg(long)]
    pub until_position: Option<u64>,
}

/// Flags of `salvage`.
#[derive(Debug, Clone, Args)]
pub struct SalvageArgs {
    /// The damaged data file (read only: never changed).
    #[arg(long)]
    pub from: PathBuf,
    /// The new data file to write (must not exist).
    #[arg(long)]
    pub to: PathBuf,
}

/// Flags of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed as `listening on http://ADDR`).
    #[arg(long, env = "SSE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Folder served at `/`.
    #[arg(long, env = "SSE_WWW", default_value = "www")]
    pub www: PathBuf,
    /// Reconnection time sent as `retry:` in the first frame of every stream, in milliseconds.
    #[arg(long, env = "SSE_RETRY_MS", default_value_t = 3000, value_parser = clap::value_parser!(u64).range(0..=86_400_000))]
    pub retry_ms: u64,
    /// Seconds between heartbeats on idle streams: a `: keep-alive` comment and a `heartbeat` event (data: the period
    /// in ms, no id) that browser EventSource clients can see (keep it below proxies' 60 s timeout).
    #[arg(long, env = "SSE_HEARTBEAT_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub heartbeat_secs: u64,
    /// Where events are kept: `embedded` (durable, in `--data-dir`), `memory` (lost at exit) or `redis` (shared by
    /// every instance using the same `--redis-url`).
    #[arg(long, env = "SSE_STORE", value_enum, default_value_t = StoreKindArg::Embedded)]
    pub store: StoreKindArg,
    /// Redis (or Valkey) URL of `--store redis`, e.g. `redis://127.0.0.1:6379` or `rediss://user:pass@host/0`. A Redis
    /// Cluster: any node's URL (recognised as a cluster node), or several seeds, comma-separated.
    #[arg(long, env = "SSE_REDIS_URL", default_value = "redis://127.0.0.1:6379", hide_env_values = true)]
    pub redis_url: String,
    /// Redis Cluster: slot groups the topics are spread over (each a hash tag in its own slot range; at least the
    /// number of primaries you may grow to). Every instance of a deployment must use the same number.
    #[arg(long, env = "SSE_REDIS_CLUSTER_GROUPS", default_value_t = 64,
          value_parser = clap::value_parser!(u16).range(1..=i64::from(crate::store::redis::MAX_GROUPS)))]
    pub redis_cluster_groups: u16,
    /// Replicas that must have each write before it is acknowledged (Redis `WAIT`); 0: acknowledged once the primary
    /// ran it (a failover may then lose the last acknowledged events). A write not confirmed in time is answered
    /// "outcome unknown" (retry with the same Idempotency-Key).
    #[arg(long, env = "SSE_REDIS_WAIT_REPLICAS", default_value_t = 0)]
    pub redis_wait_replicas: u32,
    /// How long a write waits for `--redis-wait-replicas`.
    #[arg(long, env = "SSE_REDIS_WAIT_TIMEOUT", default_value = "500ms", value_parser = parse_duration)]
    pub redis_wait_timeout: Duration,
    /// Prefix of every Redis key and channel (several deployments can share one Redis).
    #[arg(long, env = "SSE_REDIS_PREFIX", default_value = "tes:")]
    pub redis_prefix: String,
    /// Folder of the embedded store's data file (created if missing).
    #[arg(long, env = "SSE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// Events kept per broadcast/user stream for replay.
    #[arg(long, env = "SSE_HISTORY", default_value_t = 256)]
    pub history: u64,
    /// Age past which broadcast/user events are removed, e.g. `7d`, `12h`, `90s`; `0` keeps them regardless of age.
    #[arg(long, env = "SSE_HISTORY_MAX_AGE", default_value = "7d", value_parser = parse_duration)]
    pub history_max_age: Duration,
    /// Most per-user streams kept in the store; past it the least recently used one is deleted with its events.
    #[arg(long, env = "SSE_MAX_USER_TOPICS", default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_user_topics: u64,
    /// Most bytes (encoded events) kept per user stream; past it its oldest events are removed.
    #[arg(long, env = "SSE_MAX_USER_TOPIC_BYTES", default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_user_topic_bytes: u64,
    /// Most bytes (encoded events) kept across all user streams (memory or disk); past it the least recently used
    /// user streams are deleted with their events.
    #[arg(long, env = "SSE_MAX_USER_HISTORY_BYTES", default_value_t = 256 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_user_history_bytes: u64,
    /// Events a client may fall behind before it is evicted as a slow client.
    #[arg(long, env = "SSE_CLIENT_BUFFER", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub client_buffer: u64,
    /// Largest accepted request body in bytes (413 past it).
    #[arg(long, env = "SSE_MAX_BODY_BYTES", default_value_t = 64 * 1024, value_parser = clap::value_parser!(u64).range(1..=64 * 1024 * 1024))]
    pub max_body_bytes: u64,
    /// Most events in one batch publish (a JSON array or NDJSON body; 413 past it).
    #[arg(long, env = "SSE_MAX_BATCH_EVENTS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_batch_events: u64,
    /// Most concurrent event streams (503 past it).
    #[arg(long, env = "SSE_MAX_STREAMS", default_value_t = 10_000)]
    pub max_streams: usize,
    /// Most anonymous streams (`/subscribe`, fixtures); default half of `--max-streams`.
    #[arg(long, env = "SSE_MAX_ANONYMOUS_STREAMS")]
    pub max_anonymous_streams: Option<usize>,
    /// Most job streams; default a quarter of `--max-streams`.
    #[arg(long, env = "SSE_MAX_JOB_STREAMS")]
    pub max_job_streams: Option<usize>,
    /// Most streams per client address.
    #[arg(long, env = "SSE_MAX_STREAMS_PER_IP", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_streams_per_ip: u64,
    /// Most streams per authenticated user (tabs).
    #[arg(long, env = "SSE_MAX_STREAMS_PER_USER", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_streams_per_user: u64,
    /// Behind a reverse proxy: the header naming the client's address (`X-Forwarded-For`: its last address, the one
    /// the proxy added; `X-Real-IP`), used by the per-address stream budgets. Set it only when clients cannot reach
    /// the server except through the proxy (they could forge it otherwise).
    #[arg(long, env = "SSE_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<String>,
    /// Reconnection time (ms, plus up to as much again of jitter) sent to event-stream clients refused for lack of
    /// streams.
    #[arg(long, env = "SSE_BUSY_RETRY_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub busy_retry_ms: u64,
    /// HS256 secret for subscriber and publisher tokens (required unless `--dev`; at least 32 bytes).
    #[arg(long, env = "SSE_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Issuer every token must name (`iss` claim); none required when unset.
    #[arg(long, env = "SSE_TOKEN_ISSUER")]
    pub token_issuer: Option<String>,
    /// Audience every token must name (`aud` claim); none required when unset.
    #[arg(long, env = "SSE_TOKEN_AUDIENCE")]
    pub token_audience: Option<String>,
    /// Development mode: no auth required, loopback origins allowed by CORS. Never in production.
    #[arg(long, env = "SSE_DEV")]
    pub dev: bool,
    /// Host names (without port) the server answers besides, in `--dev`, the loopback ones (`localhost`,
    /// `*.localhost`, `127.0.0.0/8`, `[::1]`); repeatable or comma separated. Outside `--dev`, when given, only these.
    #[arg(long = "allowed-host", env = "SSE_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,
    /// Allowed CORS origin (repeatable or comma separated), e.g. `https://app.example.com`.
    #[arg(long = "cors-origin", env = "SSE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Enable the `/fixtures` routes for the browser test suite (a binary built with the `fixtures` feature only).
    /// Never enable in production.
    #[arg(long, env = "SSE_FIXTURES")]
    pub fixtures: bool,
    /// Most jobs running at once in the deployment: with `--store redis`, across every instance sharing the Redis
    /// prefix (admission is one atomic Redis script; a killed instance's jobs stop counting when their lease runs
    /// out, see `--job-lease-secs`); otherwise on this server. Past it `POST /jobs` answers 503 with `Retry-After`.
    /// Also the most jobs kept: finished ones make room, the one that ended first goes first.
    #[arg(long, env = "SSE_MAX_JOBS", default_value_t = 256)]
    pub max_jobs: usize,
    /// Longest total run time of a job (steps × interval), in seconds; longer ones are refused (400).
    #[arg(long, env = "SSE_MAX_JOB_SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub max_job_secs: u64,
    /// Most jobs one publisher (token `sub`; client address in `--dev` without a token) may have running at once on
    /// this server (429 past it; counted per instance).
    #[arg(long, env = "SSE_MAX_JOBS_PER_PUBLISHER", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_jobs_per_publisher: u64,
    /// Seconds a client has to send a whole request body (408 past it).
    #[arg(long, env = "SSE_BODY_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout_secs: u64,
    /// Seconds a finished job's stream stays available.
    #[arg(long, env = "SSE_JOB_TTL_SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(0..=31_536_000))]
    pub job_ttl_secs: u64,
    /// Seconds a running job's lease lasts (shared stores: a job whose instance died ends as interrupted after it).
    #[arg(long, env = "SSE_JOB_LEASE_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub job_lease_secs: u64,
    /// How long an `Idempotency-Key` is remembered: a publish repeated with the same key within it answers the first
    /// one and publishes nothing; after it, the key is new. From `1s` to `30d`, e.g. `24h`, `90m`.
    #[arg(long, env = "SSE_IDEMPOTENCY_WINDOW", default_value = "24h", value_parser = parse_idempotency_window)]
    pub idempotency_window: Duration,
    /// Seconds a write to a client may stay blocked (client not reading) before the connection is dropped.
    #[arg(long, env = "SSE_WRITE_STALL_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub write_stall_secs: u64,
    /// TLS, HTTP/2 limits and connection timeouts.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// The `--store` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKindArg {
    /// redb file in `--data-dir`: survives restarts and crashes.
    Embedded,
    /// In memory: lost at exit (every start is a new epoch).
    Memory,
    /// Redis/Valkey: many instances share every stream.
    Redis,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(s.trim()).map_err(|e| format!("{e} (examples: 7d, 12h, 90s, 0)"))
}

/// Shortest and longest `--idempotency-window`: a key must outlive a client's retries, and the store keeps every key
/// for the whole window.
const IDEMPOTENCY_WINDOW_BOUNDS: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30 * 24 * 3600));

fn parse_idempotency_window(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| format!("{e} (examples: 24h, 90m, 30s)"))?;
    let (min, max) = IDEMPOTENCY_WINDOW_BOUNDS;
    if d < min || d > max {
        return Err(format!("must be from 1s to 30d, got {}", humantime::format_duration(d)));
    }
    Ok(d)
}

/// Where a server keeps its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// In memory (tests, `--store memory`).
    Memory,
    /// The embedded durable store in this folder.
    Embedded {
        /// The data dir.
        data_dir: PathBuf,
    },
    /// Redis, shared by every instance with the same URL and prefix.
    Redis {
        /// `redis://...`, or a cluster's seeds, comma-separated.
        url: String,
        /// Key prefix.
        prefix: String,
        /// Cluster groups and replica confirmation.
        settings: crate::store::redis::RedisSettings,
    },
}

/// Flags of `token`.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// The user id (`sub` claim).
    #[arg(long)]
    pub user: String,
    /// Mint a publisher token (`role: "publisher"`) instead of a subscriber token.
    #[arg(long)]
    pub publisher: bool,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl_secs: u64,
    /// `iss` claim to include.
    #[arg(long)]
    pub issuer: Option<String>,
    /// `aud` claim to include.
    #[arg(long)]
    pub audience: Option<String>,
    /// HS256 secret; must match the server's.
    #[arg(long, env = "SSE_SECRET", hide_env_values = true)]
    pub secret: String,
}

/// Everything the router needs; [`Config::default`] suits tests (dev mode off, a test secret, the memory store).
#[derive(Debug, Clone)]
pub struct Config {
    /// Folder served at `/`.
    pub www: PathBuf,
    /// `retry:` of the first frame.
    pub retry: Duration,
    /// Heartbeat interval.
    pub heartbeat: Duration,
    /// Where events are kept.
    pub store: StoreConfig,
    /// Events kept per broadcast/user stream.
    pub history: u64,
    /// Age limit of broadcast/user events (`None`: none).
    pub history_max_age: Option<Duration>,
    /// Most per-user topics in the store.
    pub max_user_topics: u64,
    /// Most bytes kept per user topic.
    pub max_user_topic_bytes: u64,
    /// Most bytes kept across all user topics.
    pub max_user_history_bytes: u64,
    /// Events a client may lag before eviction.
    pub client_buffer: usize,
    /// Body limit in bytes.
    pub max_body_bytes: usize,
    /// Most events in one batch publish.
    pub max_batch_events: usize,
    /// Concurrent streams limit.
    pub max_streams: usize,
    /// Anonymous streams limit (`None`: half of `max_streams`).
    pub max_anonymous_streams: Option<usize>,
    /// Job streams limit (`None`: a quarter of `max_streams`).
    pub max_job_streams: Option<usize>,
    /// Streams per client address.
    pub max_streams_per_ip: usize,
    /// Streams per user.
    pub max_streams_per_user: usize,
    /// Header naming the client's address behind a proxy (lower case).
    pub client_ip_header: Option<String>,
    /// `retry:` (before jitter) of the answer to an event-stream request refused for lack of streams.
    pub busy_retry: Duration,
    /// HS256 secret.
    pub secret: String,
    /// Required `iss`/`aud`.
    pub token_policy: crate::auth::TokenPolicy,
    /// Development mode.
    pub dev: bool,
    /// Allowed CORS origins.
    pub cors_origins: Vec<String>,
    /// Allowed `Host` names (see the flag).
    pub allowed_hosts: Vec<String>,
    /// Whether the `/fixtures` routes exist.
    pub fixtures: bool,
    /// Jobs running at once in the store (every instance sharing it), and jobs kept.
    pub max_jobs: usize,
    /// Longest total run time of a job.
    pub max_job_duration: Duration,
    /// Running jobs per publisher.
    pub max_jobs_per_publisher: usize,
    /// Time to send a whole request body.
    pub body_timeout: Duration,
    /// How long finished jobs are kept.
    pub job_ttl: Duration,
    /// How long a running job's lease lasts.
    pub job_lease: Duration,
    /// How long a blocked write may last before the connection is dropped.
    pub write_stall: Duration,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_window: Duration,
    /// TLS, HTTP/2 limits and connection timeouts.
    pub conn: ConnConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            www: PathBuf::from("www"),
            retry: Duration::from_millis(3000),
            heartbeat: Duration::from_secs(15),
            store: StoreConfig::Memory,
            history: 256,
            history_max_age: None,
            max_user_topics: 100_000,
            max_user_topic_bytes: 1024 * 1024,
            max_user_history_bytes: 256 * 1024 * 1024,
            client_buffer: 1024,
            max_body_bytes: 64 * 1024,
            max_batch_events: 1000,
            max_streams: 10_000,
            max_anonymous_streams: None,
            max_job_streams: None,
            max_streams_per_ip: 256,
            max_streams_per_user: 32,
            busy_retry: Duration::from_secs(10),
            client_ip_header: None,
            secret: DEV_SECRET.to_owned(),
            token_policy: crate::auth::TokenPolicy::default(),
            dev: false,
            cors_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            fixtures: false,
            max_jobs: 256,
            max_job_duration: Duration::from_secs(900),
            max_jobs_per_publisher: 32,
            body_timeout: Duration::from_secs(10),
            job_ttl: Duration::from_secs(600),
            job_lease: crate::jobs::LEASE,
            write_stall: Duration::from_secs(10),
            idempotency_window: crate::store::idempotency::DEFAULT_WINDOW,
            conn: ConnConfig::default(),
        }
    }
}

impl Config {
    /// The stream budgets these settings give.
    pub fn stream_budgets(&self) -> crate::limits::StreamBudgets {
        let defaults = crate::limits::StreamBudgets::for_total(self.max_streams);
        crate::limits::StreamBudgets {
            total: self.max_streams,
            anonymous: self.max_anonymous_streams.unwrap_or(defaults.anonymous),
            job: self.max_job_streams.unwrap_or(defaults.job),
            per_ip: self.max_streams_per_ip,
            per_user: self.max_streams_per_user,
        }
    }
}

/// Why the flags do not make a usable configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Auth is on but no secret was given.
    #[error("--secret (or SSE_SECRET) is required unless --dev is given")]
    MissingSecret,
    /// The secret is too short to resist brute force.
    #[error("--secret (or SSE_SECRET) must be at least {MIN_SECRET_BYTES} bytes unless --dev is given (try: head -c 32 /dev/urandom | base64)")]
    WeakSecret,
}

/// Shortest `--secret` accepted outside `--dev` (HS256 wants a key of at least its 256-bit output).
pub const MIN_SECRET_BYTES: usize = 32;

impl TryFrom<ServeArgs> for Config {
    type Error = ConfigError;

    fn try_from(a: ServeArgs) -> Result<Self, Self::Error> {
        let secret = match (a.secret, a.dev) {
            (Some(s), _) if !s.is_empty() => s,
            (_, true) => DEV_SECRET.to_owned(),
            _ => return Err(ConfigError::MissingSecret),
        };
        if !a.dev && secret.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::WeakSecret);
        }
        Ok(Config {
            www: a.www,
            retry: Duration::from_millis(a.retry_ms),
            heartbeat: Duration::from_secs(a.heartbeat_secs),
            store: match a.store {
                StoreKindArg::Embedded => StoreConfig::Embedded { data_dir: a.data_dir },
                StoreKindArg::Memory => StoreConfig::Memory,
                StoreKindArg::Redis => StoreConfig::Redis {
                    url: a.redis_url,
                    prefix: a.redis_prefix,
                    settings: crate::store::redis::RedisSettings {
                        cluster_groups: a.redis_cluster_groups,
                        wait_replicas: a.redis_wait_replicas,
                        wait_timeout: a.redis_wait_timeout,
                    },
                },
            },
            history: a.history,
            history_max_age: Some(a.history_max_age).filter(|d| !d.is_zero()),
            max_user_topics: a.max_user_topics,
            max_user_topic_bytes: a.max_user_topic_bytes,
            max_user_history_bytes: a.max_user_history_bytes,
            client_buffer: usize::try_from(a.client_buffer).unwrap_or(1024),
            max_body_bytes: usize::try_from(a.max_body_bytes).unwrap_or(64 * 1024),
            max_batch_events: usize::try_from(a.max_batch_events).unwrap_or(1000),
            max_streams: a.max_streams,
            max_anonymous_streams: a.max_anonymous_streams,
            max_job_streams: a.max_job_streams,
            max_streams_per_ip: usize::try_from(a.max_streams_per_ip).unwrap_or(usize::MAX),
            max_streams_per_user: usize::try_from(a.max_streams_per_user).unwrap_or(usize::MAX),
            busy_retry: Duration::from_millis(a.busy_retry_ms),
            client_ip_header: a.client_ip_header.map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()),
            secret,
            token_policy: crate::auth::TokenPolicy { issuer: a.token_issuer, audience: a.token_audience },
            dev: a.dev,
            cors_origins: a.cors_origins.into_iter().map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect(),
            allowed_hosts: a
                .allowed_hosts
                .into_iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            fixtures: a.fixtures,
            max_jobs: a.max_jobs.max(1),
            max_job_duration: Duration::from_secs(a.max_job_secs),
            max_jobs_per_publisher: usize::try_from(a.max_jobs_per_publisher).unwrap_or(usize::MAX),
            body_timeout: Duration::from_secs(a.body_timeout_secs),
            job_ttl: Duration::from_secs(a.job_ttl_secs),
            job_lease: Duration::from_secs(a.job_lease_secs),
            write_stall: Duration::from_secs(a.write_stall_secs),
            idempotency_window: a.idempotency_window,
            conn: a.conn.into(),
        })
    }
}

/// Connection flags of `serve` (TLS, HTTP/2 limits, timeouts).
#[derive(Debug, Clone, Args)]
pub struct ConnArgs {
    /// PEM certificate chain (leaf first): with `--tls-key`, serve HTTPS, HTTP/2 and HTTP/1.1 on the same port
    /// (ALPN). Both files are re-read on SIGHUP.
    #[arg(long, env = "SSE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert` (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "SSE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// With `--dev` and no certificate: serve HTTPS with a self-signed certificate for localhost made at start (its
    /// SHA-256 fingerprint is logged).
    #[arg(long, env = "SSE_DEV_TLS", requires = "dev", conflicts_with = "tls_cert")]
    pub dev_tls: bool,
    /// Seconds a client has to finish the TLS handshake.
    #[arg(long, env = "SSE_TLS_HANDSHAKE_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub tls_handshake_timeout_secs: u64,
    /// Seconds an HTTP/1.1 connection may take to send a request head (also closes idle keep-alive connections)
    /// and an HTTP/2 connection may stay without any stream.
    #[arg(long, env = "SSE_IDLE_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idle_timeout_secs: u64,
    /// Concurrent streams per HTTP/2 connection (browsers open at most this many event streams per origin).
    #[arg(long, env = "SSE_H2_MAX_STREAMS", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub h2_max_streams: u32,
    /// Most open client connections; default and ceiling: the open-files limit minus a headroom and the reserve
    /// answering `/healthz` and `/metrics` past it.
    #[arg(long, env = "SSE_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: Option<u64>,
    /// Most open connections per client address group (more are closed at once).
    #[arg(long, env = "SSE_MAX_CONNECTIONS_PER_IP", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections_per_ip: u64,
    /// Address ranges (repeatable or comma separated, e.g. `10.0.0.0/8,2001:db8::/32`) whose connections past
    /// `--max-connections` are still served `/healthz` and `/metrics` (the reserve); others are closed at once.
    #[arg(long = "ops-allow", env = "SSE_OPS_ALLOW", value_delimiter = ',', default_value = "127.0.0.0/8,::1")]
    pub ops_allow: Vec<crate::limits::IpNet>,
    /// IPv6 addresses count against per-address budgets (connections, streams, jobs) by this prefix: one client
    /// usually has a whole /64.
    #[arg(long, env = "SSE_IPV6_PREFIX_LEN", default_value_t = crate::limits::IPV6_GROUP_PREFIX, value_parser = clap::value_parser!(u8).range(1..=128))]
    pub ipv6_prefix_len: u8,
    /// Largest request head (request line and headers: HTTP/1.1 read buffer; HTTP/2 header list), in bytes (431 past it).
    #[arg(long, env = "SSE_MAX_HEADER_BYTES", default_value_t = 32 * 1024, value_parser = clap::value_parser!(u64).range(8192..=1_048_576))]
    pub max_header_bytes: u64,
}

/// hyper's smallest read-buffer cap (it refuses less); a connection's buffer starts at this size and grows only for
/// larger request heads, up to `--max-header-bytes`.
pub const MIN_HEADER_BYTES: usize = 8192;

/// The connection settings, from [`ConnArgs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnConfig {
    /// TLS, if any (the binary loads it with [`crate::tls::Tls::new`] and calls [`crate::serve_tls`]).
    pub tls: Option<TlsSource>,
    /// TLS handshake time limit.
    pub tls_handshake_timeout: Duration,
    /// HTTP/1 request-head limit and HTTP/2 idle-connection limit.
    pub idle_timeout: Duration,
    /// Concurrent streams per HTTP/2 connection.
    pub h2_max_streams: u32,
    /// Connection cap (`None`: from the open-files limit).
    pub max_connections: Option<usize>,
    /// Connections per address group.
    pub max_connections_per_ip: usize,
    /// Who may use the reserve past the cap, and how addresses are grouped in per-address budgets.
    pub addresses: crate::limits::AddressPolicy,
    /// Request head limit.
    pub max_header_bytes: usize,
}

impl Default for ConnConfig {
    fn default() -> Self {
        ConnConfig {
            tls: None,
            tls_handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            h2_max_streams: 100,
            max_connections: None,
            max_connections_per_ip: 512,
            addresses: crate::limits::AddressPolicy::default(),
            max_header_bytes: 32 * 1024,
        }
    }
}

impl From<ConnArgs> for ConnConfig {
    fn from(a: ConnArgs) -> Self {
        let tls = match (a.tls_cert, a.tls_key) {
            (Some(cert), Some(key)) => Some(TlsSource::Files { cert, key }),
            _ if a.dev_tls => Some(TlsSource::SelfSigned),
            _ => None,
        };
        ConnConfig {
            tls,
            tls_handshake_timeout: Duration::from_secs(a.tls_handshake_timeout_secs),
            idle_timeout: Duration::from_secs(a.idle_timeout_secs),
            h2_max_streams: a.h2_max_streams,
            max_connections: a.max_connections.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            max_connections_per_ip: usize::try_from(a.max_connections_per_ip).unwrap_or(usize::MAX),
            addresses: crate::limits::AddressPolicy { ops_allow: a.ops_allow, ipv6_prefix: a.ipv6_prefix_len },
            max_header_bytes: usize::try_from(a.max_header_bytes).unwrap_or(MIN_HEADER_BYTES).max(MIN_HEADER_BYTES),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn args(flags: &[&str]) -> ServeArgs {
        let argv = ["typed-eventsource-server", "serve"].iter().chain(flags);
        match Cli::try_parse_from(argv).expect("the flags parse").into_command() {
            Command::Serve(args) => *args,
            other => panic!("{other:?}"),
        }
    }

    fn serve(flags: &[&str]) -> Result<Config, ConfigError> {
        Config::try_from(args(flags))
    }

    fn dev(flags: &[&str]) -> Config {
        serve(&[&["--dev"], flags].concat()).expect("a dev configuration")
    }

    #[test]
    fn serve_is_the_command_when_none_is_given() {
        let cli = Cli::try_parse_from(["typed-eventsource-server", "--dev", "--history", "9"]).expect("flags");
        match cli.into_command() {
            Command::Serve(args) => assert!(args.dev && args.history == 9),
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from(["typed-eventsource-server", "token", "--user", "a", "--secret", "s"]);
        assert!(matches!(cli.expect("flags").into_command(), Command::Token(t) if t.user == "a"));
    }

    #[test]
    fn a_secret_is_required_and_long_enough_outside_dev() {
        assert!(matches!(serve(&[]), Err(ConfigError::MissingSecret)));
        assert!(matches!(serve(&["--secret", ""]), Err(ConfigError::MissingSecret)));
        let short = "x".repeat(MIN_SECRET_BYTES - 1);
        assert!(matches!(serve(&["--secret", &short]), Err(ConfigError::WeakSecret)));
        let long = "x".repeat(MIN_SECRET_BYTES);
        assert_eq!(serve(&["--secret", &long]).map(|c| (c.secret, c.dev)).ok(), Some((long, false)));
        assert_eq!(dev(&[]).secret, DEV_SECRET);
        assert_eq!(dev(&["--secret", &short]).secret, short, "dev takes any secret");
    }

    #[test]
    fn durations_are_humane_and_zero_turns_the_age_limit_off() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration(" 90s "), Ok(Duration::from_secs(90)));
        assert!(parse_duration("soon").is_err_and(|e| e.contains("examples")));
        assert_eq!(dev(&[]).history_max_age, Some(Duration::from_secs(7 * 24 * 3600)));
        assert_eq!(dev(&["--history-max-age", "0"]).history_max_age, None);
        assert_eq!(dev(&["--history-max-age", "2h"]).history_max_age, Some(Duration::from_secs(7200)));
    }

    #[test]
    fn the_idempotency_window_is_from_1s_to_30d() {
        let day = 24 * 3600;
        assert_eq!(parse_idempotency_window("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_idempotency_window(" 30d "), Ok(Duration::from_secs(30 * day)));
        for bad in ["999ms", "30d 1s", "0", "a while"] {
            assert!(parse_idempotency_window(bad).is_err(), "{bad}");
        }
        assert_eq!(dev(&["--idempotency-window", "90m"]).idempotency_window, Duration::from_secs(5400));
    }

    #[test]
    fn names_are_trimmed_lowercased_and_empty_ones_dropped() {
        let c = dev(&["--client-ip-header", " X-Real-IP ", "--cors-origin", " https://a ,, https://b"]);
        assert_eq!(c.client_ip_header.as_deref(), Some("x-real-ip"));
        assert_eq!(c.cors_origins, ["https://a", "https://b"]);
        assert_eq!(dev(&["--client-ip-header", "  "]).client_ip_header, None);
        assert_eq!(dev(&["--allowed-host", " Example.COM ,"]).allowed_hosts, ["example.com"]);
    }

    #[test]
    fn numbers_and_choices_reach_the_configuration() {
        let c = dev(&[
            "--retry-ms",
            "1500",
            "--heartbeat-secs",
            "7",
            "--max-jobs",
            "0",
            "--busy-retry-ms",
            "250",
            "--job-ttl-secs",
            "0",
            "--job-lease-secs",
            "3",
            "--write-stall-secs",
            "4",
            "--body-timeout-secs",
            "5",
            "--max-job-secs",
            "6",
        ]);
        assert_eq!(
            (c.retry, c.heartbeat, c.busy_retry),
            (Duration::from_millis(1500), Duration::from_secs(7), Duration::from_millis(250))
        );
        assert_eq!(c.max_jobs, 1, "at least one job");
        assert_eq!(
            (c.job_ttl, c.job_lease, c.write_stall),
            (Duration::ZERO, Duration::from_secs(3), Duration::from_secs(4))
        );
        assert_eq!((c.body_timeout, c.max_job_duration), (Duration::from_secs(5), Duration::from_secs(6)));
        assert_eq!(dev(&["--store", "memory"]).store, StoreConfig::Memory);
        assert_eq!(
            dev(&["--store", "redis", "--redis-url", "redis://h:1", "--redis-prefix", "p:"]).store,
            StoreConfig::Redis {
                url: "redis://h:1".into(),
                prefix: "p:".into(),
                settings: crate::store::redis::RedisSettings::default()
            }
        );
        assert_eq!(dev(&["--data-dir", "d"]).store, StoreConfig::Embedded { data_dir: "d".into() });
    }

    #[test]
    fn stream_budgets_default_to_shares_of_the_total() {
        let budgets = dev(&["--max-streams", "1000", "--max-streams-per-ip", "7", "--max-streams-per-user", "3"])
            .stream_budgets();
        assert_eq!(
            budgets,
            crate::limits::StreamBudgets { total: 1000, anonymous: 500, job: 250, per_ip: 7, per_user: 3 }
        );
        let explicit = dev(&["--max-streams", "1000", "--max-anonymous-streams", "10", "--max-job-streams", "20"]);
        assert_eq!((explicit.stream_budgets().anonymous, explicit.stream_budgets().job), (10, 20));
    }

    #[test]
    fn connection_flags_reach_the_connection_layer() {
        let c = dev(&["--tls-cert", "c.pem", "--tls-key", "k.pem", "--h2-max-streams", "9", "--max-connections", "77"])
            .conn;
        assert_eq!(c.tls, Some(TlsSource::Files { cert: "c.pem".into(), key: "k.pem".into() }));
        assert_eq!((c.h2_max_streams, c.max_connections), (9, Some(77)));
        assert_eq!(dev(&["--dev-tls"]).conn.tls, Some(TlsSource::SelfSigned));
        let plain =
            dev(&["--idle-timeout-secs", "8", "--tls-handshake-timeout-secs", "2", "--max-connections-per-ip", "5"])
                .conn;
        assert_eq!(plain.tls, None);
        assert_eq!((plain.idle_timeout, plain.tls_handshake_timeout), (Duration::from_secs(8), Duration::from_secs(2)));
        assert_eq!((plain.max_connections, plain.max_connections_per_ip), (None, 5));
        assert_eq!(dev(&["--max-header-bytes", "8192"]).conn.max_header_bytes, MIN_HEADER_BYTES);
        assert_eq!(dev(&["--max-header-bytes", "65536"]).conn.max_header_bytes, 65536);
    }
}
