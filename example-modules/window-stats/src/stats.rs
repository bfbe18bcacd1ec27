//! [`Stats`]: running count, mean, min, max and population standard deviation
//! of one field in one window, by Welford's method (one pass, numerically
//! stable, constant memory). Pure and host-independent.

/// The running statistics of one field.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stats {
    count: u64,
    mean: f64,
    /// The sum of squared differences from the mean.
    m2: f64,
    min: f64,
    max: f64,
}

impl Stats {
    /// Adds the value `x`. Values that are not finite are the caller's to
    /// refuse: they would make every statistic meaningless.
    pub fn add(&mut self, x: f64) {
        if self.count == 0 {
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.count += 1;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// How many values were added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The mean, if any value was added.
    pub fn avg(&self) -> Option<f64> {
        (self.count > 0).then_some(self.mean)
    }

    /// The smallest value, if any.
    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }

    /// The largest value, if any.
    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }

    /// The population standard deviation, `sqrt(Σ(x − mean)² / n)`: the
    /// spread of the values in the window itself, defined (as 0) for a single
    /// value. This is Azure Stream Analytics' `STDEVP`, not `STDEV` (which
    /// divides by n − 1).
    pub fn stddev(&self) -> Option<f64> {
        (self.count > 0).then(|| (self.m2 / self.count as f64).max(0.0).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(values: &[f64]) -> Stats {
        let mut s = Stats::default();
        for &v in values {
            s.add(v);
        }
        s
    }

    #[test]
    fn matches_hand_computed_values() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations sum to 32,
        // population variance 32 / 8 = 4, so the stddev is 2.
        let s = of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(s.count(), 8);
        assert_eq!(s.avg(), Some(5.0));
        assert_eq!(s.min(), Some(2.0));
        assert_eq!(s.max(), Some(9.0));
        assert!((s.stddev().unwrap_or(f64::NAN) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn one_value_has_zero_spread_and_none_has_no_statistics() {
        let s = of(&[-3.5]);
        assert_eq!(
            (s.min(), s.max(), s.avg()),
            (Some(-3.5), Some(-3.5), Some(-3.5))
        );
        assert_eq!(s.stddev(), Some(0.0));
        let empty = Stats::default();
        assert_eq!(empty.count(), 0);
        assert_eq!(
            (empty.avg(), empty.stddev(), empty.min()),
            (None, None, None)
        );
    }
}
