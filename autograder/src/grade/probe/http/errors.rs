//! Errors: malformed and oversized requests, missing files, paths that try to leave
//! the root, percent-decoding, and versions the server does not speak — each answered
//! with the right status while the server goes on serving.

use super::*;

/// After a test: a new client still gets an answer (any status) to a plain GET.
pub fn still_serves(ctx: &mut Ctx) -> ProbeResult {
    let h = host(ctx);
    let req = Request::new("GET", "/", &h, &[("Connection", "close")]);
    one_shot(ctx, &req)?;
    Ok(())
}

/// Malformed requests get 400.
pub fn bad_requests(ctx: &mut Ctx) -> ProbeResult {
    put(ctx, "index.html", b"<p>ok</p>\n")?;
    let h = host(ctx);
    let cases: Vec<(&str, String)> = vec![
        (
            "a line that is not a request line",
            "HELLO\r\n\r\n".to_string(),
        ),
        (
            "HTTP/1.1 without a Host header",
            "GET /index.html HTTP/1.1\r\n\r\n".to_string(),
        ),
        (
            "two Host headers (RFC 9112 §3.2: exactly one)",
            format!("GET /index.html HTTP/1.1\r\nHost: {h}\r\nHost: example.com\r\n\r\n"),
        ),
        (
            "whitespace between a header name and the colon",
            format!("GET /index.html HTTP/1.1\r\nHost : {h}\r\n\r\n"),
        ),
        (
            "a lowercase method (methods are case-sensitive tokens)",
            format!("get /index.html HTTP/1.1\r\nHost: {h}\r\n\r\n"),
        ),
        // Not tested: a request line without a version. That is an HTTP/0.9 request,
        // which some servers (nginx) still answer, with a bare body.
    ];
    for (why, text) in cases {
        let req = Request::raw("?", why, text.clone().into_bytes());
        let r = one_shot(ctx, &req).map_err(|e| {
            e.detail(format!(
                "The request was {why}: {}",
                escape(text.as_bytes(), 100)
            ))
        })?;
        if r.status != 400 && !(r.status == 501 && why.starts_with("a lowercase")) {
            return Err(Failure::new(format!(
                "a request with {why} got status {}, expected 400",
                r.status
            ))
            .expected("400 Bad Request")
            .got(r.head_text())
            .detail(format!("The request: {}", escape(text.as_bytes(), 100)))
            .into());
        }
    }
    Ok(())
}

/// A missing file gets 404, and the connection goes on.
pub fn not_found(ctx: &mut Ctx) -> ProbeResult {
    put(ctx, "here.txt", b"here\n")?;
    let h = host(ctx);
    let mut f = Fetcher::new();
    let target = format!("/missing-{}.html", ctx.rng.token(8));
    // A path below a regular file names nothing either: 404, or 403 from a server that
    // refuses such paths as a rule (lighttpd with static-file.disable-pathinfo). Both say
    // "not served"; RFC 9110 §15.5.4 lets a server refuse any request.
    let cases: [(&str, &[u16]); 3] = [
        (&target, &[404]),
        ("/no/such/dir/", &[404]),
        ("/here.txt/extra", &[404, 403]),
    ];
    for (t, statuses) in cases {
        let req = Request::get(t, &h);
        let r = f.fetch(ctx, &req).map_err(|e| e.reproduce(curl(ctx, t)))?;
        expect_status(&r, statuses, &req).map_err(|e| {
            if r.status == 200 && t == "/here.txt/extra" {
                e.detail("/here.txt is a file, not a directory: nothing is below it. Serving the file for this path (as \"path info\") gives it a second URL, whose relative links resolve below the file.")
            } else {
                e
            }
        })?;
        let req = Request::get("/here.txt", &h);
        let r = f.fetch(ctx, &req)?;
        expect_ok_body(&r, b"here\n", &req)?;
    }
    Ok(())
}

