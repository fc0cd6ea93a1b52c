//! Showing bytes to humans: escaping, previews and first-difference reports.

/// Escapes bytes like a Rust byte string (`hello\n\x00\xff`), showing at most `max` bytes
/// and saying how many more there were.
pub fn escape(bytes: &[u8], max: usize) -> String {
    let mut out = String::from("b\"");
    for &b in bytes.iter().take(max) {
        match b {
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    if bytes.len() > max {
        out.push_str(&format!(" … ({} bytes in all)", bytes.len()));
    }
    out
}

/// A preview of `bytes` with their count: `b"hi\n" (3 bytes)`.
pub fn describe(bytes: &[u8]) -> String {
    if bytes.len() <= 48 {
        format!("{} ({} bytes)", escape(bytes, 48), bytes.len())
    } else {
        escape(bytes, 48)
    }
}

/// Explains how `got` differs from `expected`, or returns `None` if they are equal.
///
/// The explanation names the first differing offset and shows a window of both sides
/// around it, so a student can see whether bytes were lost, reordered or altered.
pub fn first_difference(expected: &[u8], got: &[u8]) -> Option<String> {
    if expected == got {
        return None;
    }
    let same = expected.iter().zip(got).take_while(|(a, b)| a == b).count();
    let start = same.saturating_sub(8);
    let window = |b: &[u8]| -> String {
        if start >= b.len() {
            "(nothing)".to_string()
        } else {
            escape(&b[start..b.len().min(start + 32)], 32)
        }
    };
    let what = if same == got.len() && got.len() < expected.len() {
        format!(
            "received only the first {} of {} bytes",
            got.len(),
            expected.len()
        )
    } else if same == expected.len() {
        format!(
            "received {} bytes more than the {} expected",
            got.len() - expected.len(),
            expected.len()
        )
    } else {
        format!("first difference at byte {same}")
    };
    Some(format!(
        "{what}\n  expected from byte {start}: {}\n  received from byte {start}: {}",
        window(expected),
        window(got)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_and_high_bytes() {
        assert_eq!(escape(b"a\n\x00\xff\"", 10), r#"b"a\n\x00\xff\"""#);
        assert_eq!(escape(b"abcdef", 2), "b\"ab\" … (6 bytes in all)");
    }

    #[test]
    fn locates_the_first_difference() {
        assert!(first_difference(b"abc", b"abc").is_none());
        assert!(first_difference(b"abcdef", b"abc")
            .unwrap()
            .contains("only the first 3 of 6"));
        assert!(first_difference(b"abc", b"abxd")
            .unwrap()
            .contains("first difference at byte 2"));
        assert!(first_difference(b"ab", b"abc")
            .unwrap()
            .contains("1 bytes more"));
    }
}
