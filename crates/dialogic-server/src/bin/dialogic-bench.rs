//! `dialogic-bench`: drives stateless and stateful messages through an assistant (by default
//! the bundled demo, served in this process over a temp SQLite file) with N concurrent
//! keep-alive clients for D seconds, and prints messages/s and p50/p99 latency.
//!
//! `--mode raw --url U` POSTs a fixed message body to any URL (e.g. refpipe's proxy), so the
//! reference is measured by the same client in the same run. `--reference U` does that first,
//! then prints each mode's rate as a share of the reference's.
//!
//!     cargo run --release -p dialogic-server --bin dialogic-bench -- --clients 16 --duration 10s
//!     dialogic-bench --url http://127.0.0.1:8080 --mode stateless
//!     dialogic-bench --url http://127.0.0.1:19000/ --mode raw
//!     dialogic-bench --url http://127.0.0.1:8080 --reference http://127.0.0.1:19000/

use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use serde_json::{json, Value};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Stateless,
    Stateful,
    Both,
    Raw,
}

#[derive(Parser)]
#[command(
    name = "dialogic-bench",
    about = "Message throughput and latency of a Dialogic server"
)]
struct Args {
    /// A running server (default: start the demo in this process).
    #[arg(long)]
    url: Option<String>,
    #[arg(long, default_value = "demo")]
    assistant: String,
    #[arg(long, value_enum, default_value = "both")]
    mode: Mode,
    #[arg(long, default_value_t = 16)]
    clients: usize,
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    warmup: Duration,
    /// API key for a server with [server] api_keys.
    #[arg(long)]
    api_key: Option<String>,
    /// Print one JSON line per mode instead of text.
    #[arg(long)]
    json: bool,
    /// Measure this URL first in raw mode (e.g. refpipe's proxy), then report each mode's rate
    /// as a share of it.
    #[arg(long)]
    reference: Option<String>,
}

/// The conversation every client cycles through.
const TEXTS: &[&str] = &["hello", "I want to order a pizza", "large", "help", "bye"];

