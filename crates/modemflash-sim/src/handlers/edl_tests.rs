#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use modemflash::protocol::firehose::{Event, Scanner, build_configure, build_element, build_nop};
use modemflash::protocol::sahara::codes::exec;

use super::*;
use crate::boot::Model;
use crate::core::{Core, ModuleConfig};
use crate::event::SimEvent;
use crate::fault::Fault;
use crate::handler::Action;
use crate::nand::Nand;

struct Rig {
    core: Core,
    h: EdlHandler,
    actions: Vec<Action>,
    events: Vec<SimEvent>,
}

impl Rig {
    fn new(config: ModuleConfig) -> Self {
        Rig {
            core: Core::new(config, Nand::default()),
            h: EdlHandler::new(),
            actions: vec![],
            events: vec![],
        }
    }
    fn ec25() -> Self {
        let mut config = ModuleConfig::new(Model::Ec25);
        // The EC25-E's chip serial [confirmed], so the log line can be checked byte for byte.
        config.identity.chip_serial = 0x0cf9_4c64;
        Rig::new(config)
    }
    fn data(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut cx =
            Cx { core: &mut self.core, out: &mut out, actions: &mut self.actions, events: &mut self.events };
        self.h.on_data(bytes, &mut cx);
        out
    }
    fn idle(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut cx =
            Cx { core: &mut self.core, out: &mut out, actions: &mut self.actions, events: &mut self.events };
        self.h.on_idle(&mut cx);
        out
    }
    fn packet(&mut self, p: &Packet) -> Vec<Packet> {
        self.data(&p.encode()).iter().map(|b| Packet::parse(b).unwrap()).collect()
    }
    fn hello_resp(&mut self, mode: u32) -> Vec<Packet> {
        let rsp =
            HelloResp { version: 2, version_supported: 1, status: 0, mode, reserved: [0; 6], len: HELLO_LEN };
        self.packet(&Packet::HelloResp(rsp))
    }
}

fn only(v: Vec<Packet>) -> Packet {
    assert_eq!(v.len(), 1, "{v:?}");
    v.into_iter().next().unwrap()
}

fn read(offset: u32, length: u32) -> Packet {
    Packet::ReadData { image_id: 13, offset, length }
}

/// An ELF shaped like the 2021 EG25-G programmer (`docs/facts/sahara.md`): NULL(0,0x94),
/// hash(0x1000,0x88), LOAD(0x2000,0x1d578), 128,376 bytes.
fn eg25_2021_programmer() -> Vec<u8> {
    // The builder writes the programmer shape every synthetic package carries.
    let mut f = crate::builder::write::elf32_arm_header(0x0800_5800, 128_376);
    f.resize(128_376, 0);
    f
}

/// Serve every READ_DATA from `image`; returns the reads and the final packet.
fn serve(rig: &mut Rig, image: &[u8], first: Packet) -> (Vec<(u32, u32)>, Packet) {
    let mut reads = Vec::new();
    let mut next = first;
    loop {
        let Packet::ReadData { offset, length, .. } = next else { return (reads, next) };
        reads.push((offset, length));
        let chunk = &image[offset as usize..(offset + length) as usize];
        next = only(rig.data(chunk).iter().map(|b| Packet::parse(b).unwrap()).collect());
    }
}

#[test]
fn hello_first_then_on_nudge_and_garbage() {
    let mut rig = Rig::ec25();
    let out = rig.idle();
    let Packet::Hello(h) = Packet::parse(&out[0]).unwrap() else { panic!() };
    assert_eq!((h.version, h.version_supported, h.mode, h.max_cmd_len, h.len), (2, 1, 0, 0x400, 0x30));
    assert!(rig.idle().is_empty(), "HELLO only once unprompted");
    assert!(matches!(
        only(rig.data(&[0]).iter().map(|b| Packet::parse(b).unwrap()).collect()),
        Packet::Hello(_)
    ));
    assert!(matches!(
        only(rig.data(&[0; 1024]).iter().map(|b| Packet::parse(b).unwrap()).collect()),
        Packet::Hello(_)
    ));
    assert!(rig.data(&[]).is_empty(), "a ZLP is ignored");
}

