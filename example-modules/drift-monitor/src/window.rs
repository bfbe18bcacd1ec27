//! [`Window`]: the last N readings as bin indices in a ring buffer, with the
//! count of each bin kept up to date, so that memory is bounded by the window
//! (N · features bytes plus the counts) and [`Window::psi`] is O(bins).

/// The floor on a bin's share, live or training, before PSI takes its
/// logarithm: an empty bin would otherwise make the score infinite. 1e-4 is
/// a hundredth of a percent, below any share a window of up to 10,000
/// readings can show without being empty; an empty bin whose training share
/// is 10% then adds (0.1 − 1e-4) · ln(0.1 / 1e-4) ≈ 0.69.
pub const EPSILON: f64 = 1e-4;

/// The Population Stability Index of `actual` counts (out of `n`) against
/// the `expected` shares: Σ (a − e) · ln(a / e) over the bins, with both
/// shares floored at [`EPSILON`]. 0 for identical distributions; each term
/// is ≥ 0.
pub fn psi(actual: &[u32], n: usize, expected: &[f64]) -> f64 {
    if n == 0 {
        return 0.0;
    }
    actual
        .iter()
        .zip(expected)
        .map(|(&count, &e)| {
            let a = (f64::from(count) / n as f64).max(EPSILON);
            let e = e.max(EPSILON);
            (a - e) * (a / e).ln()
        })
        .sum()
}

/// A sliding window over readings, each reading one bin per feature.
#[derive(Debug, Clone)]
pub struct Window {
    capacity: usize,
    /// Bins per feature.
    bins: Vec<usize>,
    /// `capacity` slots of one bin index per feature, oldest overwritten.
    slots: Vec<u8>,
    /// The slot the next reading goes to.
    next: usize,
    /// How many slots hold a reading.
    len: usize,
    /// Per feature, the count in each of its bins over the window.
    counts: Vec<Vec<u32>>,
}

impl Window {
    /// An empty window of `capacity` readings (at least 1) over features
    /// with `bins` bins each (at most 255).
    pub fn new(capacity: usize, bins: Vec<usize>) -> Window {
        let capacity = capacity.max(1);
        Window {
            capacity,
            slots: vec![0; capacity * bins.len()],
            counts: bins.iter().map(|&b| vec![0; b]).collect(),
            bins,
            next: 0,
            len: 0,
        }
    }

    /// Adds one reading, given as its bin per feature (in range: the caller
    /// takes them from the same bins), dropping the oldest when full.
    pub fn push(&mut self, reading: &[usize]) {
        let width = self.bins.len();
        let slot = self.next * width..(self.next + 1) * width;
        if self.len == self.capacity {
            for (f, &old) in self.slots[slot.clone()].iter().enumerate() {
                if let Some(c) = self.counts[f].get_mut(usize::from(old)) {
                    *c = c.saturating_sub(1);
                }
            }
        } else {
            self.len += 1;
        }
        for ((f, dst), &bin) in self.slots[slot].iter_mut().enumerate().zip(reading) {
            let bin = bin.min(self.bins[f].saturating_sub(1));
            *dst = u8::try_from(bin).unwrap_or(u8::MAX);
            self.counts[f][bin] += 1;
        }
        self.next = (self.next + 1) % self.capacity;
    }

    /// How many readings the window holds.
    pub fn fill(&self) -> usize {
        self.len
    }

    /// Whether it holds `capacity` readings.
    pub fn is_full(&self) -> bool {
        self.len == self.capacity
    }

    /// The window's capacity.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The PSI of feature `f` (its index in the window) against `expected`.
    pub fn psi(&self, f: usize, expected: &[f64]) -> f64 {
        psi(&self.counts[f], self.len, expected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_is_zero_on_a_match_and_grows_with_a_shift() {
        let e = [0.25; 4];
        assert!(psi(&[25, 25, 25, 25], 100, &e).abs() < 1e-12);
        let small = psi(&[20, 25, 25, 30], 100, &e);
        let large = psi(&[0, 10, 40, 50], 100, &e);
        assert!(
            0.0 < small && small < 0.05 && large > 0.5,
            "{small} {large}"
        );
    }

    #[test]
    fn the_ring_forgets_the_oldest_reading() {
        let mut w = Window::new(3, vec![2]);
        for b in [0, 0, 0, 1, 1] {
            w.push(&[b]);
        }
        assert!(w.is_full());
        assert_eq!(w.counts[0], vec![1, 2]);
    }
}
