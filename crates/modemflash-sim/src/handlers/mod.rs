//! Device-side protocol handlers, one per (model, mode, role).

pub mod at;
pub mod common;
pub mod diag;
pub mod dmss;
pub mod edl;
pub mod fastboot;
pub(crate) mod fastboot_flash;
pub mod firehose;
mod firehose_read;
pub mod streaming;

use crate::boot::Model;
use crate::handler::{Cx, Handler};
use modemflash::module::{DeviceMode, Port};

/// The handler for an endpoint.
pub fn make(model: Model, mode: DeviceMode, role: Port) -> Box<dyn Handler> {
    match (model, mode, role) {
        (_, DeviceMode::Fastboot, Port::Fastboot) => Box::new(fastboot::Fastboot::new(model)),
        (_, DeviceMode::Normal, Port::Dm) => Box::new(diag::Diag::new(model)),
        (_, DeviceMode::Normal, Port::At) => Box::new(at::At::new(model)),
        (Model::Ec20R1, DeviceMode::Dload, Port::Dm) => Box::new(dmss::Dmss::new()),
        (Model::Ec20R1, DeviceMode::Streaming, Port::Dm) => Box::new(streaming::Streaming::new()),
        (Model::Ec25, DeviceMode::Edl, Port::Edl) => Box::new(edl::EdlHandler::new()),
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
