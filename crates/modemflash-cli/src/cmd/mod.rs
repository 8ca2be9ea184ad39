//! One file per subcommand.

pub mod backup;
pub mod completions;
pub mod demo;
pub mod doctor;
pub mod host;
pub mod info;
pub mod inspect;
pub mod list;
pub mod manpage;
pub mod plan;
pub mod redact;
pub mod report;
pub mod restore;
pub mod session;
pub mod setup;
pub mod sim;
pub mod target;
pub mod update;
pub mod update_many;
pub mod update_view;

/// `update`: one module, or several at once (`update_many`) when the flags name more.
pub fn update(args: &update::UpdateCmd) -> u8 {
    match args.endpoints.single() {
        Some(endpoints) => update::run(args, &endpoints),
        None => update_many::run(args),
    }
}
