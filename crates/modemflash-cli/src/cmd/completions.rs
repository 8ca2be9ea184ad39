//! `modemflash completions SHELL`: shell completions generated from the command
//! definitions (clap_complete).

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::{Cli, exit};

/// Print shell completions.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
  modemflash completions bash | sudo tee /usr/share/bash-completion/completions/modemflash\n  \
  modemflash completions zsh > ~/.zfunc/_modemflash\n  \
  modemflash completions fish > ~/.config/fish/completions/modemflash.fish")]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn completions(args: &CompletionsArgs) -> u8 {
    let mut cmd = Cli::command();
    // Generated into memory first: clap_complete panics on a failed write (`| head -1`).
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "modemflash", &mut buf);
    crate::out::out_bytes(&buf);
    exit::OK
}