#[test]
fn loads_the_real_programmer_shape_in_the_derived_read_pattern() {
    let mut rig = Rig::ec25();
    rig.idle();
    let image = eg25_2021_programmer();
    let first = only(rig.hello_resp(0));
    let (reads, last) = serve(&mut rig, &image, first);
    // `docs/facts/sahara.md`: (0,0x34) (0x34,0x60) (0x1000,0x88), 0x2000.. in 0x1000 steps,
    // last (0x1f000,0x578): 33 reads, 120,468 bytes.
    assert_eq!(&reads[..3], &[(0, 0x34), (0x34, 0x60), (0x1000, 0x88)]);
    assert_eq!(reads[3], (0x2000, 0x1000));
    assert_eq!(*reads.last().unwrap(), (0x1f000, 0x578));
    assert_eq!(reads.len(), 33);
    assert_eq!(reads.iter().map(|r| u64::from(r.1)).sum::<u64>(), 120_468);
    assert_eq!(last, Packet::EndImageTx { image_id: 13, status: 0 });
    assert_eq!(only(rig.packet(&Packet::Done)), Packet::DoneResp { status: 1 });
    // Bytes sent while the programmer boots wait for it.
    assert!(rig.data(&build_nop()).is_empty());
    let ticks = (Duration::from_secs(1).as_nanos() / crate::module::POLL.as_nanos()) as usize;
    for _ in 0..ticks {
        assert!(rig.idle().is_empty());
    }
    let out = rig.idle();
    let mut s = Scanner::default();
    let mut events = Vec::new();
    for m in &out {
        s.feed(m).unwrap();
        while let Some(e) = s.next_event().unwrap() {
            events.push(e);
        }
    }
    assert_eq!(events[0], Event::Log("Binary build date: Apr 21 2021 @ 15:42:43\n".into()));
    assert_eq!(events[1], Event::Log("Chip serial num: 217664612 (0xcf94c64)".into()));
    assert_eq!(events[2], Event::Log(super::super::firehose::SUPPORTED_FUNCTIONS.into()));
    assert_eq!(events[3], Event::Response { ack: true, rawmode: None, attrs: vec![] }, "the early nop");
}

#[test]
fn image_data_in_odd_splits_and_pending_done() {
    let mut config = ModuleConfig::new(Model::Ec25);
    config.edl.done_status = 0;
    config.edl.read_chunk = 0x800;
    let mut rig = Rig::new(config);
    let image = eg25_2021_programmer();
    let mut next = only(rig.hello_resp(0));
    let mut count = 0;
    while let Packet::ReadData { offset, length, .. } = next {
        assert!(length <= 0x800);
        let chunk = &image[offset as usize..(offset + length) as usize];
        let (a, b) = chunk.split_at(chunk.len() / 3);
        assert!(rig.data(a).is_empty());
        assert!(rig.data(&[]).is_empty());
        next = only(rig.data(b).iter().map(|b| Packet::parse(b).unwrap()).collect());
        count += 1;
    }
    assert!(count > 33);
    assert_eq!(next, Packet::EndImageTx { image_id: 13, status: 0 });
    assert_eq!(only(rig.packet(&Packet::Done)), Packet::DoneResp { status: 0 });
}

fn refused(image: &[u8], expect: u32) {
    let mut rig = Rig::ec25();
    let first = only(rig.hello_resp(0));
    let (_, last) = serve(&mut rig, image, first);
    assert_eq!(last, Packet::EndImageTx { image_id: 13, status: expect }, "{}", status_name(expect));
}

