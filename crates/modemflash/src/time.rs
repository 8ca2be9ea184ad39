//! Time: deadlines from durations a user or a device may give (`u64::MAX` seconds
//! included; `Instant + Duration` panics on overflow, these never do), and the [`Clock`]
//! that the protocol clients, the buses and the virtual module (`modemflash-sim`) measure
//! timeouts on, real or virtual, so that a 60 s timeout costs nothing in tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// `from + d`, or the farthest instant the platform can represent within a century when
/// `from + d` cannot be represented. A deadline that far away is "never" for a flash.
#[must_use]
pub fn deadline_from(from: Instant, d: Duration) -> Instant {
    const FALLBACKS: [Duration; 3] = [
        Duration::from_secs(100 * 365 * 24 * 3600),
        Duration::from_secs(365 * 24 * 3600),
        Duration::from_secs(24 * 3600),
    ];
    from.checked_add(d).or_else(|| FALLBACKS.iter().find_map(|f| from.checked_add(*f))).unwrap_or(from)
}

/// `Instant::now() + d`, never panicking: see [`deadline_from`].
#[must_use]
pub fn deadline(d: Duration) -> Instant {
    deadline_from(Instant::now(), d)
}

/// A source of time: the host clients and buses measure their deadlines on one, and the
/// virtual module and its bus share one.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Time since the clock started.
    fn now(&self) -> Duration;
    /// Let `d` pass.
    fn sleep(&self, d: Duration);
    /// True when `sleep` only advances a counter.
    fn is_virtual(&self) -> bool {
        false
    }
}

/// Wall-clock time.
#[derive(Debug)]
pub struct RealClock(Instant);

impl Default for RealClock {
    fn default() -> Self {
        RealClock(Instant::now())
    }
}

impl Clock for RealClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// Virtual time: `sleep` advances the clock at once.
#[derive(Debug, Default)]
pub struct VirtualClock(AtomicU64);

impl Clock for VirtualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::SeqCst))
    }
    fn sleep(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.0.fetch_add(ns, Ordering::SeqCst);
    }
    fn is_virtual(&self) -> bool {
        true
    }
}

/// Shared handle to a clock.
pub type SharedClock = Arc<dyn Clock>;

/// The process's wall clock, shared: what every client measures on unless given another.
#[must_use]
pub fn real() -> SharedClock {
    static REAL: std::sync::OnceLock<SharedClock> = std::sync::OnceLock::new();
    REAL.get_or_init(|| Arc::new(RealClock::default())).clone()
}

/// A deadline on a [`Clock`]: `timeout` from now. Never overflows (a user's `u64::MAX`
/// seconds is simply "never" for a flash).
#[derive(Debug, Clone)]
pub struct Due {
    clock: SharedClock,
    at: Duration,
}

impl Due {
    /// `timeout` from now on `clock`.
    #[must_use]
    pub fn after(clock: &SharedClock, timeout: Duration) -> Self {
        Due { clock: clock.clone(), at: clock.now().saturating_add(timeout) }
    }

    /// Time left (zero once passed).
    #[must_use]
    pub fn left(&self) -> Duration {
        self.at.saturating_sub(self.clock.now())
    }

    /// The earlier of this deadline and `timeout` from now.
    #[must_use]
    pub fn at_most(&self, timeout: Duration) -> Self {
        let other = self.clock.now().saturating_add(timeout);
        Due { clock: self.clock.clone(), at: self.at.min(other) }
    }

    /// Whether the deadline has passed.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.left().is_zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_give_a_far_deadline() {
        let now = Instant::now();
        let far = deadline_from(now, Duration::from_secs(u64::MAX));
        assert!(far >= now + Duration::from_secs(24 * 3600));
        assert_eq!(deadline_from(now, Duration::from_secs(3)), now + Duration::from_secs(3));
        let _ = deadline(Duration::MAX);
    }

    #[test]
    fn a_due_runs_on_its_clock() {
        let c: SharedClock = Arc::new(VirtualClock::default());
        let due = Due::after(&c, Duration::from_secs(60));
        assert_eq!(due.left(), Duration::from_secs(60));
        c.sleep(Duration::from_secs(59));
        assert!(!due.passed());
        c.sleep(Duration::from_secs(1));
        assert!(due.passed());
        assert_eq!(Due::after(&c, Duration::MAX).left(), Duration::MAX.saturating_sub(c.now()));
    }

    #[test]
    fn virtual_sleep_is_instant_but_counted() {
        let c = VirtualClock::default();
        let wall = Instant::now();
        c.sleep(Duration::from_secs(60));
        assert_eq!(c.now(), Duration::from_secs(60));
        assert!(wall.elapsed() < Duration::from_secs(1));
        assert!(c.is_virtual() && !RealClock::default().is_virtual());
    }
}
