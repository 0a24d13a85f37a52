//! Seeds on the command line: decimal or `0x`-prefixed hex, `_` separators allowed, the same
//! for every subcommand (the docs quote seeds in hex, e.g. training's default 0xAE7E5).

/// Parses a seed (clap `value_parser`).
pub(crate) fn parse_seed(s: &str) -> Result<u64, String> {
    let clean: String = s.chars().filter(|&c| c != '_').collect();
    match clean
        .strip_prefix("0x")
        .or_else(|| clean.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => clean.parse::<u64>(),
    }
    .map_err(|e| format!("seed {s:?}: {e} (use decimal or 0x-prefixed hex)"))
}

#[cfg(test)]
mod tests {
    use super::parse_seed;

    #[test]
    fn decimal_hex_and_separators() {
        assert_eq!(parse_seed("714725"), Ok(0xAE7E5));
        assert_eq!(parse_seed("0xAE7E5"), Ok(714725));
        assert_eq!(parse_seed("0Xae_7e5"), Ok(714725));
        assert_eq!(parse_seed("0"), Ok(0));
        assert!(parse_seed("0x").is_err());
        assert!(parse_seed("-1").is_err());
        assert!(parse_seed("0x1_0000_0000_0000_0000").is_err());
    }
}
