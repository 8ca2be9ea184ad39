//! Fault switches: make the virtual module fail the way real ones do, at a chosen moment.
//!
//! Syntax (library [`Fault::parse`] and `modemflash sim --fault`):
//!
//! | Switch | Effect |
//! |---|---|
//! | `disconnect@bytes=N` | drop off the bus (power cycle) after the host sent N bytes to the current mode |
//! | `disconnect@step=NAME` | … when the module reaches step NAME |
//! | `corrupt@frame=N` | flip a byte in the Nth reply the module sends |
//! | `nak@cmd=N` / `nak@step=NAME` | refuse the Nth command (or the named step) with the protocol's error |
//! | `stall@step=NAME` / `stall@cmd=N` | stop answering from then on (until a power cycle) |
//! | `slow-reenum=SECS` | re-enumerate SECS seconds after a reset instead of the default |
//! | `power-loss@step=NAME` / `power-loss@bytes=N` | lose power in the middle of a write: the partition is left partial |
//! | `wrong-chip-id` | report a different MSM id (DMSS/Sahara/DIAG) |
//! | `wrong-model` | report another model's revision |
//! | `wipe-nv` | the first erase or partition write of an update also wipes the NV items (IMEI, calibration), as users report of EG25 recovery flashes (Biktorgj/quectel_eg25_recovery #25); DIAG NV reads then answer "inactive" |
//! | `fragile-rom` | EC25 in EDL: one byte that is not a Sahara packet before HELLO_RESP puts the boot ROM in an error state that only a power cycle clears |
//!
//! `fragile-rom` models what edl users report on real boot ROMs (bkerler/edl #335, #398,
//! #752): a Sahara target that received stray bytes answers nothing more until power is
//! cycled. [I] which bytes trigger it on which ROM is not recorded; the switch takes the
//! strictest reading (any non-Sahara byte, including a one-byte nudge).
//!
//! Step names are `<protocol>:<what>`, e.g. `diag:dload`, `dmss:go`, `streaming:open:0:SBL1`,
//! `streaming:write:0:APPSBL`, `fastboot:flash:boot`, `firehose:program:sbl`, `sahara:read`.
//! A step name matches when it starts with NAME. Each fault fires once.

use std::time::Duration;

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    Disconnect,
    CorruptFrame,
    Nak,
    Stall,
    PowerLoss,
    WrongChipId,
    WrongModel,
    FragileRom,
    WipeNv,
    SlowReenum(Duration),
}

/// When it goes wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    AfterBytes(u64),
    AtStep(String),
    NthCommand(u64),
    NthFrame(u64),
    Always,
}

/// One fault switch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fault {
    pub kind: FaultKind,
    pub trigger: Trigger,
}

impl Fault {
    /// Parse a switch (see the module docs).
    pub fn parse(s: &str) -> Result<Fault, String> {
        let s = s.trim();
        if let Some(secs) = s.strip_prefix("slow-reenum=") {
            let secs: f64 = secs.parse().map_err(|_| format!("slow-reenum needs seconds, got {secs:?}"))?;
            if !(0.0..=3600.0).contains(&secs) {
                return Err("slow-reenum must be between 0 and 3600 seconds".into());
            }
            return Ok(Fault {
                kind: FaultKind::SlowReenum(Duration::from_secs_f64(secs)),
                trigger: Trigger::Always,
            });
        }
        match s {
            "wrong-chip-id" => return Ok(Fault { kind: FaultKind::WrongChipId, trigger: Trigger::Always }),
            "fragile-rom" => return Ok(Fault { kind: FaultKind::FragileRom, trigger: Trigger::Always }),
            "wrong-model" => return Ok(Fault { kind: FaultKind::WrongModel, trigger: Trigger::Always }),
            "wipe-nv" => return Ok(Fault { kind: FaultKind::WipeNv, trigger: Trigger::Always }),
            _ => {}
        }
        let (kind, trig) =
            s.split_once('@').ok_or_else(|| format!("{s:?}: expected KIND@TRIGGER, e.g. nak@cmd=3"))?;
        let kind = match kind {
            "disconnect" => FaultKind::Disconnect,
            "corrupt" => FaultKind::CorruptFrame,
            "nak" => FaultKind::Nak,
            "stall" => FaultKind::Stall,
            "power-loss" => FaultKind::PowerLoss,
            other => {
                return Err(format!(
                    "unknown fault {other:?} (disconnect, corrupt, nak, stall, power-loss, slow-reenum, wrong-chip-id, wrong-model, fragile-rom, wipe-nv)"
                ));
            }
        };
        let (key, value) = trig
            .split_once('=')
            .ok_or_else(|| format!("{trig:?}: expected bytes=N, step=NAME, cmd=N or frame=N"))?;
        let num = || value.parse::<u64>().map_err(|_| format!("{key}= needs a number, got {value:?}"));
        let trigger = match key {
            "bytes" => Trigger::AfterBytes(num()?),
            "step" if !value.is_empty() => Trigger::AtStep(value.to_owned()),
            "cmd" => Trigger::NthCommand(num()?),
            "frame" => Trigger::NthFrame(num()?),
            other => return Err(format!("unknown trigger {other:?} (bytes, step, cmd, frame)")),
        };
        Ok(Fault { kind, trigger })
    }
}

