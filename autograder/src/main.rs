//! The `autograder` command; see `autograder --help` and the project README.

fn main() -> std::process::ExitCode {
    autograder::cmd::cli::main()
}
