//! Basics: a file's bytes and length exactly, the standard headers, content types, HEAD
//! and the methods the server does not implement.

use super::*;

/// GETs a small HTML page and a larger text file: 200, exact bytes.
pub fn get_file(ctx: &mut Ctx) -> ProbeResult {
    let page = format!("<!DOCTYPE html>\n<h1>hello {}</h1>\n", ctx.rng.token(16));
    let lines = ctx.rng.range(500, 4000);
    let text: String = (0..lines)
        .map(|i| format!("line {i} {}\n", ctx.rng.token(40)))
        .collect();
    let name = format!("notes-{}.txt", ctx.rng.token(6));
    put(ctx, "index.html", page.as_bytes())?;
    put(ctx, &name, text.as_bytes())?;
    let h = host(ctx);
    let mut f = Fetcher::new();
    for (target, body) in [
        ("/index.html", page.as_bytes()),
        (&format!("/{name}")[..], text.as_bytes()),
    ] {
        let req = Request::get(target, &h);
        let r = f
            .fetch(ctx, &req)
            .map_err(|e| e.reproduce(curl(ctx, target)))?;
        expect_ok_body(&r, body, &req).map_err(|e| e.reproduce(curl(ctx, target)))?;
        if r.version != "HTTP/1.1" {
            return Err(Failure::new(format!(
                "the response to an HTTP/1.1 request says {}",
                r.version
            ))
            .expected("HTTP/1.1 (a server answers with the highest version it supports)")
            .got(r.head_text())
            .into());
        }
    }
    Ok(())
}

/// GETs random binary files (a PNG and an unknown type): exact bytes and length.
pub fn get_binary(ctx: &mut Ctx) -> ProbeResult {
    let mut files = Vec::new();
    let png = site::png(&mut ctx.rng, 64, 64);
    files.push(("/img/picture.png".to_string(), png));
    let size = ctx.rng.range(300_000, 3_000_000);
    files.push((
        format!("/data-{}.bin", ctx.rng.token(6)),
        ctx.rng.bytes(size),
    ));
    for (target, bytes) in &files {
        put(ctx, &target[1..], bytes)?;
    }
    let h = host(ctx);
    let mut f = Fetcher::new();
    for (target, bytes) in &files {
        let req = Request::get(target, &h);
        let r = f
            .fetch(ctx, &req)
            .map_err(|e| e.reproduce(curl(ctx, target)))?;
        expect_status(&r, &[200], &req)?;
        if let wire::Framing::Length(n) = r.framing {
            if n != bytes.len() as u64 {
                return Err(Failure::new(format!(
                    "{} announced Content-Length: {n}, but the file has {} bytes",
                    req.describe(),
                    bytes.len()
                ))
                .detail("Content-Length counts bytes; a binary file is not text.")
                .into());
            }
        }
        expect_body(&r, bytes, &req).map_err(|e| e.reproduce(curl(ctx, target)))?;
    }
    Ok(())
}

/// Checks `Date`, `Last-Modified`, `Server` and `Content-Length` on a plain GET.
pub fn standard_headers(ctx: &mut Ctx) -> ProbeResult {
    let body = format!("<p>{}</p>\n", ctx.rng.token(30));
    let path = put(ctx, "page.html", body.as_bytes())?;
    // A modification time well in the past, so that it cannot be confused with "now".
    let mtime = SystemTime::now() - Duration::from_secs(ctx.rng.range(86_400, 86_400 * 900) as u64);
    set_modified(&path, mtime)?;
    let h = host(ctx);
    let req = Request::get("/page.html", &h);
    let r = client(ctx)?.exchange(&req)?;
    expect_ok_body(&r, body.as_bytes(), &req)?;
    let bad = |what: &str, want: String| -> Verdict {
        Failure::new(format!("{what} in the response to GET /page.html"))
            .expected(want)
            .got(r.head_text())
            .detail(
                "Dates are IMF-fixdate in GMT: `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §5.6.7).",
            )
            .into()
    };
    let date = r
        .header("date")
        .ok_or_else(|| bad("no Date header", "a Date header".into()))?;
    let parsed = parse_http_date(date).ok_or_else(|| {
        bad(
            "the Date header is not an IMF-fixdate",
            "Date: <IMF-fixdate>".into(),
        )
    })?;
    let now = SystemTime::now();
    let skew = now.duration_since(parsed).unwrap_or_else(|e| e.duration());
    if skew > Duration::from_secs(120) {
        return Err(bad(
            "the Date header is not the current time",
            format!("about {}", format_http_date(now)),
        ));
    }
    let expected_lm = format_http_date(mtime);
    match r.header("last-modified") {
        Some(lm) if lm == expected_lm => {}
        _ => {
            return Err(bad(
                "Last-Modified is missing or not the file's modification time",
                format!("Last-Modified: {expected_lm}"),
            ))
        }
    }
    if r.header("server").is_none_or(str::is_empty) {
        return Err(bad(
            "no Server header",
            "a Server header naming the server".into(),
        ));
    }
    if r.header("content-length").is_none() {
        return Err(bad(
            "no Content-Length header",
            format!("Content-Length: {}", body.len()),
        ));
    }
    Ok(())
}