struct Outcome {
    latencies: Vec<Duration>,
    errors: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (base, stop) = match &args.url {
        Some(u) => (u.trim_end_matches('/').to_owned(), None),
        None => {
            let dir = std::env::temp_dir().join(format!("dialogic-bench-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir)?;
            let mut loaded = dialogic_server::config::load(None, Vec::<(String, String)>::new())?;
            loaded.config.storage.url = format!("sqlite://{}", dir.join("bench.db").display());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let handle = tokio::spawn(dialogic_server::run(loaded, listener, async {
                let _ = rx.await;
            }));
            eprintln!("serving the demo in-process on {addr} (client and server share the CPU)");
            (format!("http://{addr}"), Some((tx, handle, dir)))
        }
    };
    let modes: Vec<Mode> = match args.mode {
        Mode::Both => vec![Mode::Stateless, Mode::Stateful],
        m => vec![m],
    };
    let reference = match &args.reference {
        Some(url) => Some(measure(&args, url, Mode::Raw, None).await?),
        None => None,
    };
    for mode in modes {
        measure(&args, &base, mode, reference).await?;
    }
    if let Some((tx, handle, dir)) = stop {
        let _ = tx.send(());
        let _ = handle.await;
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}

/// Warms up, drives `mode` for the run's duration, prints the figures and returns the rate.
async fn measure(
    args: &Args,
    base: &str,
    mode: Mode,
    reference: Option<f64>,
) -> anyhow::Result<f64> {
    if !args.warmup.is_zero() {
        drive(args, base, mode, args.warmup).await?;
    }
    let started = Instant::now();
    let out = drive(args, base, mode, args.duration).await?;
    Ok(report(args, mode, &out, started.elapsed(), reference))
}

async fn drive(args: &Args, base: &str, mode: Mode, duration: Duration) -> anyhow::Result<Outcome> {
    let deadline = Instant::now() + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for client_no in 0..args.clients {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(30))
            .build()?;
        let base = base.to_owned();
        let assistant = args.assistant.clone();
        let key = args.api_key.clone();
        tasks.spawn(
            async move { client(http, base, assistant, key, mode, deadline, client_no).await },
        );
    }
    let mut all = Outcome {
        latencies: Vec::new(),
        errors: 0,
    };
    while let Some(res) = tasks.join_next().await {
        let out = res??;
        all.latencies.extend(out.latencies);
        all.errors += out.errors;
    }
    Ok(all)
}

async fn client(
    http: reqwest::Client,
    base: String,
    assistant: String,
    key: Option<String>,
    mode: Mode,
    deadline: Instant,
    client_no: usize,
) -> anyhow::Result<Outcome> {
    let auth = |rb: reqwest::RequestBuilder| match &key {
        Some(k) => rb.basic_auth("apikey", Some(k)),
        None => rb,
    };
    let v = "version=2024-08-25";
    let url = match mode {
        Mode::Raw => base.clone(),
        Mode::Stateless => format!("{base}/v2/assistants/{assistant}/message?{v}"),
        _ => {
            let r = auth(http.post(format!("{base}/v2/assistants/{assistant}/sessions?{v}")))
                .send()
                .await?;
            let body: Value = r.json().await?;
            let sid = body["session_id"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("no session: {body}"))?
                .to_owned();
            format!("{base}/v2/assistants/{assistant}/sessions/{sid}/message?{v}")
        }
    };
    let mut out = Outcome {
        latencies: Vec::with_capacity(4096),
        errors: 0,
    };
    let mut context: Option<Value> = None;
    let mut i = client_no;
    while Instant::now() < deadline {
        let text = TEXTS[i % TEXTS.len()];
        i += 1;
        let mut body = json!({"input": {"text": text}});
        if let (Mode::Stateless, Some(c)) = (mode, &context) {
            body["context"] = c.clone();
        }
        let t0 = Instant::now();
        let res = auth(http.post(&url)).json(&body).send().await;
        match res {
            Ok(r) if r.status().is_success() => {
                let bytes = r.bytes().await?;
                out.latencies.push(t0.elapsed());
                if mode == Mode::Stateless {
                    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    context = v.get("context").cloned();
                }
            }
            Ok(r) => {
                let _ = r.bytes().await;
                out.errors += 1;
            }
            Err(_) => out.errors += 1,
        }
    }
    Ok(out)
}

fn report(
    args: &Args,
    mode: Mode,
    out: &Outcome,
    elapsed: Duration,
    reference: Option<f64>,
) -> f64 {
    let mut l = out.latencies.clone();
    l.sort_unstable();
    let pct = |p: f64| -> f64 {
        if l.is_empty() {
            return 0.0;
        }
        let idx = ((l.len() as f64 - 1.0) * p).round() as usize;
        l[idx.min(l.len() - 1)].as_secs_f64() * 1000.0
    };
    let rate = l.len() as f64 / elapsed.as_secs_f64();
    let share = reference.filter(|r| *r > 0.0).map(|r| 100.0 * rate / r);
    let name = match mode {
        Mode::Stateless => "stateless",
        Mode::Stateful => "stateful",
        Mode::Raw => "raw",
        Mode::Both => "both",
    };
    if args.json {
        println!(
            "{}",
            json!({"mode": name, "clients": args.clients, "seconds": elapsed.as_secs_f64(),
                   "messages": l.len(), "errors": out.errors, "messages_per_second": rate,
                   "p50_ms": pct(0.50), "p99_ms": pct(0.99), "percent_of_reference": share})
        );
    } else {
        let share = share.map_or(String::new(), |s| format!(" = {s:.1}% of the reference"));
        println!(
            "{name:<9} clients={} duration={:.1}s messages={} errors={} rate={rate:.0} msg/s p50={:.2}ms p99={:.2}ms{share}",
            args.clients,
            elapsed.as_secs_f64(),
            l.len(),
            out.errors,
            pct(0.50),
            pct(0.99)
        );
    }
    rate
}
