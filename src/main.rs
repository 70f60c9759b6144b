fn main() -> std::process::ExitCode {
    jrun::main_with_args(std::env::args_os()).into()
}
