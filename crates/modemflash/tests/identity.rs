#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! `discovery::identity` against the virtual modules (DIAG 0x7C and AT over in-process ports).

use std::sync::Arc;
use std::time::Duration;

use modemflash::catalog::Chipset;
use modemflash::discovery::identity::identify;
use modemflash::module::{DeviceMode, Port};
use modemflash::transport::Transport;
use modemflash_sim::{Model, Module, ModuleConfig, VirtualClock};

fn start(model: Model) -> Module {
    let m = Module::start(ModuleConfig::new(model), Arc::new(VirtualClock::default()));
    m.bus().wait_for(&[DeviceMode::Normal], Duration::from_secs(60)).unwrap();
    m
}

#[test]
fn ec25_identity_through_diag_and_at() {
    let m = start(Model::Ec25);
    let dm: Box<dyn Transport> = Box::new(m.bus().open(Port::Dm).unwrap());
    let at: Box<dyn Transport> = Box::new(m.bus().open(Port::At).unwrap());
    let id = identify(Some(dm), Some(at));
    assert_eq!(id.revision.as_deref(), Some(m.revision().as_str()));
    assert_eq!(id.model.as_deref(), Some("EC25"));
    assert_eq!(id.chipset, Some(Chipset::Mdm9x07));
    assert!(id.full_revision.as_deref().is_some_and(|f| f.starts_with(&m.revision())), "{id:?}");
    assert!(id.msm_hw_version.is_some());
    assert!(id.sources.iter().any(|s| s.starts_with("DIAG 0x7C")), "{:?}", id.sources);
    // AT+GSN answers with this module's own IMEI.
    assert_eq!(id.imei, Some(m.with_core(|c| c.config.identity.imei.clone())));
    assert!(id.sources.iter().any(|s| s.starts_with("AT+GSN")), "{:?}", id.sources);
    m.shutdown();
}

#[test]
fn ec20_identity_through_diag_only_notes_what_failed() {
    let m = start(Model::Ec20R1);
    let dm: Box<dyn Transport> = Box::new(m.bus().open(Port::Dm).unwrap());
    let id = identify(Some(dm), None);
    assert_eq!(id.chipset, Some(Chipset::Mdm9615));
    assert_eq!(id.revision.as_deref(), Some(m.revision().as_str()));
    assert!(!id.is_empty());
    m.shutdown();
}
