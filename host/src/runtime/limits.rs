//! Per-store resource limits: memory summed over every memory of a plugin,
//! tables, and the other caps that bound what a guest can make the host do.

use wasmtime::ResourceLimiter;

/// The most bytes one host call may move from guest to host (strings,
/// lists). Above the capabilities' own caps (1 MiB payloads and values), so
/// those give the plugin a clean `limit` error; anything larger traps before
/// the host allocates it.
pub const HOSTCALL_FUEL: usize = 2 << 20;

/// The most component-model handles (resources such as WASI streams) a
/// plugin may hold at once; wasmtime's default is 100,000.
pub const MAX_COMPONENT_HANDLES: usize = 10_000;

/// The most table elements any one table may have.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;

/// A [`ResourceLimiter`] that caps the **sum** of all linear memories of a
/// plugin's component (a component may have several; a per-memory limit
/// would let each of them grow to the cap).
#[derive(Debug)]
pub struct MemoryLimiter {
    limit: u64,
    used: u64,
    refusals: u64,
}

impl MemoryLimiter {
    /// A limiter allowing `limit` bytes of linear memory in total.
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            used: 0,
            refusals: 0,
        }
    }

    /// The configured limit in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes of linear memory currently in use, across all memories.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// How many growth requests were refused.
    pub fn refusals(&self) -> u64 {
        self.refusals
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = desired.saturating_sub(current) as u64;
        let total = self.used.saturating_add(growth);
        if total > self.limit {
            self.refusals += 1;
            // Trap rather than returning -1 from memory.grow: the operator
            // sees exactly why the plugin stopped.
            return Err(wasmtime::Error::msg(format!(
                "memory limit reached: the plugin asked for {} MiB in total, its limit is {} MiB",
                total.div_ceil(1 << 20),
                self.limit >> 20
            )));
        }
        self.used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_growth_across_memories() {
        let mut limiter = MemoryLimiter::new(10 << 20);
        // Two memories each growing to 4 MiB: fine (8 MiB total).
        assert!(limiter.memory_growing(0, 4 << 20, None).unwrap());
        assert!(limiter.memory_growing(0, 4 << 20, None).unwrap());
        assert_eq!(limiter.used(), 8 << 20);
        // A third 4 MiB would pass a per-memory check but not the sum.
        let err = limiter.memory_growing(0, 4 << 20, None).unwrap_err();
        assert!(err.to_string().contains("memory limit reached"), "{err}");
        assert_eq!(limiter.refusals(), 1);
        assert_eq!(limiter.used(), 8 << 20);
    }

    #[test]
    fn growth_is_counted_from_current_size() {
        let mut limiter = MemoryLimiter::new(4 << 20);
        assert!(limiter.memory_growing(0, 1 << 20, None).unwrap());
        assert!(limiter.memory_growing(1 << 20, 3 << 20, None).unwrap());
        assert_eq!(limiter.used(), 3 << 20);
        assert!(limiter.memory_growing(3 << 20, 5 << 20, None).is_err());
    }
}
