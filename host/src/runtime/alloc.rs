//! How module instances get their memory.
//!
//! - **Pooling** (the gateway's default): wasmtime's pooling allocator keeps a
//!   fixed number of instance slots, each with a linear-memory slot of a fixed
//!   size, reserved once at start. Instantiating (a start, a restart, a hot
//!   swap) then reuses a slot instead of mapping fresh memory. The pool is
//!   sized from the limits at start: two slots per module of the deployment
//!   (a hot swap runs the new version beside the old) and two more, at least
//!   [`DEFAULT_POOL_INSTANCES`]; each memory slot as large as the largest
//!   module memory limit, and at least [`DEFAULT_MEMORY_BYTES`]. The pool does
//!   not grow after start: a later deployment with a module whose limit is
//!   larger than the slots, or with more modules than half the slots, is
//!   refused with the reason.
//! - **On demand**: each instance maps its own memory, reserving only what it
//!   uses plus room to grow. The runtime falls back to it where virtual
//!   memory is short (a `ulimit -v`, a 32-bit or small-address-space
//!   kernel): when the pool's reservation would take more than half of the
//!   address space the process may still map, or when the engine cannot
//!   reserve the pool.
//!
//! Compiled code checks memory bounds against the reservation and guard it
//! was compiled for, so an engine loads only code compiled for its own. A
//! gateway with a compiler compiles for whatever its allocation is. A
//! precompiled artifact (`ganglion module compile`) is built for one fixed
//! geometry, [`PRECOMPILED_MEMORY_RESERVATION`] with a [`MEMORY_GUARD`]: the
//! default pool's, so a full gateway with the default pool loads it too. The
//! runtime-only build (no `compiler` feature) uses that geometry and no
//! other: its pool's memory slots are fixed at that size, and on demand each
//! memory reserves that much and moves when it grows past it.

use super::DEFAULT_MEMORY_BYTES;
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig};

/// The fewest instance slots a pool has: 16 modules, each with room for a
/// hot swap, on a 1 GB device.
pub const DEFAULT_POOL_INSTANCES: u32 = 32;
/// Core instances a component may make: a Rust module makes a few (its main
/// module and the adapters' shims); a Python one built by componentize-py
/// 0.25.1 makes 14 (libc, libpython and their shims, linked at
/// instantiation), which 8 refused. The pool only counts them against this
/// limit; their metadata is allocated when an instance is made.
const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
/// Tables a component may have.
const TABLES_PER_COMPONENT: u32 = 4;
/// The guard after each linear-memory slot (bounds are checked explicitly
/// whenever the slot is smaller than 4 GiB).
pub const MEMORY_GUARD: u64 = 2 * 1024 * 1024;
/// The linear-memory reservation precompiled artifacts are compiled for,
/// and the only one the runtime-only build uses: the default memory slot.
pub const PRECOMPILED_MEMORY_RESERVATION: usize = DEFAULT_MEMORY_BYTES;
/// What an on-demand memory reserves beyond its size when it grows.
const GROWTH_RESERVATION: u64 = 1024 * 1024;
/// Each call runs on a fiber stack of this size (wasm's own stack limit,
/// 512 KiB by default, plus room for the host's frames).
const ASYNC_STACK: usize = 2 * 1024 * 1024;
/// The metadata of one component or core instance, at most.
const INSTANCE_METADATA: usize = 1024 * 1024;

/// The reason of the on-demand allocation [`super::Runtime::new`] uses:
/// wasmtime's own defaults (4 GiB reserved per memory, no bounds checks).
pub const DEFAULT_ON_DEMAND: &str = "wasmtime's default";

/// The size of an instance pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSize {
    /// How many module instances may exist at once.
    pub instances: u32,
    /// The largest linear memory of each, in bytes.
    pub memory_bytes: usize,
}

