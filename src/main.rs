use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = stages_api::cli::Cli::parse();
    stages_api::observability::init_logging();
    match stages_api::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("stages-api: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
