//! The day as it happens: every entry point's true demand and the traffic and capacity the
//! events take, tick by tick, drawn once from the scenario's seed. The run loop reads it one
//! tick at a time, as the shop lives it; only the oracle reads ahead.

use super::scenario::{Event, Scenario};
use crate::synthetic::Rng;

pub struct Day {
    /// Customers' requests per second at each entry point (as `graph.entries()`), per tick.
    pub legit: Vec<Vec<f64>>,
    /// Bots' requests per second at each entry point, per tick.
    pub bots: Vec<Vec<f64>>,
    /// Share of every service's capacity lost to a zone outage, per tick.
    pub zone: Vec<f64>,
}

impl Day {
    pub fn draw(sc: &Scenario) -> Day {
        let g = &sc.graph;
        let dt = sc.raw.tick_s;
        let ticks = sc.ticks() as usize;
        let mut rng = Rng::new(sc.raw.seed);
        let mut day = Day {
            legit: Vec::with_capacity(ticks),
            bots: Vec::with_capacity(ticks),
            zone: Vec::with_capacity(ticks),
        };
        for tick in 0..ticks {
            let h = tick as f64 * dt / 3600.0;
            let mut bots = vec![0.0; g.entries().len()];
            let mut zone = 0.0;
            for ev in &sc.raw.events {
                match ev {
                    Event::BotAttack {
                        at_h,
                        duration_h,
                        entry,
                        rps,
                    } if h >= *at_h && h < at_h + duration_h => {
                        if let Some(k) = g
                            .entries()
                            .iter()
                            .position(|&e| g.service(e).name == *entry)
                        {
                            bots[k] += rps;
                        }
                    }
                    Event::ZoneLoss {
                        at_h,
                        duration_h,
                        share,
                    } if h >= *at_h && h < at_h + duration_h => zone = *share,
                    _ => {}
                }
            }
            day.legit.push(
                sc.profiles
                    .iter()
                    .map(|p| p.expected(h) * rng.range(1.0 - p.noise, 1.0 + p.noise))
                    .collect(),
            );
            day.bots.push(bots);
            day.zone.push(zone);
        }
        day
    }
}
