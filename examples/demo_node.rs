//! Runs only jkd's built-in AJP13 demo nodes (`jkd::demo::DemoNode`), as benchmark backends: `demo_node ADDR=ROUTE...`, e.g. `demo_node 127.0.0.1:8009=node1 127.0.0.1:8010=node2`.

use std::process::ExitCode;

use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("JKD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().any(|a| a == "-h" || a == "--help") {
        eprintln!("usage: demo_node ADDR=ROUTE...   (e.g. 127.0.0.1:8009=node1)");
        return ExitCode::from(2);
    }
    let mut nodes = Vec::new();
    for arg in &args {
        let Some((addr, route)) = arg.split_once('=') else {
            eprintln!("demo_node: '{arg}' is not ADDR=ROUTE");
            return ExitCode::from(2);
        };
        let listener = match TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("demo_node: cannot listen on {addr}: {e}");
                return ExitCode::from(1);
            }
        };
        let shown = listener
            .local_addr()
            .map_or_else(|_| addr.to_string(), |a| a.to_string());
        println!("demo node {route} listening on {shown}");
        nodes.push(tokio::spawn(
            jkd::demo::DemoNode::new(route).serve(listener),
        ));
    }
    for node in nodes {
        let _ = node.await;
    }
    ExitCode::SUCCESS
}
