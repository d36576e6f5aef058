//! The x86-64 CPU features generated code may assume, and how an artifact records them.
//!
//! Owns the feature set (detected by cpuid in a kernel, by the host's detection in
//! hosted builds) and its stable bit encoding. It must not name Cranelift: a runtime
//! built without the compiler checks artifacts against these features too.

use crate::prelude::*;

/// x86-64 features Cranelift can use, as detected by cpuid (kernel) or the host's
/// feature detection (hosted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuFeatures {
    pub sse3: bool,
    pub ssse3: bool,
    pub sse41: bool,
    pub sse42: bool,
    pub popcnt: bool,
    pub avx: bool,
    pub avx2: bool,
    pub fma: bool,
    pub bmi1: bool,
    pub bmi2: bool,
    pub lzcnt: bool,
}

impl CpuFeatures {
    /// x86-64-v2 (SSE4.2, POPCNT): the minimum this runtime generates code for, since
    /// `f32.floor` and friends then need no library calls.
    pub const BASELINE: CpuFeatures = CpuFeatures {
        sse3: true,
        ssse3: true,
        sse41: true,
        sse42: true,
        popcnt: true,
        avx: false,
        avx2: false,
        fma: false,
        bmi1: false,
        bmi2: false,
        lzcnt: false,
    };

    /// The host's features (hosted builds only).
    #[cfg(feature = "std")]
    pub fn detect_host() -> CpuFeatures {
        CpuFeatures {
            sse3: std::is_x86_feature_detected!("sse3"),
            ssse3: std::is_x86_feature_detected!("ssse3"),
            sse41: std::is_x86_feature_detected!("sse4.1"),
            sse42: std::is_x86_feature_detected!("sse4.2"),
            popcnt: std::is_x86_feature_detected!("popcnt"),
            avx: std::is_x86_feature_detected!("avx"),
            avx2: std::is_x86_feature_detected!("avx2"),
            fma: std::is_x86_feature_detected!("fma"),
            bmi1: std::is_x86_feature_detected!("bmi1"),
            bmi2: std::is_x86_feature_detected!("bmi2"),
            lzcnt: std::is_x86_feature_detected!("lzcnt"),
        }
    }
}

/// Every feature with its name and bit in [`CpuFeatures::bits`] (bit = position).
const NAMES: [&str; 11] =
    ["sse3", "ssse3", "sse4.1", "sse4.2", "popcnt", "avx", "avx2", "fma", "bmi1", "bmi2", "lzcnt"];

impl CpuFeatures {
    fn flags(&self) -> [bool; 11] {
        [
            self.sse3,
            self.ssse3,
            self.sse41,
            self.sse42,
            self.popcnt,
            self.avx,
            self.avx2,
            self.fma,
            self.bmi1,
            self.bmi2,
            self.lzcnt,
        ]
    }

    /// A stable encoding: bit `i` is feature `i` of the list above.
    pub fn bits(&self) -> u32 {
        self.flags().iter().enumerate().fold(0, |bits, (bit, &on)| bits | (u32::from(on) << bit))
    }

    /// Decodes [`bits`](Self::bits); `None` when a bit no feature has is set.
    pub fn from_bits(bits: u32) -> Option<CpuFeatures> {
        if bits >> NAMES.len() != 0 {
            return None;
        }
        let on = |bit: usize| bits & (1 << bit) != 0;
        Some(CpuFeatures {
            sse3: on(0),
            ssse3: on(1),
            sse41: on(2),
            sse42: on(3),
            popcnt: on(4),
            avx: on(5),
            avx2: on(6),
            fma: on(7),
            bmi1: on(8),
            bmi2: on(9),
            lzcnt: on(10),
        })
    }

    /// The names of the features `self` has and `available` lacks (code for `self` may
    /// run on `available` when this is empty).
    pub fn missing_from(&self, available: &CpuFeatures) -> Vec<&'static str> {
        let (wanted, have) = (self.flags(), available.flags());
        NAMES
            .iter()
            .zip(wanted.iter().zip(have))
            .filter(|(_, (want, have))| **want && !*have)
            .map(|(n, _)| *n)
            .collect()
    }

    /// The names of the features `self` has, comma-separated (`none` if none).
    pub fn names(&self) -> String {
        let on: Vec<&str> = NAMES.iter().zip(self.flags()).filter(|(_, on)| *on).map(|(n, _)| *n).collect();
        if on.is_empty() { "none".into() } else { on.join(",") }
    }

    /// Parses a `--target-cpu` value: `baseline` (x86-64-v2) or a comma list whose
    /// first item is `baseline` or `none` and whose others are `+name` / `-name`.
    pub fn parse(spec: &str) -> Result<CpuFeatures, String> {
        let mut items = spec.split(',').map(str::trim);
        let mut features = match items.next() {
            Some("baseline") | Some("x86-64-v2") => CpuFeatures::BASELINE,
            Some("none") => CpuFeatures::from_bits(0).expect("no bits"),
            other => return Err(format!("CPU {:?}: expected `baseline` or `none` first", other.unwrap_or(""))),
        };
        for item in items {
            let (on, name) = match item.split_at_checked(1) {
                Some(("+", name)) => (true, name),
                Some(("-", name)) => (false, name),
                _ => return Err(format!("CPU feature {item:?}: expected +NAME or -NAME")),
            };
            let Some(bit) = NAMES.iter().position(|known| *known == name) else {
                return Err(format!("unknown CPU feature {name:?} (known: {})", NAMES.join(", ")));
            };
            let bits = if on { features.bits() | (1 << bit) } else { features.bits() & !(1 << bit) };
            features = CpuFeatures::from_bits(bits).expect("a known bit");
        }
        Ok(features)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_and_unknown_bits_are_refused() {
        for bits in 0..(1u32 << NAMES.len()) {
            assert_eq!(CpuFeatures::from_bits(bits).unwrap().bits(), bits);
        }
        assert_eq!(CpuFeatures::from_bits(1 << NAMES.len()), None);
    }

    #[test]
    fn parse_and_missing_name_features() {
        let v3 = CpuFeatures::parse("baseline,+avx,+avx2,+fma,+bmi1,+bmi2,+lzcnt").unwrap();
        assert_eq!(v3.missing_from(&CpuFeatures::BASELINE), ["avx", "avx2", "fma", "bmi1", "bmi2", "lzcnt"]);
        assert!(CpuFeatures::BASELINE.missing_from(&v3).is_empty());
        assert_eq!(CpuFeatures::parse("baseline,-popcnt").unwrap().names(), "sse3,ssse3,sse4.1,sse4.2");
        assert!(CpuFeatures::parse("baseline,+avx512").unwrap_err().contains("unknown CPU feature"));
        assert!(CpuFeatures::parse("skylake").is_err());
    }
}
