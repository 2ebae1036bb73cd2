//! Kubernetes-style quantities (`8Gi`, `500m`) for memory, disk sizes and CPU, parsed once and printed canonically.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const KI: u64 = 1024;
const MI: u64 = KI * 1024;
const GI: u64 = MI * 1024;
const TI: u64 = GI * 1024;
const PI: u64 = TI * 1024;

/// The most memory a host, or one container, may be given: far beyond any site openlsp runs,
/// and small enough that adding up every pod of a profile never comes near overflowing.
pub const MAX_MEMORY: Bytes = Bytes(64 * TI);
/// Less than this is no memory limit a container starts with.
pub const MIN_CONTAINER_MEMORY: Bytes = Bytes::mib(32);
/// The largest disk a profile may describe.
pub const MAX_DISK: Bytes = Bytes(PI);
/// The most CPU one container may request: a thousand cores.
pub const MAX_CPU: Millicores = Millicores(1_000_000);

/// A byte count written like Kubernetes writes memory and storage (`512Mi`, `1Ti`, `8G`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub u64);

impl Bytes {
    /// `mib` MiB; a count too large for a u64 of bytes saturates (the checks refuse it).
    pub const fn mib(mib: u64) -> Self {
        Bytes(mib.saturating_mul(MI))
    }

    pub const fn gib(gib: u64) -> Self {
        Bytes(gib.saturating_mul(GI))
    }

    /// The sum, saturating: a profile's checks add up sizes before they refuse absurd ones.
    pub const fn plus(self, other: Bytes) -> Self {
        Bytes(self.0.saturating_add(other.0))
    }

    /// Whole MiB, rounded down.
    pub fn as_mib(self) -> u64 {
        self.0 / MI
    }

    /// Rounded for people to one decimal of the largest binary unit it reaches: `1.8Ti`,
    /// `31Gi`, `512Mi`, `100B`. [`Display`](fmt::Display) writes the exact value instead.
    pub fn human(self) -> String {
        for (unit, suffix) in [(TI, "Ti"), (GI, "Gi"), (MI, "Mi"), (KI, "Ki")] {
            if self.0 >= unit {
                let value = self.0 as f64 / unit as f64;
                let text = format!("{value:.1}");
                return format!("{}{suffix}", text.strip_suffix(".0").unwrap_or(&text));
            }
        }
        format!("{}B", self.0)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, suffix) = text.split_at(split);
        let multiplier = match suffix {
            "" => 1,
            "Ki" => KI,
            "Mi" => MI,
            "Gi" => GI,
            "Ti" => TI,
            "Pi" => PI,
            "k" => 1_000,
            "M" => 1_000_000,
            "G" => 1_000_000_000,
            "T" => 1_000_000_000_000,
            "P" => 1_000_000_000_000_000,
            _ => {
                return Err(format!(
                    "{text:?} is not a size: use a number with a suffix such as 512Mi, 8Gi or 1Ti"
                ));
            }
        };
        if number.is_empty() {
            return Err(format!("{text:?} is not a size: it has no number"));
        }
        let value: f64 = number
            .parse()
            .map_err(|_| format!("{text:?} is not a size: {number:?} is not a number"))?;
        let bytes = value * multiplier as f64;
        if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
            return Err(format!("{text:?} is out of range"));
        }
        Ok(Bytes(bytes.round() as u64))
    }
}

impl fmt::Display for Bytes {
    /// The largest binary suffix that divides the value exactly.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, suffix) in [(PI, "Pi"), (TI, "Ti"), (GI, "Gi"), (MI, "Mi"), (KI, "Ki")] {
            if n != 0 && n.is_multiple_of(unit) {
                return write!(f, "{}{}", n / unit, suffix);
            }
        }
        write!(f, "{n}")
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl Visitor<'_> for BytesVisitor {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as 512Mi, 8Gi or 1Ti")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bytes, E> {
                u64::try_from(v)
                    .map(Bytes)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
                Bytes::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(BytesVisitor)
    }
}

/// CPU in millicores, written `2`, `1.5` or `500m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millicores(pub u64);

impl Millicores {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(milli) = text.strip_suffix('m') {
            return milli
                .parse::<u64>()
                .map(Millicores)
                .map_err(|_| format!("{text:?} is not a CPU amount: use 2, 1.5 or 500m"));
        }
        let cores: f64 = text
            .parse()
            .map_err(|_| format!("{text:?} is not a CPU amount: use 2, 1.5 or 500m"))?;
        if !cores.is_finite() || cores < 0.0 {
            return Err(format!("{text:?} is not a CPU amount"));
        }
        if cores * 1000.0 >= u64::MAX as f64 {
            return Err(format!("{text:?} is out of range"));
        }
        Ok(Millicores((cores * 1000.0).round() as u64))
    }
}