/// Files of every extension in the lab's table get the right `Content-Type`.
pub fn content_types(ctx: &mut Ctx) -> ProbeResult {
    use site::types::*;
    let table: &[(&str, &[&str])] = &[
        ("html", HTML),
        ("css", CSS),
        ("js", JS),
        ("json", JSON),
        ("txt", TXT),
        ("png", PNG),
        ("jpg", JPG),
        ("gif", GIF),
        ("svg", SVG),
        ("ico", ICO),
        ("pdf", PDF),
        ("wasm", WASM),
        // An extension no MIME table knows (`.xyz` is chemical/x-xyz in Debian's
        // /etc/mime.types), so a server that uses the system's table passes too.
        ("no-such-type", OCTET),
    ];
    let stem = ctx.rng.token(6);
    for (ext, _) in table {
        let content = ctx.rng.token(20);
        put(ctx, &format!("t/{stem}.{ext}"), content.as_bytes())?;
    }
    let h = host(ctx);
    let mut f = Fetcher::new();
    for (ext, types) in table {
        let target = format!("/t/{stem}.{ext}");
        let req = Request::get(&target, &h);
        let r = f.fetch(ctx, &req)?;
        expect_status(&r, &[200], &req)?;
        expect_type(&r, types, &req).map_err(|e| e.reproduce(curl(ctx, &target)))?;
    }
    Ok(())
}

/// HEAD gets the same headers as GET and no body.
pub fn head(ctx: &mut Ctx) -> ProbeResult {
    let size = ctx.rng.range(2_000, 50_000);
    let bytes = ctx.rng.bytes(size);
    put(ctx, "file.bin", &bytes)?;
    put(ctx, "page.html", b"<p>after head</p>\n")?;
    let h = host(ctx);
    let mut c = client(ctx)?;
    let head_req = Request::new("HEAD", "/file.bin", &h, &[]);
    let r = c.exchange(&head_req)?;
    expect_status(&r, &[200], &head_req)?;
    if r.header("content-length") != Some(&size.to_string()) {
        return Err(
            Failure::new("HEAD must announce the Content-Length a GET would have")
                .expected(format!("Content-Length: {size}"))
                .got(r.head_text())
                .into(),
        );
    }
    expect_type(&r, site::types::OCTET, &head_req)?;
    // Whatever follows must be the next response, not a body.
    let reproduce = format!(
        "curl -v --head http://127.0.0.1:{}/file.bin   (curl warns if a body follows)",
        ctx.reproduce_port
    );
    if r.closes() {
        c.expect_close("after the response to HEAD")
            .map_err(|e| e.reproduce(reproduce))?;
        return Ok(());
    }
    let next = Request::get("/page.html", &h);
    let r2 = c.exchange(&next).map_err(|e| {
        e.detail("The response to HEAD has headers only: its Content-Length describes the body a GET would get, but no body is sent.")
            .reproduce(reproduce)
    })?;
    expect_ok_body(&r2, b"<p>after head</p>\n", &next)?;
    head_errors(ctx, &h)
}

