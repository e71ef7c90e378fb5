//! Holds a Redis the way a grading run does, for the grader's orphan tests:
//! starts one through the grader's service code, prints
//! `redis <os pid> <port>`, and waits to be interrupted or killed.
//!
//! ```text
//! cargo run -p grader --bin fixture-store-holder -- <run dir>
//! ```

#[tokio::main]
async fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: fixture_store_holder <run dir>");
    grader::launch::install_signal_handler().expect("signal handler");
    let redis = grader::services::redis::Redis::start(
        "store",
        std::path::Path::new(&dir),
        grader::services::redis::Persistence::None,
        grader::services::redis::READY_WITHIN,
    )
    .await
    .unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    println!("redis {} {}", redis.pid(), redis.port());
    std::future::pending::<()>().await;
}
