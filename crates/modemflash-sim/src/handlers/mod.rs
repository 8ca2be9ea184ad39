//! Device-side protocol handlers, one per (model, mode, role).

use crate::boot::Model;
use crate::bus::{Role, SimMode};
use crate::handler::{Cx, Handler};

/// The handler for an endpoint.
pub fn make(model: Model, mode: SimMode, role: Role) -> Box<dyn Handler> {
    let _ = (model, mode, role);
    Box::new(Pending)
}

/// Handler slot not written yet: logs what arrives and never answers.
struct Pending;

impl Handler for Pending {
    fn on_data(&mut self, data: &[u8], cx: &mut Cx<'_>) {
        cx.log(format!("no handler for this endpoint yet; ignored {} bytes", data.len()));
    }
}
