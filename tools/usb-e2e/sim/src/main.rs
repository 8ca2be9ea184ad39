//! A simulated Qualcomm QDLoader 05c6:9008 over USB/IP: one vendor interface (ff/ff/ff),
//! bulk IN 0x81 and OUT 0x01 of 512 bytes, looping OUT data back on IN. Every OUT transfer's
//! length is printed (`OUT n`), so the harness can see the zero-length packets.
//!
//! Usage: usb-e2e-sim PORT   (listens on 127.0.0.1:PORT; bus id 0-0-0)

use std::any::Any;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use usbip::{
    Direction, EndpointAttributes, SetupPacket, UsbDevice, UsbEndpoint, UsbInterface, UsbInterfaceHandler,
    UsbIpServer,
};

#[derive(Debug, Default)]
struct Loopback {
    pending: Vec<u8>,
}

impl UsbInterfaceHandler for Loopback {
    fn get_class_specific_descriptor(&self) -> Vec<u8> {
        vec![]
    }

    fn handle_urb(
        &mut self,
        _interface: &UsbInterface,
        ep: UsbEndpoint,
        len: u32,
        _setup: SetupPacket,
        req: &[u8],
    ) -> std::io::Result<Vec<u8>> {
        if ep.attributes != EndpointAttributes::Bulk as u8 {
            return Ok(vec![]);
        }
        match ep.direction() {
            Direction::Out => {
                println!("OUT {}", req.len());
                let _ = std::io::stdout().flush();
                self.pending.extend_from_slice(req);
                Ok(vec![])
            }
            Direction::In => {
                let n = self.pending.len().min(len as usize);
                Ok(self.pending.drain(..n).collect())
            }
        }
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(3240);
    let handler = Arc::new(Mutex::new(Box::new(Loopback::default()) as Box<dyn UsbInterfaceHandler + Send>));
    let endpoints = vec![
        UsbEndpoint {
            address: 0x81,
            attributes: EndpointAttributes::Bulk as u8,
            max_packet_size: 512,
            interval: 0,
        },
        UsbEndpoint {
            address: 0x01,
            attributes: EndpointAttributes::Bulk as u8,
            max_packet_size: 512,
            interval: 0,
        },
    ];
    let mut dev =
        UsbDevice::new(0).with_interface(0xff, 0xff, 0xff, Some("QDLoader 9008"), endpoints, handler);
    dev.vendor_id = 0x05c6;
    dev.product_id = 0x9008;
    dev.usb_version = 0x0200u16.into();
    dev.set_product_name("QHSUSB__BULK");
    let server = Arc::new(UsbIpServer::new_simulated(vec![dev]));
    println!("READY");
    let _ = std::io::stdout().flush();
    usbip::server(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port), server).await;
}
