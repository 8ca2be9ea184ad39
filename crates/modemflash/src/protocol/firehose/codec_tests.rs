use super::*;
use proptest::prelude::*;

const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<data>\n";

fn doc(line: &str) -> Vec<u8> {
    format!("{DECL}{line}\n</data>").into_bytes()
}

/// QFirehose's NAND configure line, byte for byte, double space included
/// (`docs/facts/firehose.md`).
const QFIREHOSE_CONFIGURE: &str = r#"<configure MemoryName="nand" Verbose="0" AlwaysValidate="0" MaxDigestTableSizeInBytes="2048" MaxPayloadSizeToTargetInBytes="8192"  ZlpAwareHost="1" SkipStorageInit="0" />"#;

#[test]
fn configure_default_is_qfirehose_nand_line() {
    let got = build_configure(&ConfigureOptions::default(), 8192).unwrap();
    assert_eq!(
        got,
        doc(
            r#"<configure MemoryName="nand" Verbose="0" AlwaysValidate="0" MaxDigestTableSizeInBytes="2048" MaxPayloadSizeToTargetInBytes="8192" ZlpAwareHost="1" SkipStorageInit="0" />"#
        )
    );
    // Same command as QFirehose's line with its double space.
    assert_eq!(parse_command(&got).unwrap(), parse_command(&doc(QFIREHOSE_CONFIGURE)).unwrap());
}

#[test]
fn configure_extra_and_payload() {
    let opts = ConfigureOptions {
        memory_name: "emmc".into(),
        extra: vec![("SkipWrite".into(), "1".into()), ("MemoryName".into(), "dup-ignored".into())],
        ..ConfigureOptions::default()
    };
    let cmd = parse_command(&build_configure(&opts, 1 << 20).unwrap()).unwrap();
    assert_eq!(cmd.kind, CommandKind::Configure);
    assert_eq!(cmd.attr("MemoryName"), Some("emmc"));
    assert_eq!(cmd.attr_u64("MaxPayloadSizeToTargetInBytes").unwrap(), Some(1 << 20));
    assert_eq!(cmd.attr_bool("SkipWrite").unwrap(), Some(true));
    assert_eq!(cmd.attrs.len(), 8);
}

fn sbl_spec() -> ProgramSpec {
    ProgramSpec {
        sector_size: 4096,
        start_sector: "0".into(),
        physical_partition_number: 0,
        label: "sbl".into(),
        filename: "xbl.elf.enc".into(),
        extra: vec![("PAGES_PER_BLOCK".into(), "64".into()), ("last_sector".into(), "639".into())],
    }
}

#[test]
fn program_bytes() {
    assert_eq!(
        build_program(&sbl_spec(), 640).unwrap(),
        doc(
            r#"<program SECTOR_SIZE_IN_BYTES="4096" filename="xbl.elf.enc" label="sbl" num_partition_sectors="640" physical_partition_number="0" start_sector="0" PAGES_PER_BLOCK="64" last_sector="639" />"#
        )
    );
}

