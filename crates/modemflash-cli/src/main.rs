//! `modemflash`: identify, inspect, update and recover Qualcomm-based cellular modules.
//!
//! The CLI parses arguments and renders results; everything that knows a protocol or a
//! package format lives in the `modemflash` library.

#[macro_use]
mod out;
mod cmd;
mod exit;
mod hints;
mod signals;
mod ui;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Identify, inspect, update and recover Qualcomm-based Quectel modules
/// (EC20 R1 on MDM9615; EC25, EC21, EG25-G and EC20 R2 on MDM9x07).
#[derive(Debug, Parser)]
#[command(name = "modemflash", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 success, 1 failure, 2 invalid package, 3 no module found, 4 declined at the prompt,\n\
64 usage error, 130 stopped by Ctrl-C or SIGTERM (resumable). With --json every failure ends with one\n\
`result` object on stdout.\n\
Start with `modemflash inspect PKG` to see what a firmware package is and whether it is complete.\n\
`modemflash sim --model ec20-r1 --start-mode fastboot` runs a virtual module to practise on."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Update a virtual EC20 R1 with a sample package: the whole flow, no hardware needed.
    Demo(cmd::demo::DemoCmd),
    Inspect(cmd::inspect::InspectArgs),
    Plan(cmd::plan::PlanCmd),
    Update(cmd::update::UpdateCmd),
    Backup(cmd::backup::BackupCmd),
    Restore(cmd::restore::RestoreCmd),
    Sim(cmd::sim::SimArgs),
    List(cmd::list::ListArgs),
    Info(cmd::info::InfoArgs),
    Doctor(cmd::doctor::DoctorArgs),
    Report(cmd::report::ReportArgs),
    Setup(cmd::setup::SetupArgs),
    Completions(cmd::completions::CompletionsArgs),
    Manpage(cmd::manpage::ManpageArgs),
}

fn main() -> ExitCode {
    // Whether the caller asked for machine output, also when the rest does not parse.
    let json = std::env::args().skip(1).take_while(|a| a != "--").any(|a| a == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            if code == exit::USAGE {
                let text = e.render().to_string();
                tell!("{}", text.trim_end());
                let first = text.lines().next().unwrap_or("bad arguments");
                let mut r = out::RunResult::new(code);
                let message = first.strip_prefix("error: ").unwrap_or(first).to_owned();
                r.error = Some(message.clone());
                r.problems.push(out::Problem { at: None, message });
                r.remedy = Some("see `modemflash --help` or `modemflash SUBCOMMAND --help`".into());
                if json {
                    r.emit();
                }
            } else {
                say!("{}", e.render().to_string().trim_end());
            }
            return ExitCode::from(code);
        }
    };
    let code = match cli.command {
        Command::Demo(args) => cmd::demo::run(&args),
        Command::Inspect(args) => cmd::inspect::run(&args),
        Command::Plan(args) => cmd::plan::run(&args),
        Command::Update(args) => cmd::update(&args),
        Command::Backup(args) => cmd::backup::run(&args),
        Command::Restore(args) => cmd::restore::run(&args),
        Command::Sim(args) => cmd::sim::run(&args),
        Command::List(args) => cmd::list::run(&args),
        Command::Info(args) => cmd::info::run(&args),
        Command::Doctor(args) => cmd::doctor::run(&args),
        Command::Report(args) => cmd::report::run(&args),
        Command::Setup(args) => cmd::setup::run(&args),
        Command::Completions(args) => cmd::completions::completions(&args),
        Command::Manpage(args) => cmd::manpage::run(&args),
    };
    if json {
        out::finish_json(code);
    }
    ExitCode::from(code)
}
