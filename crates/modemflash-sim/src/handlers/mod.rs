//! Device-side protocol handlers, one per (model, mode, role).

pub mod at;
pub mod common;
pub mod diag;
pub mod dmss;
pub mod edl;
pub mod fastboot;
mod fastboot_flash;
pub mod firehose;
mod firehose_read;
pub mod streaming;

use crate::boot::Model;
use crate::bus::{Role, SimMode};
use crate::handler::{Cx, Handler};

/// The handler for an endpoint.
pub fn make(model: Model, mode: SimMode, role: Role) -> Box<dyn Handler> {
    match (model, mode, role) {
        (_, SimMode::Fastboot, Role::Fastboot) => Box::new(fastboot::Fastboot::new(model)),
        (_, SimMode::Normal, Role::Dm) => Box::new(diag::Diag::new(model)),
        (_, SimMode::Normal, Role::At) => Box::new(at::At::new(model)),
        (Model::Ec20R1, SimMode::Dload, Role::Dm) => Box::new(dmss::Dmss::new()),
        (Model::Ec20R1, SimMode::Streaming, Role::Dm) => Box::new(streaming::Streaming::new()),
        (Model::Ec25, SimMode::Edl, Role::Edl) => Box::new(edl::EdlHandler::new()),
        _ => Box::new(Pending),
    }
}

/// Handler slot not written yet: logs what arrives and never answers.
struct Pending;

impl Handler for Pending {
    fn on_data(&mut self, data: &[u8], cx: &mut Cx<'_>) {
        cx.log(format!("no handler for this endpoint yet; ignored {} bytes", data.len()));
    }
}