/// Error answers to HEAD have no body either (RFC 9110 §9.3.2: a response to HEAD never
/// has content, whatever its status), including the answers that end the connection.
///
/// The HTTP/3.0 request may also be answered as HTTP/1.1 (see [`version_not_supported`]):
/// a 200, with no body either.
fn head_errors(ctx: &mut Ctx, h: &str) -> ProbeResult {
    let missing = format!("/missing-{}.bin", ctx.rng.token(8));
    let long = format!("/{}", "a".repeat(9000));
    // Each request with the statuses it may get (which one is the business of other tests;
    // this one is about bodies): the HTTP/3.0 request may be refused (505, or 400) or
    // answered as HTTP/1.1 (200); the long target refused as a long line (414) or head
    // (431, 400), or looked up by a server whose limit is longer (404).
    let requests: [(Request, &[u16]); 3] = [
        (Request::new("HEAD", &missing, h, &[]), &[404]),
        (
            Request::with_version("HEAD", "/file.bin", "HTTP/3.0", Some(h), &[]),
            &[505, 400, 200],
        ),
        (Request::new("HEAD", &long, h, &[]), &[414, 431, 400, 404]),
    ];
    for (req, statuses) in &requests {
        let mut c = client(ctx)?;
        let r = c.exchange(req)?;
        expect_status(&r, statuses, req)?;
        let nobody = |e: Failure| {
            let what = if r.status == 200 {
                "an answer as HTTP/1.1".to_string()
            } else {
                format!("an error ({} {})", r.status, r.reason)
            };
            e.detail(format!(
                "The answer to {} is {what}, and still an answer to HEAD: headers only, no body.",
                req.describe()
            ))
        };
        if r.closes() || !matches!(r.status, 200 | 404) {
            // The server may close after refusing a request; nothing may come before.
            c.expect_close(&format!("after the {} answer to HEAD", r.status))
                .map_err(nobody)?;
        } else {
            let next = Request::get("/page.html", h);
            let r2 = c.exchange(&next).map_err(nobody)?;
            expect_ok_body(&r2, b"<p>after head</p>\n", &next)?;
        }
    }
    Ok(())
}

/// Methods other than GET and HEAD get 405 or 501, and the connection stays usable.
pub fn methods(ctx: &mut Ctx) -> ProbeResult {
    put(ctx, "index.html", b"<p>index</p>\n")?;
    let h = host(ctx);
    let body = ctx.rng.token(24);
    let len = body.len().to_string();
    let mut post = Request::new(
        "POST",
        "/index.html",
        &h,
        &[("Content-Type", "text/plain"), ("Content-Length", &len)],
    );
    post.bytes.extend_from_slice(body.as_bytes());
    let requests = [
        post,
        Request::new("DELETE", "/index.html", &h, &[]),
        Request::new("PUT", "/index.html", &h, &[("Content-Length", "0")]),
        Request::new("BREW", "/index.html", &h, &[]),
    ];
    let mut f = Fetcher::new();
    for req in &requests {
        let r = f.fetch(ctx, req)?;
        if req.method == "POST" && (200..300).contains(&r.status) {
            // Stricter than the RFC, on purpose; the handout says so too.
            return Err(Failure::new(format!(
                "{} got status {} ({}), expected 405 or 501",
                req.describe(),
                r.status,
                r.reason
            ))
            .expected("405 Method Not Allowed (with `Allow: GET, HEAD`)")
            .got(r.head_text())
            .detail(
                "RFC 9110 §9.3.3 lets each resource decide what POST does, so answering it with \
                 the file (as lighttpd and Apache's default handler do) is also allowed. This \
                 lab asks for 405 because a file server does nothing with what was posted: a \
                 success tells the client (and the person who filled in the form) that the data \
                 was taken, when it was thrown away.",
            )
            .into());
        }
        expect_status(&r, &[405, 501], req)?;
        if r.status == 405 {
            if let Some(allow) = r.header("allow") {
                if !allow.contains("GET") {
                    return Err(Failure::new("the Allow header of a 405 does not list GET")
                        .got(r.head_text())
                        .into());
                }
            }
        }
        // The connection must still work: the POST body must have been read, not left
        // to be taken for the next request.
        let get = Request::get("/index.html", &h);
        let r = f.fetch(ctx, &get).map_err(|e| {
            e.detail(format!(
                "This GET followed {} on the same connection. A request body that is not \
                 read stays in the stream and is taken for the next request.",
                req.describe()
            ))
        })?;
        expect_ok_body(&r, b"<p>index</p>\n", &get)?;
    }
    Ok(())
}

/// Parses an IMF-fixdate, the only form a server may send (RFC 9110 §5.6.7): the
/// obsolete forms `httpdate` also reads are refused by formatting the time back.
fn parse_http_date(s: &str) -> Option<SystemTime> {
    let t = httpdate::parse_http_date(s).ok()?;
    (httpdate::fmt_http_date(t) == s).then_some(t)
}

/// Formats an IMF-fixdate (whole seconds).
fn format_http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_imf_fixdates_are_accepted_as_a_servers_date() {
        let t = parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").expect("IMF-fixdate");
        assert_eq!(format_http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        // The obsolete forms a recipient must read, but a server must not send.
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), None);
        // A wrong weekday, a single-digit day, local time: not the fixed form.
        assert_eq!(parse_http_date("Mon, 06 Nov 1994 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 6 Nov 1994 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 CET"), None);
    }
}
