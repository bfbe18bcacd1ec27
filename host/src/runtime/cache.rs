//! The compiled-artifact cache: each component is compiled once, and the
//! machine code is kept on disk under its content address (sha256 of the
//! `.wasm` bytes) and the engine's compatibility hash. A restart, or a hot
//! swap back to a version seen before, loads it instead of compiling again.
//!
//! Only files this cache wrote are ever loaded: the names are derived from the
//! digest and the engine's own compatibility hash, the directory is the
//! gateway's data directory, and a file that does not load (damaged, or from
//! another engine) is removed and the component compiled again.
//!
//! A build without the `compiler` feature compiles nothing and has no cache.

#[cfg(feature = "compiler")]
pub use compiled::CompileCache;

#[cfg(feature = "compiler")]
mod compiled {
    use sha2::{Digest, Sha256};
    use std::hash::{Hash, Hasher};
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};
    use wasmtime::Engine;
    use wasmtime::component::Component;

    /// A `Hasher` over sha256, so that the engine's compatibility hash gives the
    /// same file name on every run (std's hashers make no such promise).
    struct StableHasher(Sha256);

    impl Hasher for StableHasher {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }

        fn finish(&self) -> u64 {
            let out = self.0.clone().finalize();
            let mut first = [0u8; 8];
            first.copy_from_slice(&out[..8]);
            u64::from_be_bytes(first)
        }
    }

    /// The engine's compatibility hash, stable across runs.
    fn engine_hash(engine: &Engine) -> u64 {
        let mut h = StableHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut h);
        h.finish()
    }

    /// The cache directory.
    #[derive(Debug, Clone)]
    pub struct CompileCache {
        dir: PathBuf,
    }

    impl CompileCache {
        /// A cache in `dir`, created if missing.
        pub fn open(dir: &Path) -> std::io::Result<CompileCache> {
            std::fs::create_dir_all(dir)?;
            Ok(CompileCache {
                dir: dir.to_path_buf(),
            })
        }

        fn path(&self, engine: &Engine, digest: &str) -> PathBuf {
            let name = digest.trim_start_matches("sha256:");
            self.dir
                .join(format!("{name}-{:016x}.cwasm", engine_hash(engine)))
        }

        /// The cached compilation of the component with `digest`, if there is a
        /// good one.
        pub fn get(&self, engine: &Engine, digest: &str) -> Option<Component> {
            let path = self.path(engine, digest);
            // Read into memory rather than mapped (`deserialize_file`): a mapped
            // file that something truncates or overwrites in place would crash
            // the process (SIGBUS) instead of failing a load.
            let bytes = std::fs::read(&path).ok()?;
            // SAFETY: `deserialize` trusts the bytes to be machine code that this
            // engine produced. This cache writes its files itself, names them by
            // the component's digest and this engine's compatibility hash, and
            // wasmtime checks that hash again in the file's header.
            #[allow(unsafe_code)]
            let loaded = unsafe { Component::deserialize(engine, &bytes) };
            match loaded {
                Ok(component) => Some(component),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "a cached compilation does not load ({e:#}); compiling again");
                    let _ = std::fs::remove_file(&path);
                    None
                }
            }
        }

        /// Keeps `component`'s compilation for `digest`. A failure only costs a
        /// compilation next time, so it is logged, not returned.
        pub fn put(&self, engine: &Engine, digest: &str, component: &Component) {
            let path = self.path(engine, digest);
            let written = component
                .serialize()
                .map_err(|e| format!("{e:#}"))
                .and_then(|bytes| {
                    // A name of its own, so that two compilations of one digest
                    // (a push retried while the first is checked) never write
                    // one file.
                    static NEXT: AtomicU64 = AtomicU64::new(0);
                    let n = NEXT.fetch_add(1, Ordering::Relaxed);
                    let tmp = path.with_extension(format!("{}-{n}.tmp", std::process::id()));
                    std::fs::write(&tmp, bytes)
                        .and_then(|()| std::fs::rename(&tmp, &path))
                        .map_err(|e| e.to_string())
                });
            if let Err(e) = written {
                tracing::warn!(path = %path.display(), "cannot cache a compilation: {e}");
            }
        }
    }
}
