//! Real HTTP servers nobody here wrote, configured the way handouts/lab5.md asks and graded
//! on lab 5: each fails exactly what it really does differently, and why is written next
//! to each failed test. (nginx, which gets full marks, is in `lab5.rs`.)
//!
//! Where a server does something the RFC allows, the rubric accepts it (505 or an
//! HTTP/1.1 answer to HTTP/2.0 and 3.0; no Content-Type for an unknown type; 403 for a
//! path below a file), or asks for more with a reason that the feedback and the handout
//! ("Where the lab asks more than the RFC") both state.

use crate::support::*;

/// Grades the launcher `corpus/thirdparty/NAME` on lab 5.
fn grade_launcher(name: &str) -> Graded {
    let launcher = corpus(&format!("thirdparty/{name}"))
        .to_string_lossy()
        .to_string();
    grade("lab5", &[], &["sh", &launcher, "{root}", "{port}"])
}

#[test]
fn lighttpd_fails_only_where_it_breaks_the_rfc_or_the_lab_asks_for_more() {
    if !require_tool("lighttpd") {
        return;
    }
    let g = grade_launcher("lighttpd.sh");
    g.assert_failed_exactly(&[
        // It answers HEAD in HTTP/3.0 with a 505 that has a body (and a 9000-character
        // HEAD target with a 431 that has one too): RFC 9110 §9.3.2, a response to HEAD
        // has no content, whatever its status.
        "head",
        // It answers POST to a file with the file (200). RFC 9110 §9.3.3 allows that; the
        // lab asks for 405 (handout: "Where the lab asks more than the RFC").
        "methods",
        // server.max-read-idle times out each read, not the whole head, and nothing else
        // does: a byte every 0.3 s keeps the connection for ever. RFC 9112 §9.5 sets no
        // limit; the handout's "Timeouts" section asks for a deadline on the whole head.
        "slow-headers",
        // A 70-100 KB request line gets 431: its only limit is on the whole head
        // (server.max-request-field-size). RFC 9112 §3: a target longer than the server
        // wishes to parse MUST get 414.
        "oversized-requests",
        // Its 416 has no `Content-Range: bytes */size`. RFC 9110 §15.5.17 says SHOULD; the
        // lab asks for it (handout: "Where the lab asks more than the RFC").
        "range",
    ]);
    assert_eq!(g.score(), (160, 185));
    assert!(g.feedback("head").contains("after the 505 answer to HEAD"));
    assert!(g.feedback("methods").contains("RFC 9110 §9.3.3"));
    assert!(g.feedback("slow-headers").contains("Slowloris"));
    assert!(g.feedback("oversized-requests").contains("got status 431"));
    assert!(g.feedback("range").contains("SHOULD"));
    g.assert_golden(
        "lab5",
        "lighttpd_fails_only_where_it_breaks_the_rfc_or_the_lab_asks_for_more",
    );
}

#[test]
fn apache_event_mpm_fails_only_where_it_breaks_the_rfc_or_the_lab_asks_for_more() {
    if !require_tool("apache2") {
        return;
    }
    let g = grade_launcher("apache.sh");
    g.assert_failed_exactly(&[
        // It answers a HEAD with a 9000-character target with a 414 that has a body:
        // RFC 9110 §9.3.2, a response to HEAD has no content, whatever its status. (Its
        // answer to HEAD in HTTP/3.0 is an HTTP/1.1 200 without a body, as RFC 9110 §2.5
        // recommends.)
        "head",
        // Its default handler answers POST to a file with the file (200). RFC 9110 §9.3.3
        // allows that; the lab asks for 405 (handout: "Where the lab asks more than the
        // RFC"). mod_allowmethods would say 405, but with `Allow: TRACE` (RFC 9110
        // §15.5.6) and to unknown methods too (§9.1 asks for 501): see apache.sh.
        "methods",
        // Its 416 has no `Content-Range: bytes */size`. RFC 9110 §15.5.17 says SHOULD; the
        // lab asks for it (handout: "Where the lab asks more than the RFC").
        "range",
    ]);
    assert_eq!(g.score(), (170, 185));
    assert!(g.feedback("head").contains("after the 414 answer to HEAD"));
    assert!(g.feedback("methods").contains("RFC 9110 §9.3.3"));
    assert!(g.feedback("range").contains("SHOULD"));
    g.assert_golden(
        "lab5",
        "apache_event_mpm_fails_only_where_it_breaks_the_rfc_or_the_lab_asks_for_more",
    );
}
