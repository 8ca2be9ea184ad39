//! One file per subcommand.

pub mod demo;
pub mod inspect;
pub mod plan;
pub mod target;
pub mod update;
