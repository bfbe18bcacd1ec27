//! What a deployment changed, and the description the status reports for it
//! (`lastDesiredStatus.description`).

use crate::manifest::Manifest;

/// The modules a deployment started, swapped, restarted, stopped and kept.
#[derive(Debug, Default)]
pub(super) struct Changes {
    /// New modules.
    pub started: Vec<String>,
    /// Changed modules hot-swapped to their new version.
    pub swapped: Vec<String>,
    /// Changed modules stopped and started again.
    pub restarted: Vec<String>,
    /// Modules the deployment no longer has.
    pub stopped: Vec<String>,
    /// Modules left as they were.
    pub kept: Vec<String>,
    /// Changed modules whose new version did not take over, with why.
    pub kept_old: Vec<String>,
}

impl Changes {
    /// `applied: started ...; swapped ...; ...`, with the modules that did
    /// not start (`failed`) and the tables that only a restart applies
    /// (those that differ from `previous`).
    pub fn describe(
        &self,
        manifest: &Manifest,
        failed: &[(String, String)],
        previous: Option<&Manifest>,
    ) -> String {
        let mut description = format!(
            "applied: started {}; swapped {}; restarted {}; stopped {}; unchanged {}; {} routes",
            names(&self.started),
            names(&self.swapped),
            names(&self.restarted),
            names(&self.stopped),
            names(&self.kept),
            manifest.routes.len()
        );
        if !self.kept_old.is_empty() {
            description.push_str(&format!(
                "; kept the running version of {}",
                self.kept_old.join(", ")
            ));
        }
        if !failed.is_empty() {
            let list: Vec<String> = failed
                .iter()
                .map(|(n, why)| format!("{n} ({why})"))
                .collect();
            description.push_str(&format!("; did not start: {}", list.join(", ")));
        }
        if let Some(current) = previous {
            let mut later = Vec::new();
            if current.store_and_forward != manifest.store_and_forward {
                later.push("[store-and-forward]");
            }
            if current.ingest != manifest.ingest {
                later.push("[ingest]");
            }
            if current.upstream != manifest.upstream {
                later.push("[upstream]");
            }
            if !later.is_empty() {
                description.push_str(&format!(
                    "; {} take effect at the next start",
                    later.join(", ")
                ));
            }
        }
        description
    }
}

/// `a, b` or `none`.
pub(super) fn names(list: &[String]) -> String {
    if list.is_empty() {
        "none".to_string()
    } else {
        list.join(", ")
    }
}
