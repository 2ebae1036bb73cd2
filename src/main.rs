//! Entry point: parse the command line, set up logging, build the runtime, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = openlsp::cli::Cli::parse();
    openlsp::init_tracing(cli.global.verbose);
    // One thread: the work is I/O-bound requests and small computations, and one thread keeps
    // memory in one allocator arena.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(openlsp::run(cli))
}
