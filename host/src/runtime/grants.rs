//! A module's capability grants: the host directories it may see and the
//! environment variables copied into it. A module gets no filesystem, no
//! environment and no network unless its manifest grants them, and this
//! version has no network grant at all: sockets stay denied.
//!
//! [`wasi_ctx`] builds a module's WASI context from its [`Grants`]: each
//! directory is preopened at its guest path with read-only or read-write
//! permissions (wasmtime-wasi refuses paths that leave it, through `..` or a
//! symbolic link), and each granted variable is read from the gateway's
//! environment when the instance is made.

use super::guest_output::{GuestOutput, Stream};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use wasmtime_wasi::{FsPerms, WasiCtx};

/// What a module may do in a granted directory (`mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DirMode {
    /// Read files and list directories (`read-only`, the default).
    #[default]
    ReadOnly,
    /// Also create, change, rename and delete files and directories
    /// (`read-write`).
    ReadWrite,
}

impl DirMode {
    /// The mode's name in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            DirMode::ReadOnly => "read-only",
            DirMode::ReadWrite => "read-write",
        }
    }

    /// The mode called `name` in the manifest.
    pub fn from_name(name: &str) -> Option<DirMode> {
        match name {
            "read-only" => Some(DirMode::ReadOnly),
            "read-write" => Some(DirMode::ReadWrite),
            _ => None,
        }
    }

    fn perms(self) -> FsPerms {
        match self {
            DirMode::ReadOnly => FsPerms::ReadOnly,
            DirMode::ReadWrite => FsPerms::ReadWrite,
        }
    }
}

/// A host directory a module may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The directory on the host (resolved against the manifest's folder).
    pub host: PathBuf,
    /// Where the module sees it: an absolute path such as `/logs`.
    pub guest: String,
    /// What the module may do in it.
    pub mode: DirMode,
}

/// A module's capabilities (`[modules.NAME.grants]`). The default grants
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grants {
    /// The directories it may see (`dirs`), in manifest order.
    pub dirs: Vec<DirGrant>,
    /// The names of the gateway's environment variables copied into it
    /// (`env`); one that is not set when the instance is made is skipped.
    pub env: Vec<String>,
}

/// Why a module's grants could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// A grant breaks a rule (see [`check_host_dir`], [`check_guest_path`]
    /// and [`check_env_name`]).
    #[error("module `{module}`: grants.{field}: {reason}")]
    Invalid {
        /// The module's name.
        module: String,
        /// The grant at fault, such as `dirs[0].guest` or `env[1]`.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A granted directory could not be opened.
    #[error("module `{module}`: cannot open granted directory {host}: {reason}")]
    Open {
        /// The module's name.
        module: String,
        /// The directory on the host.
        host: String,
        /// Why.
        reason: String,
    },
}

