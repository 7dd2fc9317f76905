//! Forecasts as a measurement, not the future. A strategy that plans ahead is given the
//! expected traffic over its horizon, off by a systematic `bias` and by an error that drifts
//! from hour to hour within `± noise`, drawn once per scenario from its seed. Every strategy
//! that would have a forecast in production is given this same one; none is given the traffic
//! the day will actually play.

use super::traffic::Profile;
use crate::synthetic::Rng;
use serde::Deserialize;

/// How wrong forecasts are (`[forecast]` in a scenario).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ForecastError {
    /// Systematic error: 0.1 forecasts 10% more than will come.
    pub bias: f64,
    /// The forecast is off by up to this share either way, the error drifting hour by hour.
    pub noise: f64,
}

impl Default for ForecastError {
    /// What day-ahead traffic forecasts of a retail shop commonly miss by, peak hours
    /// included: about a fifth.
    fn default() -> Self {
        ForecastError {
            bias: 0.0,
            noise: 0.2,
        }
    }
}

impl ForecastError {
    /// Checks ranges; returns the field and the problem.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(self.bias.is_finite() && self.bias > -1.0 && self.bias <= 4.0) {
            return Err(("bias", format!("must be within (-1, 4], got {}", self.bias)));
        }
        if !(self.noise.is_finite() && (0.0..1.0).contains(&self.noise)) {
            return Err((
                "noise",
                format!("must be within [0, 1), got {}", self.noise),
            ));
        }
        Ok(())
    }
}

/// A seed of its own, so that drawing forecast errors leaves the traffic's noise, drawn from
/// the scenario's seed, the same for every strategy.
const SALT: u64 = 0x6f72_6563_6173_7473;

/// The forecasts of one simulated day, per entry point.
pub struct Forecaster {
    err: ForecastError,
    /// Per entry, the error at each whole hour as a share of `noise` (in [-1, 1]).
    knots: Vec<Vec<f64>>,
}

impl Forecaster {
    pub fn new(seed: u64, entries: usize, duration_h: f64, err: &ForecastError) -> Forecaster {
        let mut rng = Rng::new(seed ^ SALT);
        let hours = duration_h.max(0.0).ceil() as usize + 1;
        let knots = (0..entries)
            .map(|_| (0..=hours).map(|_| rng.range(-1.0, 1.0)).collect())
            .collect();
        Forecaster {
            err: err.clone(),
            knots,
        }
    }

    /// What entry `k`'s forecast says at hour `h` of the highest traffic over the next
    /// `ahead_h` hours.
    pub fn peak_ahead(&self, k: usize, profile: &Profile, h: f64, ahead_h: f64) -> f64 {
        profile.forecast(h, ahead_h) * self.factor(k, h)
    }

    /// 1 + bias + noise × the drifting error at hour `h`.
    fn factor(&self, k: usize, h: f64) -> f64 {
        let knots = &self.knots[k];
        let h = h.clamp(0.0, (knots.len() - 1) as f64);
        let i = (h.floor() as usize).min(knots.len() - 2);
        let t = h - i as f64;
        let z = knots[i] * (1.0 - t) + knots[i + 1] * t;
        (1.0 + self.err.bias + self.err.noise * z).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat() -> Profile {
        toml::from_str("baseline_rps = 100.0").expect("a profile")
    }

    #[test]
    fn a_forecast_misses_within_its_error_and_drifts_smoothly() {
        let err = ForecastError {
            bias: 0.0,
            noise: 0.2,
        };
        let f = Forecaster::new(7, 1, 24.0, &err);
        let p = flat();
        let truth = p.forecast(3.0, 1.0);
        let mut missed = false;
        let mut last = f.peak_ahead(0, &p, 0.0, 1.0);
        for step in 1..=24 * 12 {
            let h = step as f64 / 12.0;
            let said = f.peak_ahead(0, &p, h, 1.0);
            let truth = p.forecast(h, 1.0);
            assert!(
                (said / truth - 1.0).abs() <= 0.2 + 1e-9,
                "{said} vs {truth} at {h}"
            );
            // Five minutes apart the error moves by at most a sixth of its range.
            assert!(
                (said - last).abs() <= 0.4 * truth / 6.0 + 1e-6,
                "jump at {h}"
            );
            missed |= (said / truth - 1.0).abs() > 0.02;
            last = said;
        }
        assert!(
            missed,
            "a forecast with 20% error is wrong somewhere ({truth})"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_forecasts_and_no_error_gives_the_truth() {
        let p = flat();
        let err = ForecastError::default();
        let a = Forecaster::new(3, 2, 24.0, &err);
        let b = Forecaster::new(3, 2, 24.0, &err);
        assert_eq!(a.peak_ahead(1, &p, 5.5, 1.0), b.peak_ahead(1, &p, 5.5, 1.0));
        let exact = Forecaster::new(
            3,
            2,
            24.0,
            &ForecastError {
                bias: 0.0,
                noise: 0.0,
            },
        );
        assert_eq!(exact.peak_ahead(1, &p, 5.5, 1.0), p.forecast(5.5, 1.0));
        let high = Forecaster::new(
            3,
            2,
            24.0,
            &ForecastError {
                bias: 0.25,
                noise: 0.0,
            },
        );
        assert!((high.peak_ahead(0, &p, 5.5, 1.0) - 1.25 * p.forecast(5.5, 1.0)).abs() < 1e-9);
    }

    #[test]
    fn out_of_range_errors_are_refused_by_field() {
        let bad = ForecastError {
            bias: 0.0,
            noise: 1.5,
        };
        assert_eq!(bad.check().unwrap_err().0, "noise");
        let bad = ForecastError {
            bias: f64::NAN,
            noise: 0.1,
        };
        assert_eq!(bad.check().unwrap_err().0, "bias");
    }
}
