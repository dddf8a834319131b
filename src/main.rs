use clap::Parser;

/// glibc's allocator took a fifth of the CPU of a page of 100 stages (bench/profile.sh):
/// responses are built from many small allocations, which mimalloc serves far cheaper.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = stages_api::cli::Cli::parse();
    let _logs = stages_api::observability::init_logging();
    match stages_api::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("stages-api: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