/// No path, however encoded, reaches a file outside the root.
pub fn path_escape(ctx: &mut Ctx) -> ProbeResult {
    put(ctx, "index.html", b"<p>inside</p>\n")?;
    // A secret in a directory next to the root, with a random name and content.
    let parent = ctx
        .root
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let secret_dir = tempfile::Builder::new()
        .prefix("netlabs-secret-")
        .tempdir_in(&parent)
        .map_err(|e| {
            Failure::new(format!(
                "the grader could not create a secret directory: {e}"
            ))
        })?;
    let secret = format!("TOP SECRET {}", ctx.rng.token(24));
    std::fs::write(secret_dir.path().join("secret.txt"), &secret)
        .map_err(|e| Failure::new(format!("the grader could not write the secret: {e}")))?;
    let dir = secret_dir
        .path()
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let root_name = ctx
        .root
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    let h = host(ctx);
    let targets = vec![
        format!("/../{dir}/secret.txt"),
        format!(
            "/../../../../../../..{}/secret.txt",
            secret_dir.path().display()
        ),
        format!("/./../{dir}/secret.txt"),
        format!("/%2e%2e/{dir}/secret.txt"),
        format!("/%2E%2E/{dir}/secret.txt"),
        format!("/..%2f{dir}%2fsecret.txt"),
        format!("/%2e%2e%2f{dir}%2fsecret.txt"),
        format!("/.%2e/{dir}/secret.txt"),
        format!("/{root_name}/../../{dir}/secret.txt"),
        format!("http://{h}/../{dir}/secret.txt"),
        "/../../../../../../../../etc/passwd".to_string(),
        "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd".to_string(),
    ];
    for t in &targets {
        let req = Request::get(t, &h);
        let r = one_shot(ctx, &req)?;
        let leaked = r.body.windows(secret.len()).any(|w| w == secret.as_bytes())
            || r.body.windows(9).any(|w| w == b"root:x:0:");
        if leaked || (200..300).contains(&r.status) {
            return Err(Failure::new(format!("GET {t} was answered with {} {}: a file outside the root was served", r.status, r.reason))
                .expected("400, 403 or 404, and nothing from outside the root")
                .got(format!("{} then {}", r.head_text(), describe(&r.body)))
                .detail("Percent-decode the path first, then refuse any `..` segment (or resolve the path and check it is still below the root).")
                .reproduce(curl(ctx, t))
                .into());
        }
        expect_status(&r, &[400, 403, 404], &req)?;
    }
    // A symbolic link inside the root can point anywhere: following it out is the same
    // escape without a single `..` (to /etc, which every sandbox sees, and to the secret).
    let links: [(&str, &std::path::Path); 3] = [
        ("passwd-link", std::path::Path::new("/etc/passwd")),
        ("system", std::path::Path::new("/etc")),
        ("next-door", secret_dir.path()),
    ];
    for (name, to) in links {
        std::os::unix::fs::symlink(to, ctx.root.join(name)).map_err(|e| {
            Failure::new(format!("the grader could not plant a symbolic link: {e}"))
        })?;
    }
    for t in ["/passwd-link", "/system/passwd", "/next-door/secret.txt"] {
        let req = Request::get(t, &h);
        let r = one_shot(ctx, &req)?;
        let leaked = r.body.windows(secret.len()).any(|w| w == secret.as_bytes())
            || r.body.windows(9).any(|w| w == b"root:x:0:");
        if leaked || (200..300).contains(&r.status) {
            return Err(Failure::new(format!(
                "GET {t} was answered with {} {}: a symbolic link in the root was followed out of it",
                r.status, r.reason
            ))
            .expected("400, 403 or 404: the link leads outside the root")
            .got(format!("{} then {}", r.head_text(), describe(&r.body)))
            .detail(format!(
                "The root holds symbolic links: {}.",
                links
                    .iter()
                    .map(|(n, to)| format!("{n} -> {}", to.display()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .detail("Checking the path's text cannot see a link: resolve the joined path (std::fs::canonicalize) and check that the result is still below the (canonical) root.")
            .reproduce(curl(ctx, t))
            .into());
        }
        expect_status(&r, &[400, 403, 404], &req)?;
    }
    Ok(())
}

/// Names are percent-decoded; query strings are ignored.
pub fn percent_decoding(ctx: &mut Ctx) -> ProbeResult {
    let body = format!("spaces {}\n", ctx.rng.token(20));
    let name = format!("my notes {}.txt", ctx.rng.token(4));
    put(ctx, &format!("sub dir/{name}"), body.as_bytes())?;
    let encoded = name.replace(' ', "%20");
    // A name beyond ASCII: `é` is two bytes in UTF-8, %C3%A9, which decode to two bytes
    // of the name, not to two characters.
    let accented = format!("résumé {}.txt", ctx.rng.token(4));
    let accented_body = format!("accents {}\n", ctx.rng.token(20));
    put(
        ctx,
        &format!("sub dir/{accented}"),
        accented_body.as_bytes(),
    )?;
    let h = host(ctx);
    let mut f = Fetcher::new();
    for (t, body) in [
        (format!("/sub%20dir/{encoded}"), &body),
        (format!("/sub%20dir/{encoded}?v=3&x=%2F"), &body),
        (
            format!("/sub%20dir/{}", encoded.replace("my", "%6d%79")),
            &body,
        ),
        (
            format!("/sub%20dir/{}", percent_encode(&accented)),
            &accented_body,
        ),
    ] {
        let req = Request::get(&t, &h);
        let r = f.fetch(ctx, &req).map_err(|e| e.reproduce(curl(ctx, &t)))?;
        expect_ok_body(&r, body.as_bytes(), &req).map_err(|e| {
            let e = e.reproduce(curl(ctx, &t));
            if t.contains("%C3") {
                e.detail(format!("The file is `sub dir/{accented}`. Percent-decoding gives bytes: collect them, then read them as UTF-8 (a %XX made a character of its own turns `é` into `Ã©`)."))
            } else {
                e
            }
        })?;
    }
    Ok(())
}

/// Percent-encodes every byte but the unreserved ones (RFC 3986 §2.3).
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Sends `bytes` from a background thread (the server may stop reading and close) and
/// reads one response.
fn oversized(ctx: &mut Ctx, req: &Request) -> Result<Response, Failure> {
    let c = ctx.connect()?;
    let mut writer = c.try_clone()?;
    let bytes = req.bytes.clone();
    thread::spawn(move || {
        let _ = writer.send(&bytes);
    });
    let mut c = Client::new(c);
    c.read_response(req)
}

/// An endless request line gets 414; an endless header section 431 (or 400).
///
/// Neither ever ends: the line has no version and no CRLF, the header section no empty
/// line. A server that checks its limits only once the head is complete has buffered
/// everything and is still waiting; only one that refuses as soon as its buffer passes
/// the limit answers.
pub fn oversized_requests(ctx: &mut Ctx) -> ProbeResult {
    put(ctx, "index.html", b"<p>ok</p>\n")?;
    let h = host(ctx);
    let long = format!("/{}", "a".repeat(ctx.rng.range(70_000, 100_000)));
    let req = Request::raw("GET", &long, format!("GET {long}").into_bytes());
    let r = oversized(ctx, &req).map_err(|e| {
        e.detail("The request line was 70-100 KB long and had not ended (no version, no CRLF yet). Limit how much you buffer while looking for its end: past the limit, answer 414 at once.")
    })?;
    expect_status(&r, &[414], &req).map_err(|e| {
        e.detail("RFC 9112 §3: a server that receives a request-target longer than any URI it wishes to parse MUST respond with 414. Everything received had no line end yet, so it was all request line: count it against a line limit before (and besides) the limit on the whole head.")
    })?;
    let mut headers = String::new();
    for i in 0..ctx.rng.range(150, 250) {
        headers.push_str(&format!("X-Filler-{i}: {}\r\n", "b".repeat(1000)));
    }
    let text = format!("GET /index.html HTTP/1.1\r\nHost: {h}\r\n{headers}");
    let req = Request::raw(
        "GET",
        "/index.html (with 150-250 KB of headers)",
        text.into_bytes(),
    );
    let r = oversized(ctx, &req).map_err(|e| {
        e.detail("The header section was 150-250 KB long and had not ended (no empty line yet). Past your limit, answer 431 at once.")
    })?;
    expect_status(&r, &[431, 400], &req)?;
    Ok(())
}

/// Versions other than HTTP/1.x get 505, or are answered as HTTP/1.1.
///
/// RFC 9110 §2.5: a server SHOULD answer with the highest version it conforms to whose
/// major number is at most the request's (HTTP/1.1, for a 2.0 or 3.0 request in HTTP/1.1's
/// syntax), MUST NOT answer with a version it does not conform to, and can refuse the major
/// version with 505 if it wishes. The lab asks for 505; Apache answers as HTTP/1.1.
pub fn version_not_supported(ctx: &mut Ctx) -> ProbeResult {
    let body = b"<p>ok</p>\n";
    put(ctx, "index.html", body)?;
    let h = host(ctx);
    for v in ["HTTP/3.0", "HTTP/2.0"] {
        let req = Request::with_version("GET", "/index.html", v, Some(&h), &[]);
        let why = format!("The request's version was {v}.");
        let r = one_shot(ctx, &req).map_err(|e| e.detail(why.clone()))?;
        if r.status == 505 {
            continue;
        }
        if r.status == 200 && r.version == "HTTP/1.1" {
            // Served as the HTTP/1.1 request it is written as: RFC 9110 §2.5's advice.
            expect_body(&r, body, &req).map_err(|e| e.detail(why.clone()))?;
            continue;
        }
        return Err(Failure::new(format!(
            "{} ({v}) got status {} ({}), expected 505",
            req.describe(),
            r.status,
            r.reason
        ))
        .expected("505 HTTP Version Not Supported (or the file, answered as HTTP/1.1)")
        .got(r.head_text())
        .detail(why)
        .detail("A well-formed version whose major number is not 1 is not malformed: refuse it with 505, or (RFC 9110 §2.5) answer it as HTTP/1.1, the highest version you conform to.")
        .into());
    }
    Ok(())
}
