//! A small xorshift64* generator: enough noise for a simulation, repeatable from
//! a seed, and no dependency.

/// xorshift64* (Vigna, 2016).
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed`; a zero seed is replaced, since xorshift needs a
    /// non-zero state.
    pub fn new(seed: u64) -> Self {
        XorShift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next value in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let out = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (out >> 11) as f64 / (1u64 << 53) as f64
    }
}
