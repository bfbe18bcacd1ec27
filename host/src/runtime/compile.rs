//! Precompiling a component for a gateway, possibly of another architecture
//! (`ganglion module compile --target aarch64 FILE`): what a runtime-only
//! gateway, built without a compiler, loads instead of the `.wasm`.
//!
//! The machine code is compiled with the engine settings every gateway uses
//! and the memory geometry of precompiled artifacts (see [`super::alloc`]),
//! and with the target's baseline CPU features, so that it runs on every CPU
//! of that architecture (a Raspberry Pi 3's Cortex-A53 as well as a Pi 5's
//! Cortex-A76). The gateway that loads it checks all of that again and
//! refuses a mismatch with the reason.

use super::{Engine, LoadError, alloc, base_config, check_component, error_chain};

/// Why a component could not be precompiled.
#[derive(Debug, thiserror::Error)]
pub enum PrecompileError {
    /// The target is not one this build can compile for.
    #[error(
        "cannot compile for target `{target}`: {reason} (use aarch64, x86_64 or a full target triple such as aarch64-unknown-linux-gnu)"
    )]
    Target {
        /// The target as given.
        target: String,
        /// Why.
        reason: String,
    },
    /// The input is not a component, or does not compile.
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// The target triple for `target`: `aarch64` (or `arm64`) and `x86_64` (or
/// `amd64`) name the Linux GNU targets; anything with a `-` is taken as a
/// triple.
pub fn target_triple(target: &str) -> String {
    match target {
        "aarch64" | "arm64" => "aarch64-unknown-linux-gnu".to_string(),
        "x86_64" | "x86-64" | "amd64" => "x86_64-unknown-linux-gnu".to_string(),
        other => other.to_string(),
    }
}

/// Compiles the component `bytes` (named `name` in errors) for `target`
/// (see [`target_triple`]), returning the precompiled component.
///
/// The component is not checked against the module world here (the
/// gateway does so when it loads it), since code for another architecture
/// cannot be instantiated on this machine.
pub fn precompile(name: &str, bytes: &[u8], target: &str) -> Result<Vec<u8>, PrecompileError> {
    check_component(name, bytes)?;
    let triple = target_triple(target);
    let unsupported = |e: wasmtime::Error| PrecompileError::Target {
        target: target.to_string(),
        reason: error_chain(&e),
    };
    let mut config = base_config();
    config.target(&triple).map_err(unsupported)?;
    alloc::configure_precompiled(&mut config);
    let engine = Engine::new(&config).map_err(unsupported)?;
    let compiled = engine.precompile_component(bytes);
    super::trim::release_freed_memory();
    compiled.map_err(|e| {
        PrecompileError::Load(LoadError::Compile {
            module: name.to_string(),
            reason: error_chain(&e),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_named_by_architecture_or_triple() {
        assert_eq!(target_triple("aarch64"), "aarch64-unknown-linux-gnu");
        assert_eq!(target_triple("amd64"), "x86_64-unknown-linux-gnu");
        assert_eq!(
            target_triple("riscv64gc-unknown-linux-gnu"),
            "riscv64gc-unknown-linux-gnu"
        );
        let wasm = b"\0asm\x0d\0\x01\0";
        match precompile("m", wasm, "sparc") {
            Err(PrecompileError::Target { target, reason }) => {
                assert_eq!(target, "sparc");
                assert!(!reason.is_empty());
            }
            other => panic!("{other:?}"),
        }
        match precompile("m", b"\0asm\x01\0\0\0", "aarch64") {
            Err(PrecompileError::Load(LoadError::NotAComponent { module, .. })) => {
                assert_eq!(module, "m")
            }
            other => panic!("{other:?}"),
        }
    }
}
