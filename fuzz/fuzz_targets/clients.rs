#![no_main]
//! Every protocol client's reply path: each client runs its commands against a device
//! whose answers are the fuzzer's bytes. None may panic or allocate by an unchecked length.
//! The first byte picks the client, the second the chunk size of the replies.
use std::io::Cursor;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use modemflash::protocol::at::AtClient;
use modemflash::protocol::diag::DiagClient;
use modemflash::protocol::dmss::DmssClient;
use modemflash::protocol::fastboot::client::{FastbootClient, FastbootOptions};
use modemflash::protocol::firehose::client::FirehoseClient;
use modemflash::protocol::firehose::{ConfigureOptions, EraseSpec, ProgramSpec};
use modemflash::protocol::sahara::client::{SaharaClient, SaharaTimeouts};
use modemflash::protocol::streaming::HelloOptions;
use modemflash::protocol::streaming::client::{StreamingClient, StreamingTimeouts};

#[path = "../common/replay.rs"]
mod replay;
use replay::Replay;

const T: Duration = Duration::from_millis(1);

fuzz_target!(|data: &[u8]| {
    let [which, chunk, rest @ ..] = data else { return };
    let link = Replay::new(rest, usize::from(*chunk) * 17 + 1);
    match which % 7 {
        0 => {
            let mut c = DiagClient::new(link);
            c.set_reply_timeout(T);
            let _ = c.ext_build_id();
            let _ = c.switch_to_dload();
            let _ = c.switch_to_edl();
            let _ = c.probe_bad_command();
        }
        1 => {
            let mut c = DmssClient::new(link);
            c.set_reply_timeout(T, 1);
            let _ = c.probe(T);
            let _ = c.nop();
            let _ = c.params();
            let _ = c.sw_version();
            let _ = c.write32(0x4100_0000, &[0u8; 64]);
            let _ = c.go(0x4100_0000, Some(T));
        }
        2 => {
            let timeouts = StreamingTimeouts {
                reply: T,
                write_attempts: 2,
                retry_delay: Duration::ZERO,
                unsupported_grace: T,
            };
            let mut c = StreamingClient::new(link).with_timeouts(timeouts);
            let _ = c.hello(&HelloOptions::QFLASH_9615);
            let _ = c.security_mode(true);
            let _ = c.partition_table(&[0u8; 32], false);
            let _ = c.open_multi("0:SBL1");
            let _ = c.write_image(&mut Cursor::new(vec![0u8; 3000]), 3000, None, &mut |_, _| {});
            let _ = c.close();
            let _ = c.set_download_flag(false);
            let _ = c.take_logs();
            let _ = c.reset();
        }
        3 => {
            let mut c = AtClient::new(link);
            let _ = c.command("ATI", T);
            let _ = c.revision();
            let _ = c.full_revision();
            let _ = c.enter_fastboot();
            let _ = c.take_unsolicited();
        }
        4 => {
            let mut c = SaharaClient::new(link).with_timeouts(SaharaTimeouts { hello: T, command: T });
            let _ = c.upload_image(Cursor::new(vec![0u8; 4096]), None, &mut |_, _| {});
        }
        5 => {
            let opts = FastbootOptions {
                command_timeout: T,
                download_timeout: T,
                flash_timeout: T,
                erase_timeout: T,
                ..FastbootOptions::default()
            };
            let mut c = FastbootClient::new(link, opts);
            let _ = c.getvar("product");
            let _ = c.max_download_size();
            let _ = c.flash_image("boot", &mut Cursor::new(vec![0u8; 5000]), 5000, &mut |_, _| {});
            let _ = c.erase("boot");
            let _ = c.oem("device-info");
            let _ = c.reboot();
        }
        _ => {
            let mut c = FirehoseClient::new(link);
            let _ = c.drain_logs(T, T);
            let _ = c.configure(&ConfigureOptions::default());
            let spec = ProgramSpec {
                sector_size: 4096,
                start_sector: "0".into(),
                physical_partition_number: 0,
                label: "sbl".into(),
                filename: "sbl1.mbn".into(),
                extra: Vec::new(),
            };
            let _ = c.program(&spec, &mut &[0u8; 5000][..], 5000, &mut |_, _| {});
            let erase = EraseSpec {
                sector_size: 4096,
                num_partition_sectors: 8,
                start_sector: "0".into(),
                physical_partition_number: None,
                extra: Vec::new(),
            };
            let _ = c.erase(&erase);
            let _ = c.nop();
            let _ = c.getstorageinfo(0);
            let mut out = Vec::new();
            let _ = c.read(&spec, 2, &mut out, &mut |_, _| {});
            let _ = c.power_reset(None);
        }
    }
});
