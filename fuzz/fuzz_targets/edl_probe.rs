#![no_main]
//! The EDL probe (what answers on 05c6:9008: a boot ROM or a running Firehose programmer)
//! must never panic, whatever the interface sends, split however.
use libfuzzer_sys::fuzz_target;
use modemflash::transport::Transport;

#[path = "../common/replay.rs"]
mod replay;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else { return };
    let mut link: Box<dyn Transport> = Box::new(replay::Replay::new(rest, usize::from(ctl) * 31 + 1));
    let _ = modemflash::exec::probe_edl(&mut link);
});