impl fmt::Display for Millicores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(1000) {
            write!(f, "{}", self.0 / 1000)
        } else {
            write!(f, "{}m", self.0)
        }
    }
}

impl Serialize for Millicores {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Millicores {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CpuVisitor;
        impl Visitor<'_> for CpuVisitor {
            type Value = Millicores;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a CPU amount such as 2, 1.5 or 500m")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Millicores, E> {
                v.checked_mul(1000)
                    .map(Millicores)
                    .ok_or_else(|| E::custom(format!("{v} CPUs is out of range")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Millicores, E> {
                let cores =
                    u64::try_from(v).map_err(|_| E::custom("a CPU amount cannot be negative"))?;
                self.visit_u64(cores)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Millicores, E> {
                Millicores::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Millicores, E> {
                Millicores::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(CpuVisitor)
    }
}

/// A quantity as Kubernetes writes it: an integer, or a string with an optional suffix. In the
/// Site CRD this is `x-kubernetes-int-or-string`, as Kubernetes' own quantities are.
fn quantity_schema(description: &str, pattern: &str) -> schemars::Schema {
    schemars::json_schema!({
        "description": description,
        "x-kubernetes-int-or-string": true,
        "anyOf": [
            { "type": "integer", "minimum": 0 },
            { "type": "string", "pattern": pattern }
        ]
    })
}

impl schemars::JsonSchema for Bytes {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Size".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        quantity_schema(
            "a size with a Kubernetes suffix: 512Mi, 8Gi, 1Ti (Ki Mi Gi Ti Pi, or k M G T P), or bytes",
            r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$",
        )
    }
}

impl schemars::JsonSchema for Millicores {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Cpu".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        quantity_schema(
            "a CPU amount: 2, 1.5 or 500m",
            r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binary_and_decimal_suffixes() {
        assert_eq!(Bytes::parse("8Gi").unwrap(), Bytes::gib(8));
        assert_eq!(Bytes::parse("1Ti").unwrap().0, TI);
        assert_eq!(Bytes::parse("1.5Gi").unwrap(), Bytes::mib(1536));
        assert_eq!(Bytes::parse("8G").unwrap().0, 8_000_000_000);
        assert_eq!(Bytes::parse("1024").unwrap().0, 1024);
        assert!(Bytes::parse("8GB").is_err());
        assert!(Bytes::parse("Gi").is_err());
        assert!(Bytes::parse("lots").is_err());
    }

    #[test]
    fn prints_largest_exact_binary_suffix() {
        assert_eq!(Bytes::gib(8).to_string(), "8Gi");
        assert_eq!(Bytes::mib(1536).to_string(), "1536Mi");
        assert_eq!(Bytes::parse("1Ti").unwrap().to_string(), "1Ti");
        assert_eq!(Bytes(1000).to_string(), "1000");
    }

    #[test]
    fn prints_rounded_sizes_for_people() {
        assert_eq!(Bytes::mib(15_800).human(), "15.4Gi");
        assert_eq!(Bytes::gib(31).human(), "31Gi");
        assert_eq!(Bytes(2_000_398_934_016).human(), "1.8Ti");
        assert_eq!(Bytes(100).human(), "100B");
    }

    #[test]
    fn parses_cpu() {
        assert_eq!(Millicores::parse("500m").unwrap(), Millicores(500));
        assert_eq!(Millicores::parse("1.5").unwrap(), Millicores(1500));
        assert_eq!(Millicores::parse("4").unwrap().to_string(), "4");
        assert_eq!(Millicores(250).to_string(), "250m");
        assert!(Millicores::parse("fast").is_err());
        assert!(Millicores::parse("1e300").is_err());
    }

    #[test]
    fn huge_counts_neither_wrap_nor_panic() {
        assert_eq!(Bytes::mib(17_592_186_044_416), Bytes(u64::MAX));
        assert_eq!(Bytes(u64::MAX).plus(Bytes(1)), Bytes(u64::MAX));
        let cpu: Result<Millicores, _> = serde_yaml::from_str("18446744073709551615");
        assert!(cpu.unwrap_err().to_string().contains("out of range"));
        let size: Bytes = serde_yaml::from_str("16Ei").unwrap_or(Bytes(0));
        assert_eq!(size, Bytes(0), "no such suffix");
    }
}
