//! Normal-mode AT port, both models (`docs/facts/quectel.md`, "AT commands on a real EG25-G").
//!
//! - Replies are framed `\r\n<line>\r\n … \r\nOK\r\n`; unknown commands get a bare
//!   `\r\nERROR\r\n` [confirmed].
//! - Echo is on after power-up, as on real modules (`ATE0`/`ATE1` switch it); the fwupd
//!   capture had it off because the host had sent `ATE0` [inferred].
//! - `ATI` → `Quectel` / model / `Revision: <rev>` [confirmed]; `AT+CGMR`, `AT+GMR` → the bare
//!   revision [inferred][inferred]; `AT+QGMR` → revision + sub-edition on the EC25 [inferred], `ERROR` on the
//!   EC20 R1 [inferred].
//! - `AT+GSN`, `AT+CGSN` → the module's own IMEI (`SimIdentity`).
//! - `AT+QFASTBOOT` → fastboot when the firmware has it (see `ModuleConfig::qfastboot`),
//!   answering `OK` first unless `qfastboot_silent` (the EG25 answers nothing [confirmed]).

use modemflash::protocol::at::codec::{FinalResult, LineSplitter, format_echo, format_response};

use super::common::{SWITCH_DELAY, Verdict, check, model_name, reported_revision};
use crate::boot::Model;
use crate::handler::{Cx, Handler, ResetTo};
use modemflash::module::DeviceMode;

/// Sub-edition `AT+QGMR` appends on the EC25: one seen on real EG25-G units
/// (`docs/facts/quectel.md` [confirmed]); which one a given unit reports is [inferred].
pub const QGMR_SUB_EDITION: &str = "01.001.01.001";

/// The AT command interpreter.
#[derive(Debug)]
pub struct At {
    model: Model,
    splitter: LineSplitter,
    echo: bool,
}

impl At {
    pub fn new(model: Model) -> Self {
        At { model, splitter: LineSplitter::new(), echo: true }
    }

    fn respond<S: AsRef<str>>(cx: &mut Cx<'_>, lines: &[S], result: &FinalResult) {
        cx.send(format_response(lines, result));
    }

    fn ok<S: AsRef<str>>(cx: &mut Cx<'_>, lines: &[S]) {
        Self::respond(cx, lines, &FinalResult::Ok);
    }

    fn error(cx: &mut Cx<'_>) {
        Self::respond::<&str>(cx, &[], &FinalResult::Error);
    }

    fn handle(&mut self, line: &str, cx: &mut Cx<'_>) {
        if self.echo {
            cx.send(format_echo(line));
        }
        let upper = line.trim().to_ascii_uppercase();
        let Some(body) = upper.strip_prefix("AT") else {
            // Not a command at all (line noise): real modules stay silent.
            return;
        };
        let name = body.trim_start_matches('+').to_ascii_lowercase();
        let step = if name.is_empty() { "at:at".to_owned() } else { format!("at:{name}") };
        match check(cx, &step) {
            Verdict::Go => {}
            Verdict::Nak => return Self::error(cx),
            Verdict::PowerLoss | Verdict::Disconnect | Verdict::Stop => return,
        }
        match body {
            "" => Self::ok::<&str>(cx, &[]),
            "E0" | "E" => {
                self.echo = false;
                Self::ok::<&str>(cx, &[]);
            }
            "E1" => {
                self.echo = true;
                Self::ok::<&str>(cx, &[]);
            }
            "I" | "I0" => {
                let rev = reported_revision(cx);
                let model = model_name(self.model, &rev);
                Self::ok(cx, &["Quectel".to_owned(), model, format!("Revision: {rev}")]);
            }
            "+CGMR" | "+GMR" => {
                let rev = reported_revision(cx);
                Self::ok(cx, &[rev]);
            }
            "+QGMR" => match self.model {
                Model::Ec20R1 => Self::error(cx),
                Model::Ec25 => {
                    let rev = reported_revision(cx);
                    Self::ok(cx, &[format!("{rev}_{QGMR_SUB_EDITION}")]);
                }
            },
            "+QCFG=\"SECBOOTSTAT\"" if self.model == Model::Ec25 => {
                // Secure boot off (`docs/facts/quectel.md` [confirmed]).
                Self::ok(cx, &["+QCFG: \"secbootstat\",0"]);
            }
            // The IMEI, bare, as Quectel's identification reads it [confirmed, Quectel's tools
            // read it with AT+GSN]; `+CGSN` is the 3GPP name.
            "+GSN" | "+CGSN" => {
                let imei = cx.core.config.identity.imei.clone();
                Self::ok(cx, &[imei]);
            }
            "+QFASTBOOT" => Self::qfastboot(cx),
            _ => Self::error(cx),
        }
    }

    fn qfastboot(cx: &mut Cx<'_>) {
        if !cx.core.config.qfastboot {
            cx.log("AT+QFASTBOOT: not in this firmware");
            return Self::error(cx);
        }
        if !cx.core.config.qfastboot_silent {
            Self::ok::<&str>(cx, &[]);
        }
        cx.log("AT+QFASTBOOT: rebooting into fastboot");
        cx.reset(ResetTo::Mode(DeviceMode::Fastboot), SWITCH_DELAY);
    }
}

impl Handler for At {
    fn on_data(&mut self, data: &[u8], cx: &mut Cx<'_>) {
        for line in self.splitter.feed_collect(data) {
            self.handle(&line, cx);
        }
    }
}