impl PoolSize {
    /// A pool for `modules` modules whose largest memory limit is
    /// `largest_memory` bytes. Without a compiler, the memory slots are
    /// [`PRECOMPILED_MEMORY_RESERVATION`] whatever the limits: a module
    /// asking more does not fit the pool.
    pub fn for_limits(modules: usize, largest_memory: usize) -> PoolSize {
        let wanted = u32::try_from(modules.saturating_mul(2).saturating_add(2)).unwrap_or(u32::MAX);
        let memory_bytes = if super::COMPILER {
            largest_memory.max(DEFAULT_MEMORY_BYTES)
        } else {
            PRECOMPILED_MEMORY_RESERVATION
        };
        PoolSize {
            instances: wanted.max(DEFAULT_POOL_INSTANCES),
            memory_bytes,
        }
    }

    /// The address space the pool reserves, in bytes (an estimate from the
    /// slots: memories with their guards, fiber stacks and instance metadata).
    pub fn reservation(&self) -> u64 {
        let n = u64::from(self.instances);
        let memory = self.memory_bytes as u64 + MEMORY_GUARD;
        let metadata = (1 + u64::from(CORE_INSTANCES_PER_COMPONENT)) * INSTANCE_METADATA as u64;
        n * (memory + ASYNC_STACK as u64 + metadata)
    }

    fn configure(&self, config: &mut Config) {
        let n = self.instances;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .total_memories(n)
            .max_memories_per_component(1)
            .total_tables(n.saturating_mul(TABLES_PER_COMPONENT))
            .max_tables_per_component(TABLES_PER_COMPONENT)
            .total_stacks(n)
            .max_memory_size(self.memory_bytes);
        config
            .memory_reservation(self.memory_bytes as u64)
            .memory_guard_size(MEMORY_GUARD)
            .async_stack_size(ASYNC_STACK)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
}

impl std::fmt::Display for PoolSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} instances of up to {} MiB",
            self.instances,
            self.memory_bytes / (1024 * 1024)
        )
    }
}

/// Sets `config` up for the memory geometry of precompiled artifacts, with
/// memories allocated on demand: what `ganglion module compile` compiles
/// for, and what the runtime-only build uses when it has no pool.
pub(super) fn configure_precompiled(config: &mut Config) {
    config
        .memory_reservation(PRECOMPILED_MEMORY_RESERVATION as u64)
        .memory_reservation_for_growth(GROWTH_RESERVATION)
        .memory_guard_size(MEMORY_GUARD)
        .async_stack_size(ASYNC_STACK);
}

/// How instances are allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allocation {
    /// From a pool of this size.
    Pooling(PoolSize),
    /// On demand, and why (not asked for a pool, or not enough address space
    /// for it).
    OnDemand(String),
}

impl Allocation {
    /// Sets `config` up for this allocation.
    pub(super) fn configure(&self, config: &mut Config) {
        match self {
            Allocation::Pooling(size) => size.configure(config),
            Allocation::OnDemand(_) if !super::COMPILER => configure_precompiled(config),
            Allocation::OnDemand(why) if why == DEFAULT_ON_DEMAND => {}
            Allocation::OnDemand(_) => {
                // Reserve only what is used plus room to grow, not 4 GiB per
                // memory: this is the mode for short address spaces.
                config
                    .memory_reservation(0)
                    .memory_reservation_for_growth(GROWTH_RESERVATION)
                    .memory_guard_size(0)
                    .async_stack_size(ASYNC_STACK);
            }
        }
    }

    /// Whether `modules` modules fit, each with room for a hot swap.
    pub fn admits_modules(&self, modules: usize) -> bool {
        match self {
            Allocation::Pooling(size) => modules.saturating_mul(2) <= size.instances as usize,
            Allocation::OnDemand(_) => true,
        }
    }

    /// Whether an instance with a memory limit of `memory_bytes` fits.
    pub fn admits(&self, memory_bytes: usize) -> bool {
        match self {
            Allocation::Pooling(size) => memory_bytes <= size.memory_bytes,
            Allocation::OnDemand(_) => true,
        }
    }
}

impl std::fmt::Display for Allocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Allocation::Pooling(size) => write!(f, "pooling ({size})"),
            Allocation::OnDemand(why) => write!(f, "on demand ({why})"),
        }
    }
}

/// What the operator asked for (`ganglion run --pool-instances`,
/// `--pool-memory-mib`, `--no-pool`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AllocationChoice {
    /// A pool, sized from the deployment's limits unless given; on demand
    /// where the address space is short.
    #[default]
    Auto,
    /// A pool with these slots (each `None` sized from the limits).
    Pool {
        /// How many instances.
        instances: Option<u32>,
        /// The memory slot, in bytes.
        memory_bytes: Option<usize>,
    },
    /// No pool.
    OnDemand,
}

