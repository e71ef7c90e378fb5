//! A node the grader's own tests grade: the smallest program that has what
//! parts 3–5 have (a store client, an HTTP port, a JSON-lines client port),
//! so the services, the store links and the probes are tested end to end
//! before any part uses them.
//!
//! ```text
//! cargo run -p grader --bin fixture-node -- --name n1@127.0.0.1 --redis-url redis://127.0.0.1:6379/
//! ```
//!
//! HTTP: `GET /ping` → 200 `pong`; `GET /store` → 200 with the store's
//! answer to PING, or 503 if the store does not answer within 500 ms;
//! `GET /go` → 302 to `/ping`. Client port: every line is answered with
//! `{"type":"echo","line":…}`; a line that is not JSON gets
//! `{"type":"error","code":"bad_json"}`, and the connection stays open.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use clap::Parser;
use netsplit::NodeArgs;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[derive(Parser)]
#[command(about = "A node for the grader's own tests: store, HTTP and client ports")]
struct Cli {
    #[command(flatten)]
    node: NodeArgs,
    /// The store.
    #[arg(long, default_value = "redis://127.0.0.1:6379/")]
    redis_url: String,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let node = cli.node.start_or_exit().await;
    let client = redis::Client::open(cli.redis_url.as_str()).expect("a redis URL");
    let http = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let lines = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (http_addr, lines_addr) = (http.local_addr().unwrap(), lines.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/ping", get(|| async { "pong" }))
        .route("/store", get(store_ping))
        .route(
            "/go",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/ping")]) }),
        )
        .with_state(client);
    tokio::spawn(async move { axum::serve(http, app).await });
    tokio::spawn(echo_clients(lines));
    println!("ready {} http {http_addr} client {lines_addr}", node.name());
    node.signal_ready_with(&[("http", http_addr), ("client", lines_addr)]);
    std::future::pending::<()>().await;
}

/// PINGs the store over a fresh connection: whether this node can reach it
/// right now.
async fn store_ping(State(client): State<redis::Client>) -> impl IntoResponse {
    let ping = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(Duration::from_millis(500), ping).await {
        Ok(Ok(pong)) => (StatusCode::OK, pong),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("store error: {e}")),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store timeout".to_string()),
    }
}

async fn echo_clients(listener: tokio::net::TcpListener) {
    while let Ok((sock, _)) = listener.accept().await {
        tokio::spawn(async move {
            let (read, mut write) = sock.into_split();
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let reply = match serde_json::from_str::<serde_json::Value>(&line) {
                    Ok(v) => serde_json::json!({"type": "echo", "line": v}),
                    Err(_) => serde_json::json!({"type": "error", "code": "bad_json"}),
                };
                if write
                    .write_all(format!("{reply}\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
}
