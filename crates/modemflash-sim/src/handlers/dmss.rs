//! EC20 R1 (MDM9615) DMSS download mode on the DM port (`docs/facts/dmss.md`–docs/facts/dmss.md): the boot ROM that takes the streaming programmer into
//! RAM with WRITE_32BIT and starts it with GO.
//!
//! Replies are framed with a leading `7E`, as the PBL/hostdl do (`7E 02 6A D3 7E` is what
//! the Quectel probe looks for).

use std::time::Duration;

use modemflash::protocol::dmss::DmssError;
use modemflash::protocol::dmss::codec::{
    DmssReply, DmssRequest, NakReason, Params, encode_reply, parse_request,
};
use modemflash::protocol::hdlc::{Decoder, encode};

use super::common::{SWITCH_DELAY, Verdict, check};
use crate::fault::FaultKind;
use crate::handler::{Cx, Handler, ResetTo};
use modemflash::module::DeviceMode;

/// Largest WRITE_32BIT data length accepted, also announced in PARAM_RESP. [inferred]
/// Quectel sends 1017 bytes per packet and another tool 1024 (`docs/facts/dmss.md`), so
/// the ROM takes at least 1024.
pub const MAX_WRITE: usize = 1024;

/// PARAM_RESP as the 9615 ROM answers it. Version 8 / min 1 follow the protocol revision
/// list (rev 8 covers commands 01–18, `docs/facts/dmss.md`); model, device size and type
/// are not recorded anywhere [inferred].
pub const PARAMS: Params = Params {
    version: 8,
    min_version: 1,
    max_write_size: MAX_WRITE as u16,
    model: 0x90,
    device_size: 0,
    device_type: 0,
};

/// Model byte reported under the `wrong-chip-id` fault [inferred].
pub const WRONG_CHIP_MODEL: u8 = 0x61;

/// SW_VERSION_RESP text [inferred] inferred (no capture).
pub const SW_VERSION: &str = "PBL_DloadVER2.0";

/// How long after ACKing GO the programmer takes over the port. [inferred] inferred.
pub const GO_DELAY: Duration = Duration::from_millis(200);

/// The DMSS download-mode target.
#[derive(Debug, Default)]
pub struct Dmss {
    decoder: Decoder,
}

impl Dmss {
    pub fn new() -> Self {
        Self::default()
    }

    fn reply(cx: &mut Cx<'_>, reply: &DmssReply) {
        cx.send(encode(&encode_reply(reply), true));
    }

    fn nak(cx: &mut Cx<'_>, reason: NakReason) {
        Self::reply(cx, &DmssReply::Nak(reason));
    }

    fn handle(cx: &mut Cx<'_>, payload: &[u8]) {
        let req = match parse_request(payload) {
            Ok(r) => r,
            Err(DmssError::Short { .. }) => return Self::nak(cx, NakReason::UNEXPECTED_END),
            Err(DmssError::Long { .. }) => return Self::nak(cx, NakReason::INVALID_LENGTH),
            Err(e) => {
                cx.log(format!("DMSS: refused {payload:02x?}: {e}"));
                return Self::nak(cx, NakReason::INVALID_COMMAND);
            }
        };
        let step = match &req {
            DmssRequest::Nop => "dmss:nop",
            DmssRequest::ParamReq => "dmss:params",
            DmssRequest::SwVersionReq => "dmss:sw-version",
            DmssRequest::Write32 { .. } => "dmss:write",
            DmssRequest::Go { .. } => "dmss:go",
            DmssRequest::Reset => "dmss:reset",
        };
        match check(cx, step) {
            Verdict::Go => {}
            Verdict::Nak => return Self::nak(cx, NakReason::FAILED),
            Verdict::PowerLoss | Verdict::Disconnect | Verdict::Stop => return,
        }
        match req {
            DmssRequest::Nop => Self::reply(cx, &DmssReply::Ack),
            DmssRequest::ParamReq => {
                let mut params = PARAMS;
                if cx.has_fault(&FaultKind::WrongChipId) {
                    params.model = WRONG_CHIP_MODEL;
                }
                Self::reply(cx, &DmssReply::Params(params));
            }
            DmssRequest::SwVersionReq => Self::reply(cx, &DmssReply::SwVersion(SW_VERSION.into())),
            DmssRequest::Write32 { addr, data } => {
                if data.len() > MAX_WRITE {
                    return Self::nak(cx, NakReason::INVALID_LENGTH);
                }
                if !cx.core.ram_write(addr, &data) {
                    cx.log(format!("DMSS: RAM full, refused {} bytes at {addr:#010x}", data.len()));
                    return Self::nak(cx, NakReason::INVALID_LENGTH);
                }
                Self::reply(cx, &DmssReply::Ack);
            }
            DmssRequest::Go { addr } => {
                if !cx.core.ram_entry_ok(addr) {
                    cx.log(format!("DMSS: GO {addr:#010x} is not the start of anything written"));
                    return Self::nak(cx, NakReason::INVALID_ADDRESS);
                }
                let bytes: usize = cx.core.ram.values().map(Vec::len).sum();
                cx.log(format!("DMSS: GO {addr:#010x}: starting the programmer ({bytes} bytes in RAM)"));
                Self::reply(cx, &DmssReply::Ack);
                cx.reset(ResetTo::Mode(DeviceMode::Streaming), GO_DELAY);
            }
            DmssRequest::Reset => {
                Self::reply(cx, &DmssReply::Ack);
                cx.reset(ResetTo::Boot, SWITCH_DELAY);
            }
        }
    }
}

impl Handler for Dmss {
    fn on_data(&mut self, data: &[u8], cx: &mut Cx<'_>) {
        for frame in self.decoder.feed_collect(data) {
            match frame {
                Ok(payload) => Self::handle(cx, &payload),
                Err(e) => {
                    cx.log(format!("DMSS: bad frame: {e}"));
                    Self::nak(cx, NakReason::INVALID_FCS);
                }
            }
        }
    }
}