#[test]
fn program_matches_sdx65_example_attributes() {
    // `docs/facts/firehose.md` example line (attribute order differs, content is the same).
    let real = doc(
        r#"<program PAGES_PER_BLOCK="64" SECTOR_SIZE_IN_BYTES="4096" filename="xbl.elf.enc" label="sbl" last_sector="639" num_partition_sectors="640" physical_partition_number="0" start_sector="0"/>"#,
    );
    let mut a = parse_command(&real).unwrap().attrs;
    let mut b = parse_command(&build_program(&sbl_spec(), 640).unwrap()).unwrap().attrs;
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn read_bytes() {
    let spec = ProgramSpec { extra: vec![], ..sbl_spec() };
    assert_eq!(
        build_read(&spec, 2).unwrap(),
        doc(
            r#"<read SECTOR_SIZE_IN_BYTES="4096" filename="xbl.elf.enc" label="sbl" num_partition_sectors="2" physical_partition_number="0" start_sector="0" />"#
        )
    );
}

#[test]
fn erase_bytes_match_real_line() {
    // `docs/facts/firehose.md`, the EG25GGB geometry error example.
    let spec = EraseSpec {
        sector_size: 2048,
        num_partition_sectors: 576,
        start_sector: "13952".into(),
        physical_partition_number: None,
        extra: vec![("PAGES_PER_BLOCK".into(), "64".into())],
    };
    assert_eq!(
        build_erase(&spec).unwrap(),
        doc(
            r#"<erase PAGES_PER_BLOCK="64" SECTOR_SIZE_IN_BYTES="2048" num_partition_sectors="576" start_sector="13952" />"#
        )
    );
    let real = parse_command(&doc(
        r#"<erase PAGES_PER_BLOCK="64" SECTOR_SIZE_IN_BYTES="2048" num_partition_sectors="576" start_sector="13952"/>"#,
    ))
    .unwrap();
    assert_eq!(real, parse_command(&build_erase(&spec).unwrap()).unwrap());
    assert_eq!(real.kind, CommandKind::Erase);
}

#[test]
fn patch_bytes() {
    let spec = PatchSpec {
        sector_size: 2048,
        byte_offset: 12,
        filename: "DISK".into(),
        physical_partition_number: 0,
        size_in_bytes: 4,
        start_sector: "643".into(),
        value: "CRC32(0,4096)".into(),
        extra: vec![("what".into(), "crc".into())],
    };
    assert_eq!(
        build_patch(&spec).unwrap(),
        doc(
            r#"<patch SECTOR_SIZE_IN_BYTES="2048" byte_offset="12" filename="DISK" physical_partition_number="0" size_in_bytes="4" start_sector="643" value="CRC32(0,4096)" what="crc" />"#
        )
    );
}

#[test]
fn power_nop_storageinfo_bytes() {
    assert_eq!(
        build_power("reset", Some(10)).unwrap(),
        doc(r#"<power DelayInSeconds="10" value="reset" />"#)
    );
    assert_eq!(build_power("off", None).unwrap(), doc(r#"<power value="off" />"#));
    assert_eq!(build_nop(), doc("<nop />"));
    assert_eq!(build_getstorageinfo(0).unwrap(), doc(r#"<getstorageinfo physical_partition_number="0" />"#));
    assert_eq!(parse_command(&build_nop()).unwrap().kind, CommandKind::Nop);
    assert_eq!(parse_command(&build_getstorageinfo(1).unwrap()).unwrap().kind, CommandKind::GetStorageInfo);
    assert_eq!(parse_command(&build_power("reset", Some(10)).unwrap()).unwrap().kind, CommandKind::Power);
}

#[test]
fn raw_element_escapes_values_and_rejects_bad_names() {
    let attrs = [("vendor", "quectel"), ("c_project_name", r#"a"b<c>&d"#)];
    let got = build_element("erase", &attrs).unwrap();
    assert_eq!(got, doc(r#"<erase vendor="quectel" c_project_name="a&quot;b&lt;c&gt;&amp;d" />"#));
    let back = parse_command(&got).unwrap();
    assert_eq!(back.attr("c_project_name"), Some(r#"a"b<c>&d"#));
    assert!(matches!(build_element("x y", &attrs), Err(FirehoseError::InvalidName { .. })));
    assert!(matches!(build_element("x", &[("a b", "1")]), Err(FirehoseError::InvalidName { .. })));
    let other = parse_command(&build_element("setbootablestoragedrive", &[("value", "0")]).unwrap()).unwrap();
    assert_eq!(other.kind, CommandKind::Other("setbootablestoragedrive".into()));
}

#[test]
fn device_log_bytes() {
    assert_eq!(
        encode_log("Finished sector address 13952"),
        doc(r#"<log value="Finished sector address 13952"/>"#)
    );
    assert_eq!(
        encode_log("Inside handlePower() - Requested POWER_RESET"),
        doc(r#"<log value="Inside handlePower() - Requested POWER_RESET"/>"#)
    );
    assert_eq!(
        encode_log(r#"{"storage_info": {"mem_type":"NAND"}}"#),
        doc(r#"<log value="{&quot;storage_info&quot;: {&quot;mem_type&quot;:&quot;NAND&quot;}}"/>"#)
    );
}

#[test]
fn device_response_bytes_are_the_real_strings() {
    let none: [(&str, &str); 0] = [];
    let cases = [
        (true, Some(true), r#"<response value="ACK" rawmode="true" />"#),
        (true, Some(false), r#"<response value="ACK" rawmode="false" />"#),
        (true, None, r#"<response value="ACK" />"#),
        (false, None, r#"<response value="NAK" />"#),
        (false, Some(false), r#"<response value="NAK" rawmode="false" />"#),
    ];
    for (ack, raw, line) in cases {
        assert_eq!(encode_response(ack, raw, &none).unwrap(), doc(line));
    }
    assert_eq!(
        encode_response(false, Some(false), &[("AttemptRetry", "1")]).unwrap(),
        doc(r#"<response value="NAK" rawmode="false" AttemptRetry="1" />"#)
    );
    let fields = [
        ("MemoryName", "NAND"),
        ("MaxPayloadSizeFromTargetInBytes", "2048"),
        ("MaxPayloadSizeToTargetInBytes", "8192"),
        ("MaxPayloadSizeToTargetInBytesSupported", "8192"),
        ("TargetName", "9x07"),
    ];
    assert_eq!(
        encode_response(true, None, &fields).unwrap(),
        doc(
            r#"<response value="ACK" MemoryName="NAND" MaxPayloadSizeFromTargetInBytes="2048" MaxPayloadSizeToTargetInBytes="8192" MaxPayloadSizeToTargetInBytesSupported="8192" TargetName="9x07" />"#
        )
    );
}

#[test]
fn parse_command_errors() {
    assert!(matches!(parse_command(b"<data></data>"), Err(FirehoseError::BadXml { .. })));
    assert!(matches!(parse_command(b"<data><nop/><nop/></data>"), Err(FirehoseError::BadXml { .. })));
    assert!(matches!(parse_command(b"<data><nop"), Err(FirehoseError::BadXml { .. })));
}

#[test]
fn numeric_attributes() {
    assert_eq!(parse_u64_attr("n", "640.").unwrap(), 640);
    assert_eq!(parse_u64_attr("n", " 0x280 ").unwrap(), 640);
    assert!(matches!(parse_u64_attr("n", "NUM_DISK_SECTORS-6."), Err(FirehoseError::BadAttribute { .. })));
    assert!(matches!(parse_u64_attr("n", "-1"), Err(FirehoseError::BadAttribute { .. })));
}

fn response(ack: bool, attrs: &[(&str, &str)]) -> Event {
    Event::Response {
        ack,
        rawmode: None,
        attrs: attrs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
    }
}

#[test]
fn configure_negotiation() {
    // Real 9x55 NAK (`docs/facts/firehose.md`) after asking for 16 KiB: retry with 8192.
    let nak = response(
        false,
        &[
            ("MemoryName", "NAND"),
            ("MaxPayloadSizeFromTargetInBytes", "2048"),
            ("MaxPayloadSizeToTargetInBytes", "8192"),
            ("MaxPayloadSizeToTargetInBytesSupported", "8192"),
            ("TargetName", "9x55"),
        ],
    );
    assert_eq!(configure_step(16384, 1, &nak), ConfigureStep::Retry(8192));
    assert_eq!(configure_step(8192, 2, &nak), ConfigureStep::Fail);
    assert_eq!(configure_step(8192, 1, &response(false, &[])), ConfigureStep::Fail);
    assert_eq!(configure_step(8192, 1, &Event::Log("x".into())), ConfigureStep::Fail);

    let ack = response(
        true,
        &[
            ("MemoryName", "NAND"),
            ("MaxPayloadSizeFromTargetInBytes", "2048"),
            ("MaxPayloadSizeToTargetInBytes", "8192"),
            ("MaxPayloadSizeToTargetInBytesSupported", "4096"),
            ("TargetName", "9x07"),
        ],
    );
    let ConfigureStep::Done(n) = configure_step(8192, 1, &ack) else { panic!() };
    assert_eq!(n.max_payload_to_target, 4096);
    assert_eq!(n.max_payload_from_target, Some(2048));
    assert_eq!(n.memory_name.as_deref(), Some("NAND"));
    assert_eq!(n.target_name.as_deref(), Some("9x07"));
    assert_eq!(n.attempts, 1);

    // A bare ACK keeps the request; a bigger "supported" value does not raise it.
    let ConfigureStep::Done(n) = configure_step(8192, 1, &response(true, &[])) else { panic!() };
    assert_eq!(n.max_payload_to_target, 8192);
    let big = response(true, &[("MaxPayloadSizeToTargetInBytesSupported", "1048576")]);
    let ConfigureStep::Done(n) = configure_step(8192, 2, &big) else { panic!() };
    assert_eq!(n.max_payload_to_target, 8192);
}

proptest! {
    #[test]
    fn parse_command_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_command(&data);
    }

    #[test]
    fn raw_element_round_trips(value in "\\PC{0,40}") {
        let built = build_element("x", &[("v", value.as_str())]).unwrap();
        let cmd = parse_command(&built).unwrap();
        prop_assert_eq!(cmd.attr("v"), Some(value.as_str()));
    }
}
