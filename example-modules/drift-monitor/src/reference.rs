//! The training distribution: per feature, the quantile bin edges and the
//! share of the training readings in each bin, written by `ml/train.py` to
//! `ml/models/reference.json` and embedded in the component.

use serde::Deserialize;
use std::collections::BTreeMap;

/// `ml/models/reference.json`, from `cargo xtask train`.
pub const REFERENCE_JSON: &str = include_str!("../../../ml/models/reference.json");

/// The features of a fan reading, in the models' order.
pub const FEATURES: [&str; 4] = ["temperature", "vibration", "pressure", "hours"];

/// The most bins a feature may have (a window slot holds a bin as a `u8`).
pub const MAX_BINS: usize = 255;

/// How far the training shares may sum away from 1.
const SUM_TOLERANCE: f64 = 1e-6;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDto {
    #[serde(rename = "about")]
    _about: String,
    #[serde(rename = "seed")]
    _seed: u64,
    features: Vec<String>,
    bins: usize,
    reference: BTreeMap<String, FeatureDto>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeatureDto {
    bin_edges: Vec<f64>,
    proportions: Vec<f64>,
}

/// One feature's training bins.
#[derive(Debug, Clone, PartialEq)]
pub struct Bins {
    /// The inner edges (the training quantiles between the bins), ascending:
    /// bin `i` holds the values `x` with `inner[i-1] <= x < inner[i]`; the
    /// first and last bins are open-ended, so that a value outside the
    /// training range still counts (in the bin nearest to it).
    inner: Vec<f64>,
    /// The share of the training readings in each bin; sums to 1.
    pub expected: Vec<f64>,
}

impl Bins {
    /// The bin of `x`: the number of inner edges at or below it, as numpy's
    /// `searchsorted(inner, x, side="right")` in train.py.
    pub fn bin(&self, x: f64) -> usize {
        self.inner.partition_point(|edge| *edge <= x)
    }

    /// How many bins.
    pub fn count(&self) -> usize {
        self.expected.len()
    }
}

/// The training bins of every feature, in [`FEATURES`] order.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// One per feature of [`FEATURES`].
    pub features: Vec<Bins>,
}

impl Reference {
    /// Parses and checks `text` (the format of `reference.json`).
    pub fn parse(text: &str) -> Result<Reference, String> {
        let fail = |why: String| format!("the embedded reference.json is not usable: {why}");
        let dto: FileDto = serde_json::from_str(text).map_err(|e| fail(e.to_string()))?;
        if dto.features != FEATURES {
            return Err(fail(format!(
                "its features are {:?}, not {FEATURES:?}",
                dto.features
            )));
        }
        if !(2..=MAX_BINS).contains(&dto.bins) {
            return Err(fail(format!(
                "{} bins; 2 to {MAX_BINS} are allowed",
                dto.bins
            )));
        }
        let features = FEATURES
            .iter()
            .map(|name| {
                let f = dto
                    .reference
                    .get(*name)
                    .ok_or_else(|| format!("no bins for `{name}`"))?;
                check(name, dto.bins, f)
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(fail)?;
        Ok(Reference { features })
    }
}

fn check(name: &str, bins: usize, f: &FeatureDto) -> Result<Bins, String> {
    if f.bin_edges.len() != bins + 1 || f.proportions.len() != bins {
        return Err(format!(
            "`{name}` has {} edges and {} shares for {bins} bins",
            f.bin_edges.len(),
            f.proportions.len()
        ));
    }
    if f.bin_edges.iter().any(|e| !e.is_finite()) || f.bin_edges.windows(2).any(|w| w[0] > w[1]) {
        return Err(format!("`{name}`: the edges are not finite and ascending"));
    }
    if f.proportions.iter().any(|p| !p.is_finite() || *p < 0.0) {
        return Err(format!("`{name}`: a share is negative or not a number"));
    }
    let sum: f64 = f.proportions.iter().sum();
    if (sum - 1.0).abs() > SUM_TOLERANCE {
        return Err(format!("`{name}`: the shares sum to {sum}, not 1"));
    }
    Ok(Bins {
        inner: f.bin_edges[1..bins].to_vec(),
        expected: f.proportions.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_reference_parses_and_bins_like_searchsorted() {
        let r = Reference::parse(REFERENCE_JSON).unwrap();
        assert_eq!(r.features.len(), 4);
        let t = &r.features[0];
        assert_eq!(t.count(), 10);
        assert_eq!(t.bin(-100.0), 0);
        assert_eq!(t.bin(t.inner[0]), 1, "an edge belongs to the bin above");
        assert_eq!(t.bin(1e9), 9);
    }
}
