//! What the bench's servers share (the baseline and the siteverify peer).

/// Resolves when the process is asked to stop: SIGTERM (bench/run.sh stops its servers by PID)
/// or Ctrl-C.
pub async fn stopped() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}