/// Checks that `path` is a directory on the host.
pub fn check_host_dir(path: &Path) -> Result<(), String> {
    if path.as_os_str().is_empty() {
        return Err("the path is empty".to_string());
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(format!("not a directory: {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("no such directory: {}", path.display()))
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Checks that `path` is a guest path a directory can be granted at: absolute
/// and in plain form (`/`, or `/a/b` with no empty, `.` or `..` part), so that
/// two grants of one place are spelled alike.
pub fn check_guest_path(path: &str) -> Result<(), String> {
    if path.contains('\0') {
        return Err("the guest path contains a NUL character".to_string());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!(
            "the guest path must be absolute (start with `/`), not `{path}`"
        ));
    };
    if rest.is_empty() {
        return Ok(());
    }
    match rest
        .split('/')
        .find(|part| matches!(*part, "" | "." | ".."))
    {
        Some(part) => Err(format!(
            "the guest path `{path}` must be in plain form, without {}",
            if part.is_empty() {
                "`//` or a trailing `/`".to_string()
            } else {
                format!("a `{part}` part")
            }
        )),
        None => Ok(()),
    }
}

/// Checks that `name` can be an environment variable's name: not empty, and
/// without `=` or NUL.
pub fn check_env_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("an environment variable name must not be empty".to_string())
    } else if name.contains('=') {
        Err(format!(
            "an environment variable name must not contain `=`, as `{name}` does"
        ))
    } else if name.contains('\0') {
        Err("an environment variable name must not contain a NUL character".to_string())
    } else {
        Ok(())
    }
}

impl Grants {
    /// Checks every grant of module `module`: each host directory exists,
    /// each guest path is absolute, plain and granted once, and each variable
    /// name is valid and listed once. Reports the first problem.
    pub fn check(&self, module: &str) -> Result<(), GrantError> {
        let invalid = |field: String, reason: String| GrantError::Invalid {
            module: module.to_string(),
            field,
            reason,
        };
        let mut guests = HashSet::new();
        for (i, dir) in self.dirs.iter().enumerate() {
            check_host_dir(&dir.host).map_err(|r| invalid(format!("dirs[{i}].host"), r))?;
            check_guest_path(&dir.guest).map_err(|r| invalid(format!("dirs[{i}].guest"), r))?;
            if !guests.insert(dir.guest.as_str()) {
                return Err(invalid(
                    format!("dirs[{i}].guest"),
                    format!("the guest path `{}` is granted twice", dir.guest),
                ));
            }
        }
        let mut names = HashSet::new();
        for (i, name) in self.env.iter().enumerate() {
            check_env_name(name).map_err(|r| invalid(format!("env[{i}]"), r))?;
            if !names.insert(name.as_str()) {
                return Err(invalid(
                    format!("env[{i}]"),
                    format!("the variable `{name}` is listed twice"),
                ));
            }
        }
        Ok(())
    }
}

/// Builds module `module`'s WASI context from its `grants`: the granted
/// directories preopened, the granted variables that are set copied from the
/// gateway's environment (one that is not set is skipped, with a log line),
/// standard output and error into the gateway's log (rate-limited, see
/// [`super::guest_output`]), and nothing else: no arguments, no standard
/// input, and no network
/// (wasmtime-wasi 48 denies TCP, UDP and name lookups by default, and this
/// never allows them).
pub fn wasi_ctx(module: &str, grants: &Grants) -> Result<WasiCtx, GrantError> {
    grants.check(module)?;
    let mut builder = WasiCtx::builder();
    builder
        .stdout(GuestOutput::new(module, Stream::Stdout))
        .stderr(GuestOutput::new(module, Stream::Stderr));
    for dir in &grants.dirs {
        builder
            .preopened_dir(&dir.host, &dir.guest, dir.mode.perms())
            .map_err(|e| GrantError::Open {
                module: module.to_string(),
                host: dir.host.display().to_string(),
                reason: format!("{e:#}"),
            })?;
    }
    for name in &grants.env {
        match std::env::var(name) {
            Ok(value) => {
                builder.env(name, value);
            }
            Err(std::env::VarError::NotPresent) => tracing::info!(
                module,
                "granted environment variable `{name}` is not set on the gateway; skipped"
            ),
            Err(std::env::VarError::NotUnicode(_)) => tracing::warn!(
                module,
                "granted environment variable `{name}` is not valid Unicode; skipped"
            ),
        }
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_paths() {
        assert!(check_guest_path("/").is_ok());
        assert!(check_guest_path("/logs").is_ok());
        assert!(check_guest_path("/a/b-c.d").is_ok());
        assert!(check_guest_path("logs").unwrap_err().contains("absolute"));
        assert!(check_guest_path("").unwrap_err().contains("absolute"));
        assert!(check_guest_path("/logs/").unwrap_err().contains("trailing"));
        assert!(check_guest_path("/a//b").is_err());
        assert!(check_guest_path("/a/../b").unwrap_err().contains("`..`"));
        assert!(check_guest_path("/a/./b").unwrap_err().contains("`.`"));
        assert!(check_guest_path("/a\0").unwrap_err().contains("NUL"));
    }

    #[test]
    fn env_names() {
        assert!(check_env_name("TZ").is_ok());
        assert!(check_env_name("").is_err());
        assert!(check_env_name("A=B").unwrap_err().contains('='));
        assert!(check_env_name("A\0").unwrap_err().contains("NUL"));
    }

    #[test]
    fn modes() {
        for mode in [DirMode::ReadOnly, DirMode::ReadWrite] {
            assert_eq!(DirMode::from_name(mode.name()), Some(mode));
        }
        assert_eq!(DirMode::from_name("rw"), None);
        assert_eq!(DirMode::default(), DirMode::ReadOnly);
    }

    #[test]
    fn check_names_the_module_and_grant() {
        let dir = tempfile::tempdir().unwrap();
        let grant = |guest: &str| DirGrant {
            host: dir.path().to_path_buf(),
            guest: guest.to_string(),
            mode: DirMode::ReadOnly,
        };
        let twice = Grants {
            dirs: vec![grant("/a"), grant("/a")],
            env: Vec::new(),
        };
        let e = twice.check("m").unwrap_err().to_string();
        assert!(
            e.contains("module `m`") && e.contains("dirs[1].guest"),
            "{e}"
        );
        let missing = Grants {
            dirs: vec![DirGrant {
                host: dir.path().join("absent"),
                guest: "/a".to_string(),
                mode: DirMode::ReadOnly,
            }],
            env: Vec::new(),
        };
        let e = missing.check("m").unwrap_err().to_string();
        assert!(e.contains("no such directory"), "{e}");
        assert!(wasi_ctx("m", &missing).is_err());
        let env = Grants {
            dirs: Vec::new(),
            env: vec!["A".to_string(), "A".to_string()],
        };
        assert!(env.check("m").unwrap_err().to_string().contains("env[1]"));
        assert!(wasi_ctx("m", &Grants::default()).is_ok());
    }
}
