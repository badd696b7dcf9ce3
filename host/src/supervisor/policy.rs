//! How the host treats a plugin that keeps crashing: restart with
//! exponential back-off, and quarantine it after too many crashes in a
//! window, until an operator re-enables it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Restart and quarantine settings (the defaults are documented in the
/// operator guide).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisionPolicy {
    /// The pause before the second restart in a row (the first is immediate);
    /// it doubles with each further crash.
    pub backoff_initial: Duration,
    /// The longest pause between restarts.
    pub backoff_max: Duration,
    /// Crashes within [`window`](Self::window) that quarantine the plugin.
    pub quarantine_after: u32,
    /// The window in which crashes are counted. A successful call resets
    /// the back-off, but only time forgives a crash: a plugin that fails
    /// every 50th call is still quarantined.
    pub window: Duration,
}

impl Default for SupervisionPolicy {
    fn default() -> Self {
        Self {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            quarantine_after: 5,
            window: Duration::from_secs(60),
        }
    }
}

/// What to do after a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Make a fresh instance after this pause.
    Restart(Duration),
    /// Stop running the plugin until an operator re-enables it.
    Quarantine,
}

/// One plugin's recent crashes.
#[derive(Debug)]
pub struct CrashTracker {
    policy: SupervisionPolicy,
    /// Crashes since the last success (drives the back-off).
    in_a_row: u32,
    /// When the crashes still inside the window happened.
    recent: VecDeque<Instant>,
}

impl CrashTracker {
    /// A tracker with no crashes.
    pub fn new(policy: SupervisionPolicy) -> Self {
        Self {
            policy,
            in_a_row: 0,
            recent: VecDeque::new(),
        }
    }

    /// Record a crash at `now` and decide.
    pub fn crashed(&mut self, now: Instant) -> Verdict {
        self.in_a_row = self.in_a_row.saturating_add(1);
        self.recent.push_back(now);
        while self
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > self.policy.window)
        {
            self.recent.pop_front();
        }
        if self.recent.len() as u32 >= self.policy.quarantine_after {
            return Verdict::Quarantine;
        }
        Verdict::Restart(self.backoff())
    }

    /// Record a successful call: the next crash restarts at once again.
    /// Crashes still count towards quarantine until they leave the window.
    pub fn succeeded(&mut self) {
        self.in_a_row = 0;
    }

    /// The pause before the next instance: none after a first crash, then
    /// `backoff_initial` doubling up to `backoff_max`.
    pub fn backoff(&self) -> Duration {
        match self.in_a_row {
            0 | 1 => Duration::ZERO,
            n => self
                .policy
                .backoff_initial
                .saturating_mul(1 << (n - 2).min(20))
                .min(self.policy.backoff_max),
        }
    }

    /// Crashes counted in the current window.
    pub fn recent(&self) -> usize {
        self.recent.len()
    }

    /// The policy.
    pub fn policy(&self) -> &SupervisionPolicy {
        &self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> SupervisionPolicy {
        SupervisionPolicy {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(350),
            quarantine_after: 4,
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn backoff_is_immediate_then_doubles_up_to_the_cap() {
        let mut t = CrashTracker::new(SupervisionPolicy {
            quarantine_after: 100,
            ..policy()
        });
        let now = Instant::now();
        let pauses: Vec<_> = (0..5)
            .map(|_| match t.crashed(now) {
                Verdict::Restart(d) => d.as_millis(),
                Verdict::Quarantine => panic!("not yet"),
            })
            .collect();
        assert_eq!(pauses, [0, 100, 200, 350, 350]);
        t.succeeded();
        assert_eq!(t.crashed(now), Verdict::Restart(Duration::ZERO));
    }

    #[test]
    fn too_many_crashes_in_the_window_quarantine() {
        let mut t = CrashTracker::new(policy());
        let start = Instant::now();
        for i in 0..3 {
            assert!(matches!(
                t.crashed(start + Duration::from_secs(i)),
                Verdict::Restart(_)
            ));
        }
        assert_eq!(
            t.crashed(start + Duration::from_secs(3)),
            Verdict::Quarantine
        );
    }

    #[test]
    fn old_crashes_fall_out_of_the_window() {
        let mut t = CrashTracker::new(policy());
        let start = Instant::now();
        for i in 0..3 {
            t.crashed(start + Duration::from_secs(i));
        }
        // Two minutes later, the earlier three no longer count.
        assert!(matches!(
            t.crashed(start + Duration::from_secs(120)),
            Verdict::Restart(_)
        ));
        assert_eq!(t.recent(), 1);
    }

    #[test]
    fn successes_reset_the_backoff_but_only_time_forgives() {
        let mut t = CrashTracker::new(policy());
        let now = Instant::now();
        for _ in 0..3 {
            t.crashed(now);
            for _ in 0..49 {
                t.succeeded();
            }
        }
        assert_eq!(t.backoff(), Duration::ZERO);
        assert_eq!(t.recent(), 3);
        // A plugin failing every 50th call is still quarantined.
        assert_eq!(t.crashed(now), Verdict::Quarantine);
    }
}
