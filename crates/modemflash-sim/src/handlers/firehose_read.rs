//! The bytes a Firehose `<read>` returns: the NAND addressed by sector, each partition at
//! the `start_sector` its `<program>` (or the factory table) gave it. A partition's bytes
//! come from the module's data store (`nand_data.rs`); one written before the store
//! existed (the factory contents, a restarted module) reads its kept head; everything
//! else reads `0xFF`, as erased NAND does.

use crate::core::Core;

/// Fill `out` with the NAND bytes from byte `at` (sector × page) on.
pub(super) fn fill(core: &Core, page: u64, at: u64, out: &mut [u8]) {
    out.fill(0xff);
    let end = at.saturating_add(out.len() as u64);
    let Ok(mut data) = core.data.lock() else { return };
    for p in &core.nand.partitions {
        let Some(first) = p.start_sector else { continue };
        let p_start = first.saturating_mul(page);
        let extent = p
            .capacity
            .unwrap_or(0)
            .max(p.content.len)
            .max(data.len(&p.name))
            .max(p.content.head.len() as u64);
        let p_end = p_start.saturating_add(extent);
        let (s, e) = (p_start.max(at), p_end.min(end));
        if s >= e {
            continue;
        }
        let (Ok(d0), Ok(d1)) = (usize::try_from(s - at), usize::try_from(e - at)) else { continue };
        let Some(dst) = out.get_mut(d0..d1) else { continue };
        let off = s - p_start;
        if data.has(&p.name) {
            if data.read(&p.name, off, dst).is_err() {
                dst.fill(0xff);
            }
        } else if !p.content.is_erased() {
            // Only the head is known.
            let head = &p.content.head;
            let from = usize::try_from(off).unwrap_or(usize::MAX);
            if let Some(src) = head.get(from..) {
                let n = src.len().min(dst.len());
                if let (Some(d), Some(s)) = (dst.get_mut(..n), src.get(..n)) {
                    d.copy_from_slice(s);
                }
            }
        }
    }
}
