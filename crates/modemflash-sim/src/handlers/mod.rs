//! Device-side protocol handlers, one per (model, mode, role).

pub mod fastboot;
mod fastboot_flash;

use crate::boot::Model;
use crate::bus::{Role, SimMode};
use crate::handler::{Cx, Handler};

/// The handler for an endpoint.
pub fn make(model: Model, mode: SimMode, role: Role) -> Box<dyn Handler> {
    match (model, mode, role) {
        (_, SimMode::Fastboot, Role::Fastboot) => Box::new(fastboot::Fastboot::new(model)),
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
