//! Normal-mode DIAG on the DM port, both models (`docs/facts/hdlc-diag.md`;
//! `docs/facts/dmss.md`).
//!
//! - Requests come with or without a leading `7E`; replies carry none (`13 06 88 D5 7E`).
//! - `7C` EXT_BUILD_ID → the running revision (another model's under `wrong-model`, another
//!   MSM id under `wrong-chip-id`).
//! - `3A` DLOAD → echo, then the module re-enumerates in download mode: DMSS on the EC20 R1;
//!   on the EC25 the legacy Quectel tool uses the same command to reach Sahara
//!   (`docs/facts/quectel.md` B [confirmed]), so it re-enumerates in EDL.
//! - `4B 65 01 00` → echo and EDL on the EC25; the EC20 R1 (MDM9615 has no EDL) rejects it
//!   as a bad command.
//! - `26` NV_READ → the item from the module's NV store (`nv.rs`: the instance's IMEI in
//!   item 550), or the same layout with status 5 "inactive" for an item that is not set
//!   (`docs/facts/hdlc-diag.md`).
//! - Anything else, including a raw DMSS NOP, → the bad-command echo `13 <request>`, which
//!   is how `DmssClient::probe` recognises normal mode.

use modemflash::protocol::diag::codec::{
    DiagReply, DiagRequest, ExtBuildId, RejectKind, encode_reply, parse_request, reject,
};
use modemflash::protocol::diag::nv::{CMD_NV_READ, NvStatus, encode_nv, parse_nv};
use modemflash::protocol::diag::{DiagError, EDL_REQUEST};
use modemflash::protocol::hdlc::{Decoder, encode};

use super::common::{SWITCH_DELAY, Verdict, check, model_name, reported_revision};
use crate::boot::Model;
use crate::fault::FaultKind;
use crate::handler::{Cx, Handler, ResetTo};
use modemflash::module::DeviceMode;

/// EXT_BUILD_ID reply format version. [inferred] the layout is known, the value is not.
const BUILD_ID_VERSION: u8 = 1;

/// MSM hardware id in EXT_BUILD_ID. The MDM9x07 value is the MSM_ID part of the Sahara HW
/// id `0x000480E100000000` (`docs/facts/firehose.md`); that the DIAG field carries the same
/// value is [inferred], and the MDM9615 value is made up [inferred].
pub fn msm_id(model: Model) -> u32 {
    match model {
        Model::Ec20R1 => 0x0000_72E1,
        Model::Ec25 => 0x0004_80E1,
    }
}

/// The normal-mode DIAG task.
#[derive(Debug)]
pub struct Diag {
    model: Model,
    decoder: Decoder,
}

impl Diag {
    pub fn new(model: Model) -> Self {
        Diag { model, decoder: Decoder::default() }
    }

    fn reply(cx: &mut Cx<'_>, payload: &[u8]) {
        cx.send(encode(payload, false));
    }

    fn ext_build_id(&self, cx: &mut Cx<'_>) -> Vec<u8> {
        let revision = reported_revision(cx);
        let msm = if cx.has_fault(&FaultKind::WrongChipId) {
            // Another chip's id: the other simulated model's.
            match self.model {
                Model::Ec20R1 => msm_id(Model::Ec25),
                Model::Ec25 => msm_id(Model::Ec20R1),
            }
        } else {
            msm_id(self.model)
        };
        let model = model_name(self.model, &revision);
        encode_reply(&DiagReply::ExtBuildId(ExtBuildId {
            version: BUILD_ID_VERSION,
            reserved: [0, 0],
            msm_hw_version: msm,
            mobile_model: 0,
            revision,
            // [inferred] the model string after the revision.
            extra: vec![model],
        }))
    }

    /// NV_READ: the stored item, or status "inactive".
    fn nv_read(payload: &[u8], cx: &mut Cx<'_>) {
        let Ok(req) = parse_nv(payload) else {
            return Self::reply(cx, &reject(RejectKind::BadLength, payload));
        };
        let reply = match cx.core.nv.get(req.item) {
            Some(data) => encode_nv(CMD_NV_READ, req.item, data, NvStatus::Ok),
            None => encode_nv(CMD_NV_READ, req.item, &[], NvStatus::Inactive),
        };
        Self::reply(cx, &reply);
    }

    /// Echo a mode switch and leave for `mode`.
    fn switch(cx: &mut Cx<'_>, echo: &[u8], mode: DeviceMode) {
        Self::reply(cx, echo);
        cx.log(format!("DIAG: switching to {} mode", mode.key()));
        cx.reset(ResetTo::Mode(mode), SWITCH_DELAY);
    }

    fn handle(&mut self, payload: &[u8], cx: &mut Cx<'_>) {
        let req = match parse_request(payload) {
            Ok(r) => r,
            Err(DiagError::Short { .. } | DiagError::Long { .. }) => {
                return Self::reply(cx, &reject(RejectKind::BadLength, payload));
            }
            Err(_) => return Self::reply(cx, &reject(RejectKind::BadCommand, payload)),
        };
        let step = match &req {
            DiagRequest::ExtBuildId => "diag:ext-build-id",
            DiagRequest::Dload => "diag:dload",
            DiagRequest::Edl => "diag:edl",
            DiagRequest::Subsys { .. } => "diag:subsys",
            DiagRequest::Other(p) if p.first() == Some(&CMD_NV_READ) => "diag:nv-read",
            DiagRequest::Other(_) => "diag:other",
        };
        match check(cx, step) {
            Verdict::Go => {}
            Verdict::Nak => return Self::reply(cx, &reject(RejectKind::BadMode, payload)),
            Verdict::PowerLoss | Verdict::Disconnect | Verdict::Stop => return,
        }
        match req {
            DiagRequest::ExtBuildId => {
                let reply = self.ext_build_id(cx);
                Self::reply(cx, &reply);
            }
            DiagRequest::Dload => {
                let mode = match self.model {
                    Model::Ec20R1 => DeviceMode::Dload,
                    Model::Ec25 => DeviceMode::Edl,
                };
                Self::switch(cx, &encode_reply(&DiagReply::Dload), mode);
            }
            DiagRequest::Edl if self.model == Model::Ec25 => Self::switch(cx, &EDL_REQUEST, DeviceMode::Edl),
            DiagRequest::Other(p) if p.first() == Some(&CMD_NV_READ) => Self::nv_read(&p, cx),
            DiagRequest::Edl | DiagRequest::Subsys { .. } | DiagRequest::Other(_) => {
                Self::reply(cx, &reject(RejectKind::BadCommand, payload));
            }
        }
    }
}

impl Handler for Diag {
    fn on_data(&mut self, data: &[u8], cx: &mut Cx<'_>) {
        for frame in self.decoder.feed_collect(data) {
            match frame {
                Ok(payload) => self.handle(&payload, cx),
                // The DIAG task drops frames that fail their CRC.
                Err(e) => cx.log(format!("DIAG: dropped a bad frame: {e}")),
            }
        }
    }
}
