//! A module's capability grants (`[modules.NAME.grants]`): the host
//! directories it may see and the gateway's environment variables copied into
//! it. Without them a module has no filesystem and no environment; no version
//! of the manifest grants network access yet. See
//! [`crate::runtime::grants`].
//!
//! ```toml
//! [modules.logger.grants]
//! dirs = [
//!   { host = "/var/lib/ganglion/logs", guest = "/logs", mode = "read-write" },
//!   { host = "models", guest = "/models" },   # relative to the manifest's folder; read-only by default
//! ]
//! env = ["SITE_NAME", "TZ"]   # copied when the module starts; one that is not set is skipped
//! ```

use super::Collector;
use crate::runtime::grants::{
    DirGrant, DirMode, Grants, check_env_name, check_guest_path, check_host_dir,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantsDto {
    #[serde(default)]
    dirs: Vec<Spanned<DirDto>>,
    #[serde(default)]
    env: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirDto {
    host: Spanned<String>,
    guest: Spanned<String>,
    #[serde(default)]
    mode: Option<Spanned<String>>,
}

/// Validates module `field`'s grants, reporting each problem to `c`. Host
/// directories are resolved against `base`. A grant at fault is left out.
pub(super) fn validate(
    field: &str,
    dto: Option<&Spanned<GrantsDto>>,
    base: &Path,
    c: &mut Collector<'_>,
) -> Grants {
    let mut grants = Grants::default();
    let Some(dto) = dto else {
        return grants;
    };
    let dto = dto.get_ref();
    let mut guests: HashMap<&str, usize> = HashMap::new();
    for (i, dir) in dto.dirs.iter().enumerate() {
        let at = format!("{field}.grants.dirs[{i}]");
        let d = dir.get_ref();
        let mut ok = true;
        let raw_host = d.host.get_ref();
        let host = base.join(raw_host);
        let checked = if raw_host.trim().is_empty() {
            Err("the path is empty".to_string())
        } else {
            check_host_dir(&host)
        };
        if let Err(e) = checked {
            c.add(d.host.span(), format!("{at}.host"), e);
            ok = false;
        }
        let guest = d.guest.get_ref();
        if let Err(e) = check_guest_path(guest) {
            c.add(d.guest.span(), format!("{at}.guest"), e);
            ok = false;
        } else if let Some(first) = guests.get(guest.as_str()) {
            c.add(
                d.guest.span(),
                format!("{at}.guest"),
                format!("the guest path `{guest}` is already granted by dirs[{first}]"),
            );
            ok = false;
        } else {
            guests.insert(guest.as_str(), i);
        }
        let mode = match &d.mode {
            None => DirMode::default(),
            Some(mode) => DirMode::from_name(mode.get_ref()).unwrap_or_else(|| {
                c.add(
                    mode.span(),
                    format!("{at}.mode"),
                    format!(
                        "must be `read-only` or `read-write`, not `{}`",
                        mode.get_ref()
                    ),
                );
                ok = false;
                DirMode::default()
            }),
        };
        if ok {
            grants.dirs.push(DirGrant {
                host,
                guest: guest.clone(),
                mode,
            });
        }
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    for (i, name) in dto.env.iter().enumerate() {
        let at = format!("{field}.grants.env[{i}]");
        let n = name.get_ref();
        if let Err(e) = check_env_name(n) {
            c.add(name.span(), at, e);
        } else if let Some(first) = names.get(n.as_str()) {
            c.add(
                name.span(),
                at,
                format!("the variable `{n}` is already granted by env[{first}]"),
            );
        } else {
            names.insert(n.as_str(), i);
            grants.env.push(n.clone());
        }
    }
    grants
}
