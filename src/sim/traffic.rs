//! Traffic of one entry point over the simulated day.
//!
//! `rps(t) = baseline · diurnal(t) · surge(t) · noise`, where
//! - `diurnal(t) = 1 + a · sin(2π (t_h - 9) / 24)` peaks at 15:00 and bottoms at 03:00;
//! - `surge(t)` is 1 before `ramp_start_h`, rises linearly to `peak` over `ramp_h`, holds for
//!   `hold_h`, falls back to 1 over `decay_h`;
//! - `noise` is a seeded multiplicative jitter in `[1 - noise, 1 + noise]`.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub baseline_rps: f64,
    #[serde(default)]
    pub diurnal: f64,
    #[serde(default)]
    pub ramp_start_h: f64,
    #[serde(default = "one")]
    pub ramp_h: f64,
    #[serde(default = "one")]
    pub peak: f64,
    #[serde(default)]
    pub hold_h: f64,
    #[serde(default = "one")]
    pub decay_h: f64,
    #[serde(default)]
    pub noise: f64,
}

fn one() -> f64 {
    1.0
}

impl Profile {
    /// The surge multiple at hour `h` (no noise, no diurnal cycle).
    pub fn surge(&self, h: f64) -> f64 {
        let up = self.ramp_start_h;
        let top = up + self.ramp_h.max(1e-9);
        let down = top + self.hold_h;
        let end = down + self.decay_h.max(1e-9);
        let rise = self.peak - 1.0;
        if h < up {
            1.0
        } else if h < top {
            1.0 + rise * (h - up) / (top - up)
        } else if h < down {
            self.peak
        } else if h < end {
            self.peak - rise * (h - down) / (end - down)
        } else {
            1.0
        }
    }

    pub fn diurnal_factor(&self, h: f64) -> f64 {
        1.0 + self.diurnal * (std::f64::consts::TAU * (h - 9.0) / 24.0).sin()
    }

    /// Expected rps at hour `h`, without noise: what a forecast can know.
    pub fn expected(&self, h: f64) -> f64 {
        self.baseline_rps * self.diurnal_factor(h) * self.surge(h)
    }

    /// The highest expected rps over `[h, h + ahead_h]`, sampled every 5 minutes.
    pub fn forecast(&self, h: f64, ahead_h: f64) -> f64 {
        let steps = (ahead_h * 12.0).ceil().max(1.0) as usize;
        (0..=steps)
            .map(|i| self.expected(h + ahead_h * i as f64 / steps as f64))
            .fold(0.0, f64::max)
    }

    /// Checks ranges; returns the field and the problem.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let pos = |name, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err((name, format!("must be a finite number >= 0, got {v}")))
            }
        };
        pos("baseline_rps", self.baseline_rps)?;
        pos("ramp_start_h", self.ramp_start_h)?;
        pos("ramp_h", self.ramp_h)?;
        pos("hold_h", self.hold_h)?;
        pos("decay_h", self.decay_h)?;
        if !(self.peak.is_finite() && self.peak >= 1.0 && self.peak <= 100.0) {
            return Err((
                "peak",
                format!("must be within [1, 100], got {}", self.peak),
            ));
        }
        if !(0.0..1.0).contains(&self.diurnal) {
            return Err((
                "diurnal",
                format!("must be within [0, 1), got {}", self.diurnal),
            ));
        }
        if !(0.0..0.5).contains(&self.noise) {
            return Err((
                "noise",
                format!("must be within [0, 0.5), got {}", self.noise),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile() -> Profile {
        Profile {
            baseline_rps: 100.0,
            diurnal: 0.0,
            ramp_start_h: 8.0,
            ramp_h: 2.0,
            peak: 4.0,
            hold_h: 4.0,
            decay_h: 2.0,
            noise: 0.0,
        }
    }

    #[test]
    fn the_surge_ramps_holds_and_decays() {
        let p = profile();
        assert_eq!(p.surge(7.0), 1.0);
        assert!((p.surge(9.0) - 2.5).abs() < 1e-12);
        assert_eq!(p.surge(12.0), 4.0);
        assert!((p.surge(15.0) - 2.5).abs() < 1e-12);
        assert_eq!(p.surge(17.0), 1.0);
    }

    #[test]
    fn the_diurnal_cycle_peaks_mid_afternoon_and_the_forecast_looks_ahead() {
        let mut p = profile();
        p.diurnal = 0.3;
        assert!((p.diurnal_factor(15.0) - 1.3).abs() < 1e-12);
        assert!((p.diurnal_factor(3.0) - 0.7).abs() < 1e-12);
        p.diurnal = 0.0;
        assert_eq!(p.forecast(6.0, 1.0), 100.0);
        assert!(
            (p.forecast(7.0, 2.0) - 250.0).abs() < 1e-9,
            "sees the ramp coming"
        );
    }
}
