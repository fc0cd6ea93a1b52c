//! The passive-mode replies of FTP (RFC 959's 227, RFC 2428's 229), read by the probes
//! that grade lab 4's servers ([`crate::grade::probe::ftp`]) and by the bench's FTP load
//! ([`crate::grade::swarm::ftp_load`]): one reading of the format for both.

/// Six numbers of a 227 reply: the first run of six comma-separated numbers in the text.
pub fn parse_pasv(text: &str) -> Option<[u8; 6]> {
    text.split(|c: char| !c.is_ascii_digit() && c != ',')
        .filter(|t| t.matches(',').count() == 5)
        .find_map(|t| {
            let nums: Option<Vec<u8>> = t.split(',').map(|n| n.parse().ok()).collect();
            nums?.try_into().ok()
        })
}

/// The port of a 229 reply: `(|||port|)`, with any delimiter character.
pub fn parse_epsv(text: &str) -> Option<u16> {
    epsv_fields(text)?[2].parse().ok()
}

/// The three fields between the delimiters of a 229 reply's `(|||port|)`: network
/// protocol, network address, port.
pub fn epsv_fields(text: &str) -> Option<[&str; 3]> {
    let open = text.find('(')?;
    let close = open + text[open..].find(')')?;
    let inner = &text[open + 1..close];
    let delim = inner.chars().next()?;
    let mut fields = inner.split(delim).skip(1);
    Some([fields.next()?, fields.next()?, fields.next()?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passive_replies() {
        assert_eq!(
            parse_pasv("Entering Passive Mode (127,0,0,1,195,80)."),
            Some([127, 0, 0, 1, 195, 80])
        );
        assert_eq!(
            parse_pasv("Entering passive mode 127,0,0,1,4,1"),
            Some([127, 0, 0, 1, 4, 1])
        );
        assert_eq!(
            parse_epsv("Entering extended passive mode (|||43831|)."),
            Some(43831)
        );
        assert_eq!(parse_epsv("x (!!!7!)"), Some(7));
        assert_eq!(
            epsv_fields("(|1|127.0.0.1|5000|)"),
            Some(["1", "127.0.0.1", "5000"])
        );
        assert_eq!(parse_epsv("(||5000|)"), None);
    }
}
