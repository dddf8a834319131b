use clap::Parser;

/// glibc's allocator took a fifth of the CPU of a page of 100 stages (bench/profile.sh):
/// responses are built from many small allocations, which jemalloc serves far cheaper. (mimalloc
/// was as fast but held 50-75 MB under load, over the 50 MB budget; jemalloc stays near 40.)
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = stages_api::cli::Cli::parse();
    let _logs = stages_api::observability::init_logging(cli.log_format(), cli.serves());
    match stages_api::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("stages-api: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
