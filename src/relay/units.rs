//! The relay's quantities as a user writes them: durations (`500us`, `20ms`, `1s`) and
//! percentages (`20%`), in tc-netem's words, parsed without I/O so clap can call them.

use std::time::Duration;

use crate::relay::impair::Probability;

/// Parses `500us`, `20ms`, `1.5s` (also `µs`, `usec`, `msec`, `sec`, and `0`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "us" | "µs" | "usec" => 1e-6,
        "ms" | "msec" => 1e-3,
        "s" | "sec" => 1.0,
        "" if number.parse::<f64>() == Ok(0.0) => 1.0,
        _ => {
            return Err(format!("{text:?} is not a duration like 500us, 20ms or 1s"));
        }
    };
    number
        .parse::<f64>()
        .ok()
        .and_then(|n| Duration::try_from_secs_f64(n * scale).ok())
        .ok_or_else(|| format!("{text:?} is not a duration like 500us, 20ms or 1s"))
}

/// Parses `20%` (or `20`, a percentage as tc reads it) into a probability of 0.2.
pub fn parse_percent(text: &str) -> Result<Probability, String> {
    let trimmed = text.trim();
    let number = trimmed.strip_suffix('%').unwrap_or(trimmed);
    number
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|p| Probability::new(p / 100.0))
        .ok_or_else(|| format!("{text:?} is not a percentage from 0% to 100%"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_netem_units() {
        assert_eq!(parse_duration("500us"), Ok(Duration::from_micros(500)));
        assert_eq!(parse_duration("20ms"), Ok(Duration::from_millis(20)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("1.5ms"), Ok(Duration::from_micros(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("20").is_err());
        assert!(parse_duration("-1ms").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("5 minutes").is_err());
    }

    #[test]
    fn percentages_are_fractions_of_a_hundred() {
        assert_eq!(parse_percent("20%").map(Probability::fraction), Ok(0.2));
        assert_eq!(parse_percent("0.5%").map(Probability::fraction), Ok(0.005));
        assert_eq!(parse_percent("100").map(Probability::fraction), Ok(1.0));
        assert!(parse_percent("101%").is_err());
        assert!(parse_percent("-1%").is_err());
        assert!(parse_percent("lots").is_err());
    }
}
