//! A module's identity read in normal mode: the revision through DIAG 0x7C (extended build
//! ID) on the DM port and through `ATI`/`AT+CGMR`, the full version through `AT+QGMR`, the
//! IMEI through `AT+GSN` (`docs/facts/quectel.md`). Each source is tried on its own; what
//! fails is kept as a note, so a module with only one working port still gets identified.

use std::time::Duration;

use serde::Serialize;

use crate::catalog::{Chipset, Revision};
use crate::protocol::at::AtClient;
use crate::protocol::diag::DiagClient;
use crate::transport::Transport;

/// Time allowed for DIAG replies during identification (shorter than a flash step's: a
/// silent DM port should not hold `info` up for long).
pub const DIAG_IDENTIFY_TIMEOUT: Duration = Duration::from_secs(2);
/// Time allowed for `AT+GSN`.
pub const IMEI_TIMEOUT: Duration = Duration::from_millis(1500);

/// What a module says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// Firmware revision (`EC25EFAR06A11M4G`).
    pub revision: Option<String>,
    /// Full version with sub-edition, from `AT+QGMR` (`EC25EFAR06A11M4G_01.001.01.001`).
    pub full_revision: Option<String>,
    /// Model from the revision (`EC25`).
    pub model: Option<String>,
    /// Chipset the revision implies.
    pub chipset: Option<Chipset>,
    /// IMEI, when `AT+GSN` answers.
    pub imei: Option<String>,
    /// MSM hardware version and mobile model number from DIAG 0x7C.
    pub msm_hw_version: Option<u32>,
    pub mobile_model: Option<u32>,
    /// Where each fact came from (`DIAG 0x7C on /dev/ttyUSB0`).
    pub sources: Vec<String>,
    /// What was tried and failed.
    pub notes: Vec<String>,
}

impl Identity {
    /// Whether anything was learnt.
    pub fn is_empty(&self) -> bool {
        self.revision.is_none() && self.imei.is_none() && self.msm_hw_version.is_none()
    }

    fn set_revision(&mut self, rev: &str) {
        if self.revision.is_none() {
            let r = Revision::parse(rev);
            self.chipset = Some(r.chipset());
            self.model = r.model;
            self.revision = Some(rev.to_owned());
        }
    }
}

/// The IMEI in `AT+GSN`/`AT+CGSN` lines: 14 to 17 digits, with or without a `+CGSN:`
/// prefix and quotes.
pub fn parse_imei<S: AsRef<str>>(lines: &[S]) -> Option<String> {
    lines.iter().find_map(|l| {
        let l = l.as_ref().trim();
        let l = l.strip_prefix("+CGSN:").or_else(|| l.strip_prefix("+GSN:")).unwrap_or(l);
        let l = l.trim().trim_matches('"');
        (14..=17)
            .contains(&l.len())
            .then_some(())
            .filter(|()| l.bytes().all(|b| b.is_ascii_digit()))
            .map(|()| l.to_owned())
    })
}

/// Read the identity through whichever ports are given.
pub fn identify(dm: Option<Box<dyn Transport>>, at: Option<Box<dyn Transport>>) -> Identity {
    let mut id = Identity::default();
    if let Some(t) = dm {
        let name = t.info().endpoint.clone();
        let mut diag = DiagClient::new(t);
        diag.set_reply_timeout(DIAG_IDENTIFY_TIMEOUT);
        match diag.ext_build_id() {
            Ok(b) => {
                id.msm_hw_version = Some(b.msm_hw_version);
                id.mobile_model = Some(b.mobile_model);
                if !b.revision.is_empty() {
                    id.set_revision(&b.revision);
                }
                id.sources.push(format!("DIAG 0x7C on {name}"));
            }
            Err(e) => id.notes.push(format!("DIAG 0x7C on {name}: {e}")),
        }
    }
    if let Some(t) = at {
        let name = t.info().endpoint.clone();
        let mut at = AtClient::new(t);
        match at.revision() {
            Ok(rev) => {
                id.set_revision(&rev);
                id.sources.push(format!("ATI on {name}"));
            }
            Err(e) => id.notes.push(format!("ATI/AT+CGMR on {name}: {e}")),
        }
        match at.full_revision() {
            Ok(full) => {
                id.full_revision = Some(full.full);
                id.sources.push(format!("AT+QGMR on {name}"));
            }
            Err(e) => id.notes.push(format!("AT+QGMR on {name}: {e}")),
        }
        match at.command("AT+GSN", IMEI_TIMEOUT) {
            Ok(resp) => match parse_imei(&resp.lines) {
                Some(imei) => {
                    id.imei = Some(imei);
                    id.sources.push(format!("AT+GSN on {name}"));
                }
                None => id.notes.push(format!("AT+GSN on {name}: no IMEI in {:?}", resp.lines)),
            },
            Err(e) => id.notes.push(format!("AT+GSN on {name}: {e}")),
        }
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imei_lines() {
        assert_eq!(parse_imei(&["867698040000001"]), Some("867698040000001".into()));
        assert_eq!(parse_imei(&["+CGSN: \"867698040000001\""]), Some("867698040000001".into()));
        assert_eq!(parse_imei(&["Quectel", "12345"]), None);
        assert_eq!(parse_imei::<&str>(&[]), None);
    }

    #[test]
    fn silent_ports_give_an_empty_identity_with_notes() {
        let (host, _dev) = crate::transport::memory::stream_pair("dm");
        let t0 = std::time::Instant::now();
        let id = identify(Some(Box::new(host)), None);
        assert!(id.is_empty());
        assert_eq!(id.notes.len(), 1, "{:?}", id.notes);
        assert!(t0.elapsed() < Duration::from_secs(10));
    }
}
