//! One file per subcommand.

pub mod inspect;
pub mod sim;
