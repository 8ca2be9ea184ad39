//! A tty opened without `serialport`, used when `serialport` cannot configure it.
//!
//! On Linux `serialport` sets the line speed with the termios2 ioctls (`TCGETS2`/`TCSETS2`).
//! qemu-user does not implement them (it answers ENOSYS), so an arm64 build run under
//! `qemu-aarch64` could open no tty at all; some old or trimmed kernels lack them too. This
//! backend applies the same settings as the main path (raw, 8N1, no flow control, 115200,
//! a standard speed, so the plain termios calls suffice) and waits with `poll`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::time::Duration;

use nix::fcntl::{OFlag, open};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::stat::Mode;
use nix::sys::termios::{self, BaudRate, ControlFlags, SetArg};

/// ENOSYS: the call that `serialport` needs does not exist here.
pub(crate) const ENOSYS: i32 = 38;

/// An open tty in raw mode; reads and writes never block past their timeout.
#[derive(Debug)]
pub(crate) struct Tty {
    file: File,
    timeout: Duration,
}

impl Tty {
    pub(crate) fn open(path: &str, timeout: Duration) -> io::Result<Self> {
        let fd = open(
            path,
            OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let mut t = termios::tcgetattr(&fd)?;
        termios::cfmakeraw(&mut t);
        t.control_flags |= ControlFlags::CREAD | ControlFlags::CLOCAL | ControlFlags::CS8;
        t.control_flags &= !(ControlFlags::CSTOPB | ControlFlags::PARENB | ControlFlags::CRTSCTS);
        termios::cfsetspeed(&mut t, BaudRate::B115200)?;
        termios::tcsetattr(&fd, SetArg::TCSANOW, &t)?;
        Ok(Tty { file: File::from(fd), timeout })
    }

    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Wait until the tty is ready for `flags`, or the timeout passes (then `TimedOut`).
    fn wait(&self, flags: PollFlags) -> io::Result<()> {
        // poll takes whole milliseconds up to i32::MAX; round up so a short wait still waits.
        let ms = self.timeout.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(self.file.as_fd(), flags)];
        loop {
            match poll(&mut fds, timeout) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::TimedOut, "tty timed out")),
                // Ready, or hung up / in error: the read or write that follows says which.
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Read for Tty {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.wait(PollFlags::POLLIN)?;
        match self.file.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                Err(io::Error::new(io::ErrorKind::TimedOut, "tty timed out"))
            }
            r => r,
        }
    }
}

impl Write for Tty {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.wait(PollFlags::POLLOUT)?;
        match self.file.write(data) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                Err(io::Error::new(io::ErrorKind::TimedOut, "tty write timed out"))
            }
            r => r,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