#[test]
fn bad_images_end_with_named_statuses() {
    let good = eg25_2021_programmer();
    // An MBN, not an ELF.
    let mut mbn = vec![0u8; 4096];
    mbn[..8].copy_from_slice(&[13, 0, 0, 0, 3, 0, 0, 0]);
    refused(&mbn, status::INVALID_ELF_HEADER);
    let mut elf64 = good.clone();
    elf64[4] = 2;
    refused(&elf64, status::INVALID_ELF_HEADER);
    let mut zero = good.clone();
    zero[44] = 0;
    refused(&zero, status::UNSUPPORTED_NUM_PHDRS);
    let mut many = good.clone();
    many[44..46].copy_from_slice(&0xffffu16.to_le_bytes());
    refused(&many, status::UNSUPPORTED_NUM_PHDRS);
    let mut entsize = good.clone();
    entsize[42] = 56;
    refused(&entsize, status::INVALID_PHDR_SIZE);
    let mut phoff = good.clone();
    phoff[28..32].copy_from_slice(&0xffff_0000u32.to_le_bytes());
    refused(&phoff, status::UNINITIALISED_PHDR_LOCATION);
    let mut huge = good.clone();
    huge[52 + 64 + 16..52 + 64 + 20].copy_from_slice(&0x4000_0000u32.to_le_bytes());
    refused(&huge, status::INVALID_IMAGE_DATA_SIZE);
    let mut wrap = good;
    wrap[52 + 64 + 4..52 + 64 + 8].copy_from_slice(&0xffff_f000u32.to_le_bytes());
    refused(&wrap, status::INVALID_IMAGE_HEADER_DATA_SIZE);
    assert_eq!(load_plan(&[0u8; 32], 4096), Err(status::UNSUPPORTED_NUM_PHDRS));
}

#[test]
fn failure_then_nudge_restarts() {
    let mut rig = Rig::ec25();
    only(rig.hello_resp(0));
    assert_eq!(only(rig.data(&[0u8; 52]).iter().map(|b| Packet::parse(b).unwrap()).collect()).cmd(), 4);
    assert!(matches!(
        only(rig.data(&[0]).iter().map(|b| Packet::parse(b).unwrap()).collect()),
        Packet::Hello(_)
    ));
    assert_eq!(only(rig.hello_resp(0)), read(0, 52));
}

#[test]
fn command_mode_identity_and_switch() {
    let mut rig = Rig::ec25();
    assert_eq!(only(rig.hello_resp(3)), Packet::CmdReady);
    assert_eq!(
        only(rig.packet(&Packet::Execute { client_cmd: exec::MSM_HW_ID_READ })),
        Packet::ExecuteResp { client_cmd: 2, len: 8 }
    );
    let data = rig.data(&Packet::ExecuteData { client_cmd: 2 }.encode());
    assert_eq!(data, vec![0x0004_80E1_0000_0000u64.to_le_bytes().to_vec()]);
    only(rig.packet(&Packet::Execute { client_cmd: exec::OEM_PK_HASH_READ }));
    let pk = rig.data(&Packet::ExecuteData { client_cmd: 3 }.encode());
    assert_eq!(pk[0][..4], [0xcc, 0x31, 0x53, 0xa8]);
    assert_eq!(
        only(rig.packet(&Packet::Execute { client_cmd: exec::GET_SOFTWARE_VERSION_SBL })),
        Packet::EndImageTx { image_id: 0, status: status::UNSUPPORTED_EXEC_CMD }
    );
    assert_eq!(
        only(rig.packet(&Packet::ExecuteData { client_cmd: 1 })),
        Packet::EndImageTx { image_id: 0, status: status::INVALID_CLIENT_CMD }
    );
    assert!(matches!(only(rig.packet(&Packet::SwitchMode { mode: 0 })), Packet::Hello(h) if h.mode == 0));
    assert_eq!(only(rig.hello_resp(0)), read(0, 52));
}

#[test]
fn switch_mode_answers_a_fresh_hello_in_the_requested_mode() {
    // edl asks for command mode again (SWITCH_MODE 3) and then waits for a HELLO, as a
    // real 9x07 sends (bkerler/edl #714); CMD_READY here would stall it.
    let mut rig = Rig::ec25();
    assert_eq!(only(rig.hello_resp(3)), Packet::CmdReady);
    assert!(matches!(only(rig.packet(&Packet::SwitchMode { mode: 3 })), Packet::Hello(h) if h.mode == 3));
    // Whatever the HELLO said, the host's HELLO_RESP picks the mode.
    assert_eq!(only(rig.hello_resp(0)), read(0, 52));
    let mut rig = Rig::ec25();
    rig.hello_resp(3);
    assert!(matches!(
        only(rig.packet(&Packet::SwitchMode { mode: 2 })),
        Packet::EndImageTx { status: status::INVALID_MODE_SWITCH, .. }
    ));
}

