//! Switchable faults for tests, seeded so a run can be reproduced, and an optional rate limit.
//!
//! `latency=50ms` delays every answer; `500=P`, `429=P`, `forbidden=P` answer an API request
//! with that error, with probability P, before doing anything; `drop=P` closes the connection
//! without an answer *after* a write was applied (the case a client must survive by retrying
//! with an idempotency key or a `test` op); `lose=P` answers a write with 204 and keeps nothing
//! of it (a platform that silently drops a change, which a client can only see by reading back).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The faults of one emulator.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    pub latency: Option<Duration>,
    pub internal_error: f64,
    pub too_many_requests: f64,
    pub forbidden: f64,
    pub drop: f64,
    pub lose: f64,
}

impl Faults {
    /// Adds one `--fault` spec to these faults.
    pub fn add(&mut self, spec: &str) -> Result<(), String> {
        let (name, value) = spec.split_once('=').ok_or_else(|| {
            format!("`{spec}`: a fault is NAME=VALUE, e.g. latency=50ms or 500=0.1")
        })?;
        if name == "latency" {
            self.latency = Some(
                parse_duration(value)
                    .ok_or_else(|| format!("`{value}` is not a latency; write e.g. 50ms or 1s"))?,
            );
            return Ok(());
        }
        let p: f64 = value
            .parse()
            .ok()
            .filter(|p| (0.0..=1.0).contains(p))
            .ok_or_else(|| format!("`{value}`: a fault probability is a number from 0 to 1"))?;
        match name {
            "500" => self.internal_error = p,
            "429" => self.too_many_requests = p,
            "forbidden" | "403" => self.forbidden = p,
            "drop" => self.drop = p,
            "lose" => self.lose = p,
            _ => {
                return Err(format!(
                    "unknown fault `{name}`; the faults are latency, 500, 429, forbidden, drop and lose"
                ))
            }
        }
        Ok(())
    }
}

fn parse_duration(s: &str) -> Option<Duration> {
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        _ => None,
    }
}

/// What the dice say for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Roll {
    Pass,
    InternalError,
    TooManyRequests,
    Forbidden,
}

/// Faults with their random source.
#[derive(Debug)]
pub struct Dice {
    pub faults: Faults,
    rng: Mutex<fastrand::Rng>,
}

impl Dice {
    pub(crate) fn new(faults: Faults, seed: u64) -> Dice {
        Dice {
            faults,
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
        }
    }

    fn draw(&self) -> f64 {
        self.rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .f64()
    }

    /// Rolls for an error answer before a request is handled.
    pub(crate) fn before(&self) -> Roll {
        let f = &self.faults;
        if f.internal_error + f.too_many_requests + f.forbidden == 0.0 {
            return Roll::Pass;
        }
        let r = self.draw();
        let mut edge = f.internal_error;
        if r < edge {
            return Roll::InternalError;
        }
        edge += f.too_many_requests;
        if r < edge {
            return Roll::TooManyRequests;
        }
        edge += f.forbidden;
        if r < edge {
            return Roll::Forbidden;
        }
        Roll::Pass
    }

    /// Rolls for answering a write as done and keeping nothing of it.
    pub(crate) fn lose_write(&self) -> bool {
        self.faults.lose > 0.0 && self.draw() < self.faults.lose
    }

    /// Rolls for dropping the connection after a write was applied.
    pub(crate) fn drop_after_write(&self) -> bool {
        self.faults.drop > 0.0 && self.draw() < self.faults.drop
    }
}

/// A token bucket: `rate` requests a second, bursts up to one second's worth.
#[derive(Debug)]
pub struct RateLimit {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    /// Parses `N/s` or `N/m`.
    pub fn parse(spec: &str) -> Result<RateLimit, String> {
        let bad = || format!("`{spec}` is not a rate; write e.g. 50/s or 600/m");
        let (n, per) = spec.split_once('/').ok_or_else(bad)?;
        let n: f64 = n.parse().ok().filter(|n: &f64| *n > 0.0).ok_or_else(bad)?;
        let rate = match per {
            "s" => n,
            "m" => n / 60.0,
            _ => return Err(bad()),
        };
        Ok(RateLimit {
            rate,
            state: Mutex::new((rate.max(1.0), Instant::now())),
        })
    }

    /// Takes one request from the bucket, or says how many seconds until one is available.
    pub(crate) fn take(&self) -> Result<(), u64> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let burst = self.rate.max(1.0);
        let tokens = (state.0 + now.duration_since(state.1).as_secs_f64() * self.rate).min(burst);
        if tokens >= 1.0 {
            *state = (tokens - 1.0, now);
            Ok(())
        } else {
            *state = (tokens, now);
            Err(((1.0 - tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fault_specs() {
        let mut f = Faults::default();
        for spec in [
            "latency=50ms",
            "500=0.1",
            "429=0.2",
            "forbidden=0.05",
            "drop=0.01",
            "lose=0.5",
        ] {
            f.add(spec).unwrap();
        }
        assert_eq!(f.latency, Some(Duration::from_millis(50)));
        assert_eq!(
            (f.internal_error, f.too_many_requests, f.forbidden, f.drop),
            (0.1, 0.2, 0.05, 0.01)
        );
        assert_eq!(f.lose, 0.5);
        for bad in ["latency=fast", "500=2", "teapot=0.1", "drop"] {
            assert!(f.add(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_same_seed_rolls_the_same_faults() {
        let mut f = Faults::default();
        f.add("500=0.3").unwrap();
        f.add("429=0.3").unwrap();
        let rolls = |seed| {
            let d = Dice::new(f.clone(), seed);
            (0..200).map(|_| d.before()).collect::<Vec<_>>()
        };
        assert_eq!(rolls(7), rolls(7));
        assert_ne!(rolls(7), rolls(8));
        let r = rolls(7);
        let errors = r.iter().filter(|r| **r == Roll::InternalError).count();
        assert!((30..90).contains(&errors), "{errors} of 200 at p=0.3");
    }

    #[test]
    fn rate_limit_refuses_bursts_beyond_one_second() {
        let limit = RateLimit::parse("5/s").unwrap();
        let taken = (0..20).filter(|_| limit.take().is_ok()).count();
        assert!((5..=6).contains(&taken), "{taken}");
        assert_eq!(limit.take(), Err(1));
        assert!(RateLimit::parse("fast").is_err());
    }
}
