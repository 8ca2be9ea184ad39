//! `modemflash manpage [--dir DIR]`: man pages generated from the command definitions
//! (clap_mangen).

use std::path::PathBuf;

use clap::{Args, CommandFactory};

use crate::{Cli, exit};

/// Print the man page, or write one page per subcommand into a directory.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
  modemflash manpage | man -l -\n  \
  modemflash manpage --dir target/man     # modemflash.1, modemflash-list.1, ...")]
pub struct ManpageArgs {
    /// Write modemflash.1 and modemflash-SUBCOMMAND.1 into DIR.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn run(args: &ManpageArgs) -> u8 {
    let cmd = Cli::command();
    let r = if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(cmd, dir))
    } else {
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut buf).map(|()| crate::out::out_bytes(&buf))
    };
    match r {
        Ok(()) => exit::OK,
        Err(e) => {
            error!("cannot write the man page: {e}");
            exit::FAILED
        }
    }
}
