//! The fan's physics, mirrored from `simulate` in `ml/train.py` so that the
//! readings are in the distribution fan-health's models were trained on.
//!
//! A fan draws, in this order and from these distributions (as train.py
//! does for each fan of its fleet): its life (5600 h · Weibull(2.5) + 300 h),
//! baseline vibration N(1.8, 0.3) mm/s, bearing temperature N(24, 3) +
//! N(14, 1.5) °C (ambient plus load), static pressure N(1.20, 0.05) kPa, the
//! damage time constant τ ∈ U(55, 85) h and the ageing rate U(0.5e-4,
//! 1.5e-4) mm/s per hour of use. At `hours` of use, with RUL = life − hours
//! (0 once past the end of life) and damage = exp(−RUL / τ):
//!
//! - vibration = base + ageing · hours + 9 · damage + N(0, 0.15), at least 0.05;
//! - temperature = base + 30 · damage^1.5 + N(0, 0.8);
//! - pressure = base − 0.12 · damage + N(0, 0.02).
//!
//! train.py's injected faults are left out: this fan only wears.

use crate::rng::SplitMix;
use serde::Serialize;

/// The lowest vibration train.py lets through, mm/s.
const MIN_VIBRATION: f64 = 0.05;

/// One fan's constants.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fan {
    /// Hours of use at which the bearing fails.
    pub life_hours: f64,
    /// Baseline vibration, mm/s RMS.
    pub base_vibration: f64,
    /// Baseline bearing temperature, °C.
    pub base_temperature: f64,
    /// Baseline static pressure, kPa.
    pub base_pressure: f64,
    /// How fast the bearing damage grows near the end, hours.
    pub tau_hours: f64,
    /// Vibration added per hour of use, mm/s.
    pub ageing: f64,
}

/// The three signals at one moment, before any drift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signals {
    /// Bearing temperature, °C.
    pub temperature: f64,
    /// Vibration velocity, mm/s RMS.
    pub vibration: f64,
    /// Static pressure, kPa.
    pub pressure: f64,
}

impl Fan {
    /// Draws a fan from `rng`; `life_hours`, when given, replaces the drawn
    /// life (which is drawn anyway, so that the other constants do not depend
    /// on it).
    pub fn draw(rng: &mut SplitMix, life_hours: Option<f64>) -> Fan {
        let drawn_life = 5600.0 * rng.weibull(2.5) + 300.0;
        let base_vibration = rng.normal(1.8, 0.3);
        let base_temperature = rng.normal(24.0, 3.0) + rng.normal(14.0, 1.5);
        let base_pressure = rng.normal(1.20, 0.05);
        let tau_hours = rng.uniform(55.0, 85.0);
        let ageing = rng.uniform(0.5e-4, 1.5e-4);
        Fan {
            life_hours: life_hours.unwrap_or(drawn_life),
            base_vibration,
            base_temperature,
            base_pressure,
            tau_hours,
            ageing,
        }
    }

    /// The bearing damage at `hours` of use: exp(−RUL / τ), 1 from the end of
    /// life on.
    pub fn damage(&self, hours: f64) -> f64 {
        let rul = (self.life_hours - hours).max(0.0);
        (-rul / self.tau_hours).exp()
    }

    /// The signals at `hours` of use, with noise from `rng`.
    pub fn signals(&self, hours: f64, rng: &mut SplitMix) -> Signals {
        let damage = self.damage(hours);
        let vibration =
            self.base_vibration + self.ageing * hours + 9.0 * damage + rng.normal(0.0, 0.15);
        let temperature = self.base_temperature + 30.0 * damage.powf(1.5) + rng.normal(0.0, 0.8);
        let pressure = self.base_pressure - 0.12 * damage + rng.normal(0.0, 0.02);
        Signals {
            temperature,
            vibration: vibration.max(MIN_VIBRATION),
            pressure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wear_shows_near_the_end_of_life() {
        let mut rng = SplitMix::new(3);
        let fan = Fan::draw(&mut rng, Some(1000.0));
        assert!(fan.damage(0.0) < 1e-5);
        assert_eq!(fan.damage(1000.0), 1.0);
        assert_eq!(fan.damage(1200.0), 1.0);
        let early = fan.signals(100.0, &mut rng);
        let late = fan.signals(1000.0, &mut rng);
        assert!(late.vibration > early.vibration + 6.0);
        assert!(late.temperature > early.temperature + 20.0);
        assert!(late.pressure < early.pressure);
    }
}
