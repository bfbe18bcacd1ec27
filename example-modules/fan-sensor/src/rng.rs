//! SplitMix64 (Steele, Lea and Flood, 2014) with the few distributions the
//! simulation draws from: repeatable from a seed, no dependency, and any seed
//! (zero included) is a good one.

/// A SplitMix64 generator.
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [low, high).
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.next_f64()
    }

    /// Normal with mean `mean` and standard deviation `sd` (Box–Muller; the
    /// second value of the pair is dropped, which keeps the state simple).
    pub fn normal(&mut self, mean: f64, sd: f64) -> f64 {
        // 1 - u is in (0, 1]: the logarithm is finite.
        let u = 1.0 - self.next_f64();
        let v = self.next_f64();
        mean + sd * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Weibull with shape `k` and scale 1, by inversion.
    pub fn weibull(&mut self, k: f64) -> f64 {
        let u = 1.0 - self.next_f64();
        (-u.ln()).powf(1.0 / k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_sane_moments() {
        let (mut a, mut b) = (SplitMix::new(7), SplitMix::new(7));
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
        let mut r = SplitMix::new(1);
        let xs: Vec<f64> = (0..20_000).map(|_| r.normal(2.0, 3.0)).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!((mean - 2.0).abs() < 0.1, "{mean}");
        assert!((var.sqrt() - 3.0).abs() < 0.1, "{var}");
    }
}
