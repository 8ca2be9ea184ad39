//! Raw USB through nusb (cargo feature `usb`, on by default; pure Rust: usbfs on Linux,
//! IOKit on macOS, WinUSB on Windows, no libusb).
//!
//! - [`list`]: every USB device with its bus/port path, ids, serial and interfaces (the
//!   portable counterpart of [`super::sysfs::enumerate`], which on Linux also knows ttys
//!   and drivers).
//! - [`open_bulk`]: claim one interface (on Linux detaching qcserial/option first, as
//!   QFirehose does for 05c6:9008, `protocols.md` §8 [C]) and return its bulk endpoints as
//!   a [`BulkTransport`] (ZLP after whole packets, 1 MiB OUT transfers, several in flight).
//! - [`HotplugWaiter`]: block until a device arrives or leaves, or a timeout passes.
//!
//! The build machine has no USB bus: the pipe-level logic is tested in `transport::bulk`,
//! and this file runs end to end in a QEMU guest against a simulated 05c6:9008 over USB/IP
//! (`tools/usb-e2e`). The test at the bottom runs where a bus with a catalogue module exists
//! and says SKIPPED otherwise.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use nusb::descriptors::TransferType;
use nusb::transfer::{Buffer, Bulk, Direction, In, Out, TransferError};
use nusb::{DeviceInfo, MaybeFuture};

use super::sysfs::{UsbDevice, UsbInterface};
use crate::transport::bulk::{BulkTransport, InPipe, OutPipe, PipeError};

/// A claimed interface's bulk pipes.
pub type UsbBulk = BulkTransport<NusbOut, NusbIn>;

/// Why raw USB access failed. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum UsbError {
    #[error("cannot list USB devices: {0}")]
    List(nusb::Error),
    #[error("no USB device at usb:{0} (it may be re-enumerating)")]
    NotFound(String),
    #[error("cannot open usb:{path}: {source}{hint}")]
    Open { path: String, source: nusb::Error, hint: &'static str },
    #[error("cannot claim interface {interface} of usb:{path}: {source}{hint}")]
    Claim { path: String, interface: u8, source: nusb::Error, hint: &'static str },
    #[error("interface {interface} of usb:{path} has no bulk IN/OUT endpoint pair")]
    NoBulkEndpoints { path: String, interface: u8 },
    #[error("cannot use endpoint {address:#04x} of usb:{path}: {source}")]
    Endpoint { path: String, address: u8, source: nusb::Error },
}

fn hint(e: &nusb::Error) -> &'static str {
    match e.kind() {
        nusb::ErrorKind::PermissionDenied => {
            " (no permission on the usbfs node: install the udev rules with `modemflash setup udev`, or run as root)"
        }
        nusb::ErrorKind::Busy => {
            " (another program or driver holds it: see `modemflash doctor`; on Windows bind WinUSB with Zadig)"
        }
        nusb::ErrorKind::Disconnected => " (the device left the bus)",
        _ => "",
    }
}

fn pipe_error(e: TransferError) -> PipeError {
    match e {
        TransferError::Cancelled => PipeError::Cancelled,
        TransferError::Stall => PipeError::Stall,
        TransferError::Disconnected => PipeError::Disconnected,
        other => PipeError::Other(other.to_string()),
    }
}

/// A bulk OUT endpoint.
#[derive(Debug)]
pub struct NusbOut(nusb::Endpoint<Bulk, Out>);

impl OutPipe for NusbOut {
    fn max_packet_size(&self) -> usize {
        self.0.max_packet_size()
    }
    fn submit(&mut self, data: Vec<u8>) {
        self.0.submit(Buffer::from(data));
    }
    fn pending(&self) -> usize {
        self.0.pending()
    }
    fn wait(&mut self, timeout: Duration) -> Option<Result<(), PipeError>> {
        if self.0.pending() == 0 {
            return None;
        }
        let c = self.0.wait_next_complete(timeout)?;
        Some(c.status.map_err(pipe_error))
    }
    fn cancel_all(&mut self) {
        self.0.cancel_all();
    }
}

/// A bulk IN endpoint.
#[derive(Debug)]
pub struct NusbIn(nusb::Endpoint<Bulk, In>);

impl InPipe for NusbIn {
    fn max_packet_size(&self) -> usize {
        self.0.max_packet_size()
    }
    fn submit(&mut self, len: usize) {
        self.0.submit(Buffer::new(len));
    }
    fn pending(&self) -> usize {
        self.0.pending()
    }
    fn wait(&mut self, timeout: Duration) -> Option<(Vec<u8>, Result<(), PipeError>)> {
        if self.0.pending() == 0 {
            return None;
        }
        let c = self.0.wait_next_complete(timeout)?;
        let mut data = c.buffer.into_vec();
        data.truncate(c.actual_len);
        Some((data, c.status.map_err(pipe_error)))
    }
    fn cancel_all(&mut self) {
        self.0.cancel_all();
    }
}

