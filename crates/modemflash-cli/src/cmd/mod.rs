//! One file per subcommand.

pub mod demo;
pub mod inspect;
pub mod plan;
pub mod sim;
pub mod target;
pub mod update;
