//! Quoting text for the formats reports and tables are written in: XML (JUnit reports, the
//! bench's SVG graph) and CSV (`grades.csv`, `bench.csv`).

/// Escapes text for XML attributes and content, dropping characters XML cannot carry.
///
/// XML 1.0 has no way to write most control characters, not even as character
/// references: a program's output that holds one (a stray `\x1b`, a NUL) would make the
/// whole document unreadable, so each becomes U+FFFD.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A CSV field, quoted only when it needs it (RFC 4180: a comma, a quote or a line break;
/// quotes inside are doubled).
pub fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_drops_what_xml_cannot_carry() {
        assert_eq!(
            xml("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        assert_eq!(
            xml("line\n\ttab\x1b[0m\0"),
            "line\n\ttab\u{fffd}[0m\u{fffd}"
        );
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv("alice"), "alice");
        assert_eq!(csv("doe, jane"), "\"doe, jane\"");
        assert_eq!(csv("a\"b"), "\"a\"\"b\"");
        assert_eq!(csv("two\rlines"), "\"two\rlines\"");
    }
}