#[test]
fn wrong_chip_id_fault_and_reset() {
    let mut config = ModuleConfig::new(Model::Ec25);
    config.faults = vec![Fault::parse("wrong-chip-id").unwrap()];
    let mut rig = Rig::new(config);
    only(rig.hello_resp(3));
    only(rig.packet(&Packet::Execute { client_cmd: exec::MSM_HW_ID_READ }));
    let data = rig.data(&Packet::ExecuteData { client_cmd: 2 }.encode());
    assert_eq!(data, vec![WRONG_CHIP_HW_ID.to_le_bytes().to_vec()]);
    assert_eq!(only(rig.packet(&Packet::Reset)), Packet::ResetResp);
    assert_eq!(rig.actions, vec![Action::Reset { to: ResetTo::Boot, after: Duration::ZERO }]);
}

#[test]
fn reset_instead_of_image_data() {
    let mut rig = Rig::ec25();
    assert_eq!(only(rig.hello_resp(0)), read(0, 52));
    assert_eq!(only(rig.packet(&Packet::Reset)), Packet::ResetResp);
    assert_eq!(rig.actions.len(), 1);
}

/// A rig whose programmer already runs (start-up logs dropped).
fn firehose_rig() -> Rig {
    let mut config = ModuleConfig::new(Model::Ec25);
    config.edl.programmer_boot = Duration::ZERO;
    let mut rig = Rig::new(config);
    let image = eg25_2021_programmer();
    let first = only(rig.hello_resp(0));
    serve(&mut rig, &image, first);
    only(rig.packet(&Packet::Done));
    rig.idle();
    rig
}

fn events(out: &[Vec<u8>]) -> Vec<Event> {
    let mut s = Scanner::default();
    let mut v = Vec::new();
    for m in out {
        s.feed(m).unwrap();
        while let Some(e) = s.next_event().unwrap() {
            v.push(e);
        }
    }
    v
}

fn ack(rawmode: Option<bool>) -> Event {
    Event::Response { ack: true, rawmode, attrs: vec![] }
}

#[test]
fn program_with_data_in_the_same_read_and_odd_splits() {
    let mut rig = firehose_rig();
    let doc = build_element(
        "program",
        &[
            ("SECTOR_SIZE_IN_BYTES", "4096"),
            ("label", "boot"),
            ("num_partition_sectors", "2"),
            ("start_sector", "1344"),
        ],
    )
    .unwrap();
    let data: Vec<u8> = (0..8192u32).map(|i| (i * 7) as u8).collect();
    let mut stream = doc.clone();
    stream.extend_from_slice(&data);
    stream.extend_from_slice(&build_nop());
    let mut out = Vec::new();
    for piece in stream.chunks(1000) {
        out.extend(rig.data(piece));
    }
    let ev = events(&out);
    assert_eq!(
        ev,
        vec![ack(Some(true)), Event::Log("Finished sector address 1344".into()), ack(Some(false)), ack(None)]
    );
    let p = rig.core.nand.get("boot").unwrap();
    assert_eq!(p.start_sector, Some(1344));
    assert_eq!(p.content.len, 8192);
    assert!(p.content.complete);
}