/// Fault bookkeeping for one module.
#[derive(Debug, Clone, Default)]
pub struct FaultState {
    pending: Vec<Fault>,
    /// Bytes received in the current mode.
    pub bytes: u64,
    /// Commands handled since power-on.
    pub commands: u64,
    /// Replies sent since power-on.
    pub frames: u64,
    /// Set once a stall fired.
    pub stalled: bool,
    /// Faults that fired, for the log.
    pub fired: Vec<Fault>,
}

impl FaultState {
    pub fn new(faults: Vec<Fault>) -> Self {
        FaultState { pending: faults, ..Default::default() }
    }

    /// An always-on fault of this kind is configured.
    pub fn has(&self, kind: &FaultKind) -> bool {
        self.pending.iter().chain(&self.fired).any(|f| &f.kind == kind && f.trigger == Trigger::Always)
    }

    /// Extra re-enumeration delay, if configured.
    pub fn slow_reenum(&self) -> Option<Duration> {
        self.pending.iter().find_map(|f| if let FaultKind::SlowReenum(d) = f.kind { Some(d) } else { None })
    }

    fn take(&mut self, pred: impl Fn(&Fault) -> bool) -> Option<Fault> {
        let i = self.pending.iter().position(|f| f.trigger != Trigger::Always && pred(f))?;
        let f = self.pending.remove(i);
        self.fired.push(f.clone());
        Some(f)
    }

    /// A fault triggered by reaching `step`.
    pub fn at_step(&mut self, step: &str) -> Option<FaultKind> {
        self.take(|f| matches!(&f.trigger, Trigger::AtStep(s) if step.starts_with(s.as_str())))
            .map(|f| f.kind)
    }

    /// Count one command; a fault triggered by its number.
    pub fn on_command(&mut self) -> Option<FaultKind> {
        self.commands += 1;
        let n = self.commands;
        self.take(|f| f.trigger == Trigger::NthCommand(n)).map(|f| f.kind)
    }

    /// Count received bytes; a fault triggered by the total.
    pub fn on_bytes(&mut self, n: usize) -> Option<FaultKind> {
        self.bytes += n as u64;
        let total = self.bytes;
        self.take(|f| matches!(f.trigger, Trigger::AfterBytes(b) if total >= b)).map(|f| f.kind)
    }

    /// Count one reply; a fault triggered by its number.
    pub fn on_frame(&mut self) -> Option<FaultKind> {
        self.frames += 1;
        let n = self.frames;
        self.take(|f| f.trigger == Trigger::NthFrame(n)).map(|f| f.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_switches() {
        assert_eq!(
            Fault::parse("nak@cmd=3").unwrap(),
            Fault { kind: FaultKind::Nak, trigger: Trigger::NthCommand(3) }
        );
        assert_eq!(
            Fault::parse("power-loss@step=streaming:write:0:APPSBL").unwrap().trigger,
            Trigger::AtStep("streaming:write:0:APPSBL".into())
        );
        assert_eq!(
            Fault::parse("slow-reenum=60").unwrap().kind,
            FaultKind::SlowReenum(Duration::from_secs(60))
        );
        assert!(Fault::parse("explode@now").is_err());
        assert!(Fault::parse("nak@cmd=x").is_err());
        assert!(Fault::parse("nak").is_err());
    }

    #[test]
    fn faults_fire_once() {
        let mut s = FaultState::new(vec![Fault::parse("nak@step=fastboot:flash").unwrap()]);
        assert_eq!(s.at_step("fastboot:getvar"), None);
        assert_eq!(s.at_step("fastboot:flash:boot"), Some(FaultKind::Nak));
        assert_eq!(s.at_step("fastboot:flash:boot"), None);
        let mut s = FaultState::new(vec![Fault::parse("disconnect@bytes=10").unwrap()]);
        assert_eq!(s.on_bytes(6), None);
        assert_eq!(s.on_bytes(6), Some(FaultKind::Disconnect));
    }
}
