//! The fleet's oracle: what a target answers to a location at a time, as a pure function of
//! (target, location, time) with scripted faults. The simulation harness (`fleet_sim`) asks it
//! in virtual time; the same script can serve a real farm server. Times are milliseconds since
//! the start of the run; targets are numbered, locations are indices.

/// What a probe of a target from a location sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub up: bool,
    pub latency_ms: u64,
}

/// Which targets a fault touches: those with `ix % modulo == residue`, or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Targets {
    All,
    Every { modulo: u64, residue: u64 },
}

impl Targets {
    pub fn contains(self, ix: u64) -> bool {
        match self {
            Targets::All => true,
            Targets::Every { modulo, residue } => ix % modulo == residue,
        }
    }
}

/// A scripted fault: `targets` answer down to `locations` (None: every location) during
/// `[from_ms, until_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub name: &'static str,
    pub locations: Option<&'static [usize]>,
    pub targets: Targets,
    pub from_ms: u64,
    pub until_ms: u64,
}

impl Fault {
    /// Down from every location: a real outage.
    pub fn is_real(&self) -> bool {
        self.locations.is_none()
    }

    pub fn covers(&self, ix: u64, location: usize, t_ms: u64) -> bool {
        (self.from_ms..self.until_ms).contains(&t_ms)
            && self.targets.contains(ix)
            && self.locations.is_none_or(|ls| ls.contains(&location))
    }
}

/// The script.
#[derive(Debug, Clone)]
pub struct Oracle {
    pub faults: Vec<Fault>,
}

impl Oracle {
    /// The answer to `location`'s probe of target `ix` at `t_ms`: down inside a fault, up
    /// otherwise; the latency (5..=250 ms) is a hash of the three, so every run is the same.
    pub fn answer(&self, ix: u64, location: usize, t_ms: u64) -> Answer {
        let up = !self.faults.iter().any(|f| f.covers(ix, location, t_ms));
        let h = mix(ix ^ ((location as u64) << 56) ^ (t_ms / 1000).rotate_left(24));
        Answer {
            up,
            latency_ms: 5 + h % 246,
        }
    }
}

/// SplitMix64's finaliser: a cheap, well-spread hash of a number.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
