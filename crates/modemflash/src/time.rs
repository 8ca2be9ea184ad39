//! Deadlines from durations a user or a device may give (`u64::MAX` seconds included):
//! `Instant + Duration` panics on overflow, these never do.

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
}
