//! A running virtual module: its endpoints, threads, resets and re-enumeration.
//!
//! Each endpoint of the current mode runs on its own thread with the device side of a
//! transport (memory pair, pty or TCP) and a protocol [`Handler`]. A reset takes the
//! module off the bus (every endpoint thread notices the new generation and drops its
//! transport, which the host sees as a disconnect), waits the re-enumeration delay on the
//! module's clock, and attaches the next mode.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use modemflash::transport::{LinkInfo, Transport, TransportError};

use crate::boot::{self, BootOutcome, Model};
use crate::bus::{Connector, Endpoint, VirtualBus};
use crate::clock::SharedClock;
use crate::core::{Core, ModuleConfig};
use crate::event::SimEvent;
use crate::fault::FaultKind;
use crate::handler::{Action, Cx, ResetTo};
use crate::identity::{UsbIdentity, usb_identity};
use crate::serve::{Served, Serving};
use crate::{factory, handlers, state};
use modemflash::module::{DeviceMode, Port};

/// Poll interval of endpoint threads.
pub(crate) const POLL: Duration = Duration::from_millis(20);
/// USB bulk max packet size at high speed, for in-process EDL/fastboot links.
const HS_MAX_PACKET: usize = 512;

pub(crate) struct Shared {
    core: Mutex<Core>,
    pub(crate) bus: VirtualBus,
    clock: SharedClock,
    subscribers: Mutex<Vec<Sender<SimEvent>>>,
    history: Mutex<Vec<SimEvent>>,
    serving: Serving,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

/// A virtual module. Its endpoint threads run until [`Module::shutdown`] (handles are
/// cheap clones; dropping one does not power the module off).
#[derive(Debug, Clone)]
pub struct Module {
    shared: Arc<Shared>,
}

impl Module {
    /// Power a module on, served in-process (use [`Module::bus`] to reach it).
    pub fn start(config: ModuleConfig, clock: SharedClock) -> Module {
        Module::start_serving(config, clock, Serving::InProcess)
    }

    /// Power a module on with the given serving mode.
    pub fn start_serving(config: ModuleConfig, clock: SharedClock, serving: Serving) -> Module {
        let mut config = config;
        let mut saved_identity = None;
        let (nand, mode) = match config.state_file.as_deref().and_then(state::load) {
            Some((nand, identity)) => {
                if let Some(id) = &identity {
                    config.identity = id.clone();
                }
                saved_identity = identity;
                let mode = mode_after_boot(config.model, &nand);
                (nand, mode)
            }
            None => (factory::nand(&config), config.start_mode),
        };
        let overrides = config.identity_overrides.clone();
        config.identity.apply(&overrides);
        // The identity is the module's from the start: keep it in the state file at once.
        let save_now = config.state_file.is_some() && saved_identity.as_ref() != Some(&config.identity);
        let mut core = Core::new(config, nand);
        core.dirty = save_now;
        core.clock = clock.clone();
        let shared = Arc::new(Shared {
            core: Mutex::new(core),
            bus: VirtualBus::new(clock.clone()),
            clock,
            subscribers: Mutex::new(Vec::new()),
            history: Mutex::new(Vec::new()),
            serving,
        });
        attach(&shared, mode);
        Module { shared }
    }

    /// The bus the module lives on.
    pub fn bus(&self) -> &VirtualBus {
        &self.shared.bus
    }

    /// Receive every event from now on.
    pub fn subscribe(&self) -> Receiver<SimEvent> {
        let (tx, rx) = mpsc::channel();
        lock(&self.shared.subscribers).push(tx);
        rx
    }

    /// Receive every event since power-on (the history first), with none lost or doubled
    /// in between.
    pub fn subscribe_from_start(&self) -> Receiver<SimEvent> {
        let (tx, rx) = mpsc::channel();
        let mut subs = lock(&self.shared.subscribers);
        for e in lock(&self.shared.history).iter() {
            let _ = tx.send(e.clone());
        }
        subs.push(tx);
        rx
    }

    /// Add a line to the module's event stream (what a server in front of it noticed).
    pub fn log(&self, text: impl Into<String>) {
        emit(&self.shared, vec![SimEvent::Log { text: text.into() }]);
    }

    /// Every event so far.
    pub fn history(&self) -> Vec<SimEvent> {
        lock(&self.shared.history).clone()
    }

    /// Inspect the module's state (NAND, RAM, revision).
    pub fn with_core<R>(&self, f: impl FnOnce(&Core) -> R) -> R {
        f(&lock(&self.shared.core))
    }

