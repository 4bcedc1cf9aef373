//! Human durations (`30s`, `5m`, `1h30m`, `500ms`), as flags, files and schedules write them.
//! Its own module so that `model` and `schedule`, which both parse them, do not import each
//! other.

/// Parses a human duration into milliseconds; the error names the text and why.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let d: jiff::SignedDuration = text
        .trim()
        .parse()
        .map_err(|e| format!("{text:?} is not a duration like 30s, 5m or 1h30m: {e}"))?;
    if d.is_negative() {
        return Err(format!("{text:?} is negative"));
    }
    u64::try_from(d.as_millis()).map_err(|_| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::parse_duration_ms;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration_ms("30s"), Ok(30_000));
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        assert!(parse_duration_ms("soon").is_err());
        assert!(parse_duration_ms("-5s").unwrap_err().contains("negative"));
    }
}
