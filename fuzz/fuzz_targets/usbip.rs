#![no_main]
//! The virtual module's USB/IP codec (what a host's vhci-hcd sends): no input may panic,
//! and every command that parses encodes back to a header that parses to the same command.
use libfuzzer_sys::fuzz_target;
use modemflash_sim::usbip::proto::{Command, DeviceInfo, OpHeader, parse_busid, parse_ret};

fuzz_target!(|data: &[u8]| {
    let _ = OpHeader::parse(data);
    let _ = parse_busid(data);
    let _ = DeviceInfo::parse(data);
    let _ = parse_ret(data);
    if let Ok((cmd, payload)) = Command::parse_header(data) {
        assert!(payload <= modemflash_sim::usbip::proto::MAX_TRANSFER as usize);
        let again = Command::parse_header(&cmd.encode_header()).map(|(c, _)| c);
        assert_eq!(again, Ok(cmd));
    }
});
