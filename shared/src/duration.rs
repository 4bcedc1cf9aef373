//! Human durations (`30s`, `5m`, `1h30m`, `500ms`), as flags, files and schedules write them.
//! Its own module so that `model` and `schedule`, which both parse them, do not import each
//! other.

/// Parses a human duration into milliseconds; the error names the text and why.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let bad = |e: &dyn std::fmt::Display| {
        format!("{text:?} is not a duration like 30s, 5m, 1h30m or 7d: {e}")
    };
    let span: jiff::Span = text.trim().parse().map_err(|e| bad(&e))?;
    // A day is 24 hours here: durations are lengths of time, not calendar steps.
    let ms = span
        .total((
            jiff::Unit::Millisecond,
            jiff::SpanRelativeTo::days_are_24_hours(),
        ))
        .map_err(|e| bad(&e))?;
    if ms < 0.0 {
        return Err(format!("{text:?} is negative"));
    }
    if !ms.is_finite() || ms >= u64::MAX as f64 {
        return Err(format!("{text:?} is too long"));
    }
    Ok(ms.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_duration_ms;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration_ms("30s"), Ok(30_000));
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        // Retention is counted in days.
        assert_eq!(parse_duration_ms("30d"), Ok(30 * 86_400_000));
        assert_eq!(parse_duration_ms("1w 2d"), Ok(9 * 86_400_000));
        assert!(
            parse_duration_ms("1 month").is_err(),
            "months have no fixed length"
        );
        assert!(parse_duration_ms("soon").is_err());
        assert!(parse_duration_ms("-5s").unwrap_err().contains("negative"));
    }
}