/// The bus/port path of a device, named as Linux sysfs names it (`1-1.2`). On Linux it is
/// the sysfs directory name; elsewhere it is built from nusb's bus id and port chain.
pub fn usb_path(info: &DeviceInfo) -> String {
    #[cfg(target_os = "linux")]
    if let Some(name) = info.sysfs_path().file_name() {
        return name.to_string_lossy().into_owned();
    }
    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
    {
        let ports: Vec<String> = info.port_chain().iter().map(u8::to_string).collect();
        format!("{}-{}", info.bus_id(), ports.join("."))
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
    {
        format!("{:04x}:{:04x}", info.vendor_id(), info.product_id())
    }
}

fn speed_mbps(info: &DeviceInfo) -> Option<String> {
    use nusb::Speed;
    Some(
        match info.speed()? {
            Speed::Low => "1.5",
            Speed::Full => "12",
            Speed::High => "480",
            Speed::Super => "5000",
            Speed::SuperPlus => "10000",
            _ => return None,
        }
        .to_owned(),
    )
}

fn to_device(info: &DeviceInfo) -> UsbDevice {
    let mut interfaces: Vec<UsbInterface> = info
        .interfaces()
        .map(|i| UsbInterface {
            number: i.interface_number(),
            class: i.class(),
            subclass: i.subclass(),
            protocol: i.protocol(),
            driver: None,
            tty: None,
        })
        .collect();
    interfaces.sort_by_key(|i| i.number);
    interfaces.dedup_by_key(|i| i.number);
    #[cfg(target_os = "linux")]
    let (sysfs, busnum) = (info.sysfs_path().to_path_buf(), Some(u16::from(info.busnum())));
    #[cfg(not(target_os = "linux"))]
    let (sysfs, busnum) = (std::path::PathBuf::new(), None);
    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
    let devnum = Some(u16::from(info.device_address()));
    #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
    let devnum = None;
    UsbDevice {
        path: usb_path(info),
        sysfs,
        vid: info.vendor_id(),
        pid: info.product_id(),
        bcd_device: Some(info.device_version()),
        busnum,
        devnum,
        serial: info.serial_number().map(str::to_owned),
        manufacturer: info.manufacturer_string().map(str::to_owned),
        product: info.product_string().map(str::to_owned),
        speed: speed_mbps(info),
        power_control: None,
        interfaces,
    }
}

/// Every USB device nusb sees.
pub fn list() -> Result<Vec<UsbDevice>, UsbError> {
    let mut out: Vec<UsbDevice> =
        nusb::list_devices().wait().map_err(UsbError::List)?.map(|i| to_device(&i)).collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Open interface `interface` of the device at `path` and return its bulk pipes. On Linux
/// a bound kernel driver (qcserial, option) is detached first; it comes back when the
/// device re-enumerates.
pub fn open_bulk(path: &str, interface: u8) -> Result<UsbBulk, UsbError> {
    let info = nusb::list_devices()
        .wait()
        .map_err(UsbError::List)?
        .find(|i| usb_path(i) == path)
        .ok_or_else(|| UsbError::NotFound(path.to_owned()))?;
    let device = info.open().wait().map_err(|source| UsbError::Open {
        path: path.to_owned(),
        hint: hint(&source),
        source,
    })?;
    let iface = device.detach_and_claim_interface(interface).wait().map_err(|source| UsbError::Claim {
        path: path.to_owned(),
        interface,
        hint: hint(&source),
        source,
    })?;
    let (mut ep_in, mut ep_out) = (None, None);
    if let Some(desc) = iface.descriptor() {
        for ep in desc.endpoints() {
            if ep.transfer_type() != TransferType::Bulk {
                continue;
            }
            match ep.direction() {
                Direction::In if ep_in.is_none() => ep_in = Some(ep.address()),
                Direction::Out if ep_out.is_none() => ep_out = Some(ep.address()),
                _ => {}
            }
        }
    }
    let (Some(a_in), Some(a_out)) = (ep_in, ep_out) else {
        return Err(UsbError::NoBulkEndpoints { path: path.to_owned(), interface });
    };
    let ep_err = |address: u8| move |source| UsbError::Endpoint { path: path.to_owned(), address, source };
    let out = iface.endpoint::<Bulk, Out>(a_out).map_err(ep_err(a_out))?;
    let inp = iface.endpoint::<Bulk, In>(a_in).map_err(ep_err(a_in))?;
    Ok(BulkTransport::new(NusbOut(out), NusbIn(inp), format!("usb:{path} if{interface}")))
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Blocks until the USB device list changes (nusb hotplug) or a timeout passes.
pub struct HotplugWaiter {
    watch: nusb::hotplug::HotplugWatch,
}

impl std::fmt::Debug for HotplugWaiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HotplugWaiter").finish_non_exhaustive()
    }
}

impl HotplugWaiter {
    /// `None` where hotplug events are not available; callers then poll.
    pub fn new() -> Option<Self> {
        nusb::watch_devices().ok().map(|watch| HotplugWaiter { watch })
    }

    /// Wait for one event (arrival or departure). Returns whether one came in time.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let deadline = crate::time::deadline(timeout);
        let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            let next = std::pin::pin!(NextEvent(&mut self.watch));
            match next.poll(&mut cx) {
                Poll::Ready(got) => return got,
                Poll::Pending => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            std::thread::park_timeout(left);
        }
    }
}

/// Polls the hotplug stream once (the `futures` `Stream::poll_next`, without the crate).
struct NextEvent<'a>(&'a mut nusb::hotplug::HotplugWatch);

impl Future for NextEvent<'_> {
    type Output = bool;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        use futures_core::Stream;
        match Pin::new(&mut *self.0).poll_next(cx) {
            Poll::Ready(Some(_)) => Poll::Ready(true),
            Poll::Ready(None) => Poll::Ready(false),
            Poll::Pending => Poll::Pending,
        }
    }
}
