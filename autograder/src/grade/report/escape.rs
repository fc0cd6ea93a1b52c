//! Quoting text for the formats reports and tables are written in: XML (JUnit reports, the
//! bench's SVG graph), HTML (the class report and each student's feedback page, with
//! their inline SVG), CSV (`grades.csv`, `bench.csv`) and URL paths (the class report's
//! links).

/// Escapes text for XML attributes and content, dropping characters XML cannot carry.
///
/// XML 1.0 has no way to write most control characters, not even as character
/// references: a program's output that holds one (a stray `\x1b`, a NUL) would make the
/// whole document unreadable, so each becomes U+FFFD.
pub fn xml(s: &str) -> String {
    markup(s, |c| (c as u32) < 0x20)
}

/// Escapes text for HTML content and quoted attribute values (inline SVG included).
///
/// Everything a submission wrote passes through here: after it, a program's output that
/// holds `</script>` or `<img onerror=…>` is text on the page, never markup. HTML also
/// counts the C0 and C1 control characters and the noncharacters as errors of the
/// document (a parser may drop or replace them): each becomes U+FFFD, as in [`xml`].
pub fn html(s: &str) -> String {
    markup(s, |c| {
        let n = c as u32;
        n < 0x20
            || (0x7f..=0x9f).contains(&n)
            || (0xfdd0..=0xfdef).contains(&n)
            || n & 0xfffe == 0xfffe
    })
}

/// Escapes the five characters markup gives a meaning, and replaces those `unwritable`
/// says the format cannot carry (tab, line feed and carriage return always stay).
fn markup(s: &str, unwritable: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if unwritable(c) => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A file or folder name as one segment of a relative URL: every byte but letters,
/// digits and `-._~` percent-encoded (RFC 3986), so that a student folder named `a#1` or
/// `b?c` links to itself and not to a fragment or a query. Still to be [`html`]-escaped
/// in an attribute (it then holds nothing to escape).
pub fn url_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
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
    fn html_makes_a_hostile_output_text_and_drops_what_html_forbids() {
        assert_eq!(
            html("</script><img src=x onerror=\"alert(1)\">"),
            "&lt;/script&gt;&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
        );
        assert_eq!(
            html("a\u{85}b\u{7f}\u{fffe}\u{fdd0}é\n"),
            "a\u{fffd}b\u{fffd}\u{fffd}\u{fffd}é\n"
        );
    }

    #[test]
    fn a_url_segment_is_a_name_not_a_fragment_or_a_query() {
        assert_eq!(url_segment("ada"), "ada");
        assert_eq!(url_segment("a b#1?x/é"), "a%20b%231%3Fx%2F%C3%A9");
    }

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv("alice"), "alice");
        assert_eq!(csv("doe, jane"), "\"doe, jane\"");
        assert_eq!(csv("a\"b"), "\"a\"\"b\"");
        assert_eq!(csv("two\rlines"), "\"two\rlines\"");
    }
}