    /// The modelled module.
    pub fn model(&self) -> Model {
        self.with_core(|c| c.config.model)
    }

    /// Revision the firmware reports in normal mode.
    pub fn revision(&self) -> String {
        self.with_core(|c| c.running_revision.clone())
    }

    /// Where the module is plugged in, as the host's bus sees it.
    pub fn port_path(&self) -> String {
        self.with_core(|c| c.config.port_path.clone())
    }

    /// Move the module to another port path: it shows up there from its next
    /// enumeration on (a USB3 port re-enumerating a module as USB2 on its companion bus).
    pub fn set_port_path(&self, path: &str) {
        path.clone_into(&mut lock(&self.shared.core).config.port_path);
    }

    /// Pull the plug and put it back: the boot logic decides the next mode.
    pub fn power_cycle(&self) {
        reset(&self.shared, ResetTo::Boot, "power cycle");
    }

    /// Power off: leave the bus for good.
    pub fn shutdown(&self) {
        let mut core = lock(&self.shared.core);
        core.generation += 1;
        core.mode = None;
        drop(core);
        self.shared.serving.unpublish();
        self.shared.bus.detach();
        emit(&self.shared, vec![SimEvent::Detached { reason: "power off".into() }]);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn emit(shared: &Shared, events: Vec<SimEvent>) {
    if events.is_empty() {
        return;
    }
    let mut subs = lock(&shared.subscribers);
    for e in &events {
        subs.retain(|s| s.send(e.clone()).is_ok());
    }
    lock(&shared.history).extend(events);
}

/// The mode a boot over `nand` leads to.
pub fn mode_after_boot(model: Model, nand: &crate::nand::Nand) -> DeviceMode {
    match boot::boot(model, nand) {
        BootOutcome::Normal { .. } => DeviceMode::Normal,
        BootOutcome::Fastboot => DeviceMode::Fastboot,
        BootOutcome::Download => download_mode(model),
    }
}

fn download_mode(model: Model) -> DeviceMode {
    match model {
        Model::Ec20R1 => DeviceMode::Dload,
        Model::Ec25 => DeviceMode::Edl,
    }
}

/// USB identity and endpoint roles of a mode ([`crate::identity`]: the 9615's DLOAD is
/// 05c6:9215 with one interface [confirmed, field log]).
pub fn layout(model: Model, mode: DeviceMode) -> (UsbIdentity, &'static [Port]) {
    let roles: &'static [Port] = match (model, mode) {
        (_, DeviceMode::Normal) => &[Port::Dm, Port::At],
        (Model::Ec20R1, DeviceMode::Dload | DeviceMode::Streaming | DeviceMode::Edl) => &[Port::Dm],
        (Model::Ec25, DeviceMode::Dload | DeviceMode::Streaming | DeviceMode::Edl) => &[Port::Edl],
        (_, DeviceMode::Fastboot) => &[Port::Fastboot],
    };
    (usb_identity(model, mode), roles)
}

/// The USB serial string a mode shows: fastboot's is its `serialno` (the EC20 R1's
/// `MDM9615` [confirmed, field log]); 9615 DLOAD and 05c6:9008 EDL have none [confirmed,
/// field log and EC25-AU descriptors]; normal mode's is configurable ([I]).
fn usb_serial(config: &ModuleConfig, mode: DeviceMode) -> Option<String> {
    match mode {
        DeviceMode::Fastboot => Some(
            config
                .identity
                .fastboot_serial
                .clone()
                .unwrap_or_else(|| handlers::fastboot::product(config.model).to_owned()),
        ),
        DeviceMode::Normal => config.identity.normal_usb_serial.clone(),
        DeviceMode::Dload | DeviceMode::Streaming | DeviceMode::Edl => None,
    }
}

fn attach(shared: &Arc<Shared>, mode: DeviceMode) {
    let mut core = lock(&shared.core);
    let model = core.config.model;
    let mode = match (model, mode) {
        (Model::Ec25, DeviceMode::Dload | DeviceMode::Streaming) => DeviceMode::Edl,
        (Model::Ec20R1, DeviceMode::Edl) => DeviceMode::Dload,
        (_, m) => m,
    };
    core.generation += 1;
    core.mode = Some(mode);
    core.faults.bytes = 0;
    if mode != DeviceMode::Streaming {
        // The streaming programmer lives in RAM written over DMSS; anything else is a
        // fresh boot.
        core.ram.clear();
    }
    let mut events = Vec::new();
    if mode == DeviceMode::Normal
        && let Some(rev) = boot::firmware_revision(model, &core.nand)
    {
        core.running_revision = rev;
    }
    let generation = core.generation;
    let (usb, roles) = layout(model, mode);
    let usb_serial = usb_serial(&core.config, mode);
    let mut endpoints = Vec::new();
    let mut connectors = Vec::new();
    for &role in roles {
        let info = match role {
            Port::Edl | Port::Fastboot => LinkInfo {
                endpoint: format!("sim:{}:{}", mode.key(), role.key()),
                max_packet_size: Some(HS_MAX_PACKET),
                zlp: true,
            },
            Port::Dm | Port::At => LinkInfo::stream(format!("sim:{}:{}", mode.key(), role.key())),
        };
        match shared.serving.serve(role, &info) {
            Ok(Served::InProcess) => {
                let (tx, rx) = mpsc::channel();
                connectors.push(Connector { role, info: info.clone(), tx });
                endpoints.push(Endpoint { role, tty: None, tcp: None });
                spawn_endpoint(shared, generation, model, mode, role, Conn::Queue(rx));
            }
            Ok(Served::Tty { path, transport }) => {
                endpoints.push(Endpoint { role, tty: Some(path), tcp: None });
                spawn_endpoint(shared, generation, model, mode, role, Conn::Fixed(transport));
            }
            Ok(Served::Tcp { addr, listener }) => {
                endpoints.push(Endpoint { role, tty: None, tcp: Some(addr) });
                spawn_listener(shared, generation, model, mode, role, listener);
            }
            Err(e) => events.push(SimEvent::Log { text: format!("cannot serve {}: {e}", role.key()) }),
        }
    }
    // Endpoints first: the first line of `modemflash sim --json` is always an endpoints event.
    events.insert(
        0,
        SimEvent::Endpoints { mode, usb_id: usb.id_string(), usb: usb.clone(), endpoints: endpoints.clone() },
    );
    if mode == DeviceMode::Normal {
        events.push(SimEvent::Booted { revision: core.running_revision.clone() });
    }
    if core.dirty {
        if let Some(path) = core.config.state_file.clone()
            && let Err(e) = state::save(&path, &core.nand, &core.config.identity)
        {
            events.push(SimEvent::Log { text: format!("cannot save state to {}: {e}", path.display()) });
        }
        core.dirty = false;
    }
    drop(core);
    shared.serving.publish(mode, &endpoints);
    shared.bus.attach(mode, usb, usb_serial, endpoints, connectors);
    emit(shared, events);
}

/// Take the module off the bus and bring it back after the re-enumeration delay.
fn reset(shared: &Arc<Shared>, to: ResetTo, reason: &str) {
    let mut core = lock(&shared.core);
    core.generation += 1;
    core.mode = None;
    // A stalled module comes back to life when power-cycled.
    core.faults.stalled = false;
    if let Some(path) = core.config.state_file.clone()
        && core.dirty
    {
        let _ = state::save(&path, &core.nand, &core.config.identity);
        core.dirty = false;
    }
    let next = match to {
        ResetTo::Mode(m) => m,
        ResetTo::Boot => mode_after_boot(core.config.model, &core.nand),
    };
    let delay = core.faults.slow_reenum().unwrap_or(core.config.reenum_delay);
    let generation = core.generation;
    drop(core);
    shared.serving.unpublish();
    shared.bus.detach();
    emit(shared, vec![SimEvent::Detached { reason: reason.to_owned() }]);
    let shared = Arc::clone(shared);
    thread::spawn(move || {
        shared.clock.sleep(delay);
        // A newer reset or a shutdown wins.
        if lock(&shared.core).generation == generation {
            attach(&shared, next);
        }
    });
}

fn spawn_endpoint(
    shared: &Arc<Shared>,
    generation: u64,
    model: Model,
    mode: DeviceMode,
    role: Port,
    conn: Conn,
) {
    let shared = Arc::clone(shared);
    thread::spawn(move || run_endpoint(&shared, generation, model, mode, role, conn));
}

fn spawn_listener(
    shared: &Arc<Shared>,
    generation: u64,
    model: Model,
    mode: DeviceMode,
    role: Port,
    listener: std::net::TcpListener,
) {
    let shared = Arc::clone(shared);
    thread::spawn(move || {
        let _ = listener.set_nonblocking(true);
        while lock(&shared.core).generation == generation {
            match listener.accept() {
                Ok((stream, peer)) => {
                    let _ = stream.set_nonblocking(false);
                    // The handshake runs on its own thread so a silent client cannot block
                    // the next one.
                    let shared = Arc::clone(&shared);
                    thread::spawn(move || match crate::serve::fastboot_tcp_server(stream) {
                        Ok(t) => {
                            emit(
                                &shared,
                                vec![SimEvent::Log { text: format!("fastboot tcp client {peer}") }],
                            );
                            run_endpoint(&shared, generation, model, mode, role, Conn::Fixed(t));
                        }
                        Err(e) => emit(
                            &shared,
                            vec![SimEvent::Log {
                                text: format!("fastboot tcp handshake with {peer} failed: {e}"),
                            }],
                        ),
                    });
                }
                Err(_) => thread::sleep(POLL),
            }
        }
    });
}

/// Where an endpoint's connections come from.
pub(crate) enum Conn {
    /// One transport for the endpoint's life (pty, one TCP connection).
    Fixed(Box<dyn Transport>),
    /// In-process: a new transport per `VirtualBus::open`.
    Queue(Receiver<Box<dyn Transport>>),
}

fn run_endpoint(
    shared: &Arc<Shared>,
    generation: u64,
    model: Model,
    mode: DeviceMode,
    role: Port,
    conn: Conn,
) {
    let mut handler = handlers::make(model, mode, role);
    let mut buf = vec![0u8; 64 * 1024];
    let (mut transport, queue) = match conn {
        Conn::Fixed(t) => (Some(t), None),
        Conn::Queue(rx) => (None, Some(rx)),
    };
    loop {
        let Some(t) = transport.as_mut() else {
            // Not connected: wait for the host to open the endpoint.
            let next = queue.as_ref().map(|q| q.recv_timeout(POLL));
            if lock(&shared.core).generation != generation {
                break;
            }
            match next {
                Some(Ok(t)) => transport = Some(t),
                Some(Err(_)) => {}
                None => break,
            }
            continue;
        };
        let received = t.recv(&mut buf, POLL);
        let mut out = Vec::new();
        let mut actions = Vec::new();
        let mut events = Vec::new();
        {
            let mut core = lock(&shared.core);
            if core.generation != generation {
                break;
            }
            if core.faults.stalled {
                continue;
            }
            match received {
                Ok(n) => {
                    let data = buf.get(..n).unwrap_or_default();
                    match core.faults.on_bytes(n) {
                        Some(FaultKind::Disconnect | FaultKind::PowerLoss) => {
                            let step = format!("after {} bytes", core.faults.bytes);
                            events.push(SimEvent::Fault { kind: "disconnect".into(), step });
                            actions.push(Action::Reset { to: ResetTo::Boot, after: Duration::ZERO });
                        }
                        Some(FaultKind::Stall) => core.faults.stalled = true,
                        _ => {
                            let mut cx = Cx {
                                core: &mut core,
                                out: &mut out,
                                actions: &mut actions,
                                events: &mut events,
                            };
                            handler.on_data(data, &mut cx);
                        }
                    }
                }
                Err(TransportError::Timeout(_)) => {
                    let mut cx =
                        Cx { core: &mut core, out: &mut out, actions: &mut actions, events: &mut events };
                    handler.on_idle(&mut cx);
                }
                Err(_) => {
                    // The host closed its side. In-process endpoints wait for the next
                    // open; a TCP connection is over.
                    drop(core);
                    if queue.is_none() {
                        break;
                    }
                    transport = None;
                    continue;
                }
            }
            for msg in &mut out {
                if core.faults.on_frame() == Some(FaultKind::CorruptFrame) {
                    let mid = msg.len() / 2;
                    if let Some(b) = msg.get_mut(mid) {
                        *b ^= 0x5a;
                    }
                    events.push(SimEvent::Fault {
                        kind: "corrupt-frame".into(),
                        step: format!("reply {}", core.faults.frames),
                    });
                }
            }
        }
        let pause =
            actions.iter().filter_map(|a| if let Action::PauseUntil(t) = a { Some(*t) } else { None }).max();
        if let Some(at) = pause
            && let Some(wait) = at.checked_sub(shared.clock.now())
        {
            shared.clock.sleep(wait);
        }
        if let Some(t) = transport.as_mut() {
            for msg in out {
                if t.send(&msg).is_err() {
                    break;
                }
            }
        }
        emit(shared, events);
        for action in actions {
            match action {
                Action::Reset { to, after } => {
                    shared.clock.sleep(after);
                    reset(shared, to, "reset requested by the protocol");
                }
                Action::PauseUntil(_) => {}
            }
        }
    }
}