#[test]
fn refusals_carry_the_real_texts() {
    let mut rig = firehose_rig();
    let erase = |ss: &str, start: &str, n: &str| {
        build_element(
            "erase",
            &[
                ("PAGES_PER_BLOCK", "64"),
                ("SECTOR_SIZE_IN_BYTES", ss),
                ("num_partition_sectors", n),
                ("start_sector", start),
            ],
        )
        .unwrap()
    };
    let nak = Event::Response { ack: false, rawmode: None, attrs: vec![] };
    assert_eq!(
        events(&rig.data(&erase("2048", "0", "64"))),
        vec![
            Event::Log("Attribute 'SECTOR_SIZE_IN_BYTES'=2048 must be equal to disk sector size 4096".into()),
            nak.clone()
        ]
    );
    assert_eq!(
        events(&rig.data(&erase("4096", "13984", "576"))),
        vec![
            Event::Log("start_sector = 13984 and num_partition_sectors =0x240)".into()),
            Event::Log("start_sector unaligned".into()),
            nak.clone()
        ]
    );
    assert_eq!(
        events(&rig.data(&erase("4096", "0", "0"))),
        vec![Event::Log("num_blocks to erase are ZERO".into()), nak.clone()]
    );
    assert_eq!(
        events(&rig.data(&erase("4096", "131008", "128"))),
        vec![Event::Log("Block erase request exceeding total number of blocks".into()), nak.clone()]
    );
    let ppb = build_element(
        "erase",
        &[
            ("PAGES_PER_BLOCK", "128"),
            ("SECTOR_SIZE_IN_BYTES", "4096"),
            ("num_partition_sectors", "128"),
            ("start_sector", "0"),
        ],
    )
    .unwrap();
    assert_eq!(
        events(&rig.data(&ppb))[0],
        Event::Log("Attribute 'PAGES_PER_BLOCK'=128 must be equal to disk pages per block 64".into())
    );
    let emmc = build_configure(
        &modemflash::protocol::firehose::ConfigureOptions {
            memory_name: "eMMC".into(),
            ..Default::default()
        },
        8192,
    )
    .unwrap();
    assert_eq!(
        events(&rig.data(&emmc)),
        vec![Event::Log("Not support configure MemoryName eMMC".into()), nak.clone()]
    );
    let unknown = build_element("peek", &[("address64", "0")]).unwrap();
    let ev = events(&rig.data(&unknown));
    assert_eq!(ev.last(), Some(&nak));
    assert!(matches!(&ev[0], Event::Log(l) if l.contains("peek")));
    let ev = events(&rig.data(b"<?xml version=\"1.0\" ?><data><nop /><nop /></data>"));
    assert!(matches!(&ev[0], Event::Log(l) if l.starts_with("ERROR: XML not formed correctly")));
    let ev = events(&rig.data(&vec![b'x'; SCANNER_CAPACITY_FOR_TESTS + 10]));
    assert!(matches!(&ev[0], Event::Log(l) if l.contains("is too big for buffer")));
    // Still alive.
    assert_eq!(events(&rig.data(&build_nop())), vec![ack(None)]);
}

const SCANNER_CAPACITY_FOR_TESTS: usize = super::super::firehose::SCANNER_CAPACITY;

#[test]
fn configure_read_and_storage_info() {
    let mut rig = firehose_rig();
    let opts = modemflash::protocol::firehose::ConfigureOptions::default();
    let ev = events(&rig.data(&build_configure(&opts, 1 << 20).unwrap()));
    let Event::Response { ack: false, attrs, .. } = &ev[0] else { panic!("{ev:?}") };
    let keys: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        keys,
        [
            ("MemoryName", "NAND"),
            ("MaxPayloadSizeFromTargetInBytes", "2048"),
            ("MaxPayloadSizeToTargetInBytes", "8192"),
            ("MaxPayloadSizeToTargetInBytesSupported", "8192"),
            ("TargetName", "9x07"),
        ]
    );
    let ev = events(&rig.data(&build_configure(&opts, 8192).unwrap()));
    assert!(matches!(&ev[0], Event::Response { ack: true, .. }));
    let rd = build_element(
        "read",
        &[("SECTOR_SIZE_IN_BYTES", "4096"), ("num_partition_sectors", "3"), ("start_sector", "0")],
    )
    .unwrap();
    let out = rig.data(&rd);
    let raw: usize = out[1..out.len() - 1].iter().map(Vec::len).sum();
    assert_eq!(raw, 3 * 4096);
    // This rig's NAND holds nothing: erased NAND reads 0xFF (reads of written data:
    // tests/backup.rs).
    assert!(rig.core.nand.partitions.is_empty());
    assert!(out[1..out.len() - 1].iter().flatten().all(|&b| b == 0xff));
    assert_eq!(events(&out[..1]), vec![ack(Some(true))]);
    assert_eq!(events(&out[out.len() - 1..]), vec![ack(Some(false))]);
    let ev =
        events(&rig.data(&build_element("getstorageinfo", &[("physical_partition_number", "0")]).unwrap()));
    assert_eq!(ev[0], Event::Log(
        "{\"storage_info\": {\"total_blocks\":2048, \"block_size\":262144, \"page_size\":4096, \"mem_type\":\"NAND\", \"prod_name\":\"KSLCMBL2VA2M2A\"}}".into()
    ));
}