impl AllocationChoice {
    /// The allocation for a deployment of `modules` modules whose largest
    /// memory limit is `largest_memory`, in a process with
    /// `address_space_left` (see [`address_space_left`]).
    pub fn decide(
        self,
        modules: usize,
        largest_memory: usize,
        address_space_left: Option<u64>,
    ) -> Allocation {
        let auto = PoolSize::for_limits(modules, largest_memory);
        let size = match self {
            AllocationChoice::OnDemand => {
                return Allocation::OnDemand("asked for (--no-pool)".to_string());
            }
            AllocationChoice::Auto => auto,
            AllocationChoice::Pool {
                instances,
                memory_bytes,
            } => PoolSize {
                instances: instances.unwrap_or(auto.instances),
                memory_bytes: memory_bytes.unwrap_or(auto.memory_bytes),
            },
        };
        choose(size, address_space_left)
    }
}

/// Chooses between `pool` and on-demand allocation, given the address space
/// the process may still map (`None`: no limit).
pub fn choose(pool: PoolSize, address_space_left: Option<u64>) -> Allocation {
    match address_space_left {
        Some(left) if pool.reservation() > left / 2 => Allocation::OnDemand(format!(
            "a pool of {pool} would reserve {} MiB of the {} MiB of address space left",
            pool.reservation() / (1024 * 1024),
            left / (1024 * 1024)
        )),
        _ => Allocation::Pooling(pool),
    }
}

/// The address space this process may still map: its `RLIMIT_AS` (from
/// `/proc/self/limits`) less what it maps now (`VmSize`), or `None` when
/// there is no limit or it cannot be read.
pub fn address_space_left() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max address space"))?;
    let soft = line.split_whitespace().nth(3)?;
    let limit: u64 = soft.parse().ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let used_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(limit.saturating_sub(used_kib * 1024))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: usize = 1024 * 1024;

    #[test]
    fn the_pool_is_sized_from_the_limits() {
        let small = PoolSize::for_limits(3, 8 * MIB);
        assert_eq!(small.instances, DEFAULT_POOL_INSTANCES);
        assert_eq!(small.memory_bytes, DEFAULT_MEMORY_BYTES);
        let big = PoolSize::for_limits(40, 256 * MIB);
        assert_eq!(big.instances, 82, "two per module, and two more");
        assert_eq!(big.memory_bytes, 256 * MIB);
        assert!(Allocation::Pooling(big).admits(256 * MIB));
        assert!(!Allocation::Pooling(big).admits(257 * MIB));
        assert!(Allocation::OnDemand(String::new()).admits(4096 * MIB));
        assert!(Allocation::Pooling(big).admits_modules(41));
        assert!(!Allocation::Pooling(big).admits_modules(42));
    }

    #[test]
    fn short_address_space_falls_back_to_on_demand() {
        let pool = PoolSize::for_limits(3, 64 * MIB);
        assert_eq!(choose(pool, None), Allocation::Pooling(pool));
        let plenty = pool.reservation() * 4;
        assert_eq!(choose(pool, Some(plenty)), Allocation::Pooling(pool));
        match choose(pool, Some(256 * MIB as u64)) {
            Allocation::OnDemand(why) => assert!(why.contains("256 MiB"), "{why}"),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn the_operator_can_size_the_pool_or_turn_it_off() {
        let chosen = AllocationChoice::Pool {
            instances: Some(4),
            memory_bytes: None,
        }
        .decide(10, 128 * MIB, None);
        assert_eq!(
            chosen,
            Allocation::Pooling(PoolSize {
                instances: 4,
                memory_bytes: 128 * MIB
            })
        );
        let off = AllocationChoice::OnDemand.decide(1, MIB, None);
        assert!(matches!(off, Allocation::OnDemand(_)), "{off}");
        let auto = AllocationChoice::Auto.decide(1, MIB, Some(u64::MAX));
        assert!(matches!(auto, Allocation::Pooling(_)), "{auto}");
    }
}
