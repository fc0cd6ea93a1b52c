//! Directories, conditional and partial requests: index files, listings, the redirect
//! that adds a slash, `If-Modified-Since` and `Range`.

use super::*;

/// A directory with `index.html` serves it.
pub fn directory_index(ctx: &mut Ctx) -> ProbeResult {
    let top = format!("<p>top {}</p>\n", ctx.rng.token(12));
    let inner = format!("<p>inner {}</p>\n", ctx.rng.token(12));
    put(ctx, "index.html", top.as_bytes())?;
    put(ctx, "section/index.html", inner.as_bytes())?;
    let h = host(ctx);
    let mut f = Fetcher::new();
    for (t, body) in [("/", &top), ("/section/", &inner)] {
        let req = Request::get(t, &h);
        let r = f.fetch(ctx, &req).map_err(|e| e.reproduce(curl(ctx, t)))?;
        expect_ok_body(&r, body.as_bytes(), &req)?;
        expect_type(&r, site::types::HTML, &req)?;
    }
    Ok(())
}

/// A directory without `index.html` gets a listing whose links work.
pub fn directory_listing(ctx: &mut Ctx) -> ProbeResult {
    let names = [
        format!("alpha-{}.txt", ctx.rng.token(4)),
        format!("with space {}.txt", ctx.rng.token(4)),
    ];
    let mut bodies = Vec::new();
    for n in &names {
        let b = format!("{n} {}\n", ctx.rng.token(10));
        put(ctx, &format!("list/{n}"), b.as_bytes())?;
        bodies.push(b);
    }
    put(ctx, "list/subdir/x.txt", b"x")?;
    let h = host(ctx);
    let mut f = Fetcher::new();
    let req = Request::get("/list/", &h);
    let r = f
        .fetch(ctx, &req)
        .map_err(|e| e.reproduce(curl(ctx, "/list/")))?;
    expect_status(&r, &[200], &req)?;
    expect_type(&r, site::types::HTML, &req)?;
    let page = String::from_utf8_lossy(&r.body).to_string();
    let hrefs = extract_hrefs(&page);
    for (name, body) in names.iter().zip(&bodies) {
        let link = hrefs.iter().find(|href| {
            let decoded = percent_decode(href);
            decoded == *name || decoded.ends_with(&format!("/{name}"))
        });
        let Some(link) = link else {
            return Err(
                Failure::new(format!("the listing of /list/ has no link to `{name}`"))
                    .expected(format!(
                        "an <a href=\"…\"> whose target is {name} (percent-encoded)"
                    ))
                    .got(describe(&r.body))
                    .into(),
            );
        };
        let target = if link.starts_with('/') {
            link.clone()
        } else {
            format!("/list/{link}")
        };
        let req = Request::get(&target, &h);
        let r = f
            .fetch(ctx, &req)
            .map_err(|e| e.detail(format!("Following the listing's link `{link}`.")))?;
        expect_ok_body(&r, body.as_bytes(), &req)
            .map_err(|e| e.detail(format!("Following the listing's link `{link}`.")))?;
    }
    if !hrefs
        .iter()
        .any(|h| h.trim_end_matches('/').ends_with("subdir"))
    {
        return Err(
            Failure::new("the listing of /list/ has no link to its subdirectory `subdir`")
                .got(describe(&r.body))
                .into(),
        );
    }
    Ok(())
}

fn extract_hrefs(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = page;
    while let Some(i) = rest.find("href=") {
        rest = &rest[i + 5..];
        let quote = rest.chars().next().unwrap_or(' ');
        if quote == '"' || quote == '\'' {
            if let Some(end) = rest[1..].find(quote) {
                out.push(rest[1..1 + end].replace("&amp;", "&"));
            }
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

/// A directory without its trailing slash gets 301 to the slashed path.
pub fn directory_redirect(ctx: &mut Ctx) -> ProbeResult {
    let dir = format!("docs-{}", ctx.rng.token(5));
    put(ctx, &format!("{dir}/index.html"), b"<p>docs</p>\n")?;
    let h = host(ctx);
    let req = Request::get(&format!("/{dir}"), &h);
    let r = one_shot(ctx, &req).map_err(|e| e.reproduce(curl(ctx, &format!("/{dir}"))))?;
    expect_status(&r, &[301], &req)?;
    let want = format!("/{dir}/");
    let location = r.header("location").unwrap_or("");
    let path = match location.find("://") {
        Some(i) => location[i + 3..]
            .find('/')
            .map_or("", |p| &location[i + 3 + p..]),
        None => location,
    };
    if path != want {
        return Err(
            Failure::new("the redirect does not point to the path with a trailing slash")
                .expected(format!(
                    "Location: {want} (or an absolute URL with that path)"
                ))
                .got(r.head_text())
                .into(),
        );
    }
    Ok(())
}

/// `If-Modified-Since` with the file's own date gets 304; an older date gets 200.
pub fn if_modified_since(ctx: &mut Ctx) -> ProbeResult {
    let body = format!("cached {}\n", ctx.rng.token(20));
    let path = put(ctx, "c.txt", body.as_bytes())?;
    // A past modification time with a fraction of a second (file systems keep
    // nanoseconds, HTTP dates whole seconds), on a Friday or a Monday: its Last-Modified
    // then sorts before the older date below as text ("Fri, …" and "Mon, …" before
    // "Sat, …"), so a server that compares the dates as strings answers that one 304.
    let today = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400);
    let mut day = today.saturating_sub(ctx.rng.range(30, 900) as u64);
    // Day 0, 1 January 1970, was a Thursday: day % 7 is 1 on Fridays, 4 on Mondays.
    while day % 7 != 1 && day % 7 != 4 {
        day -= 1;
    }
    let mtime = SystemTime::UNIX_EPOCH
        + Duration::new(
            day * 86_400 + ctx.rng.range(0, 86_399) as u64,
            ctx.rng.range(1, 999_999_999) as u32,
        );
    set_modified(&path, mtime)?;
    let h = host(ctx);
    let mut f = Fetcher::new();
    let req = Request::get("/c.txt", &h);
    let r = f.fetch(ctx, &req)?;
    expect_ok_body(&r, body.as_bytes(), &req)?;
    let Some(lm) = r.header("last-modified").map(str::to_string) else {
        return Err(Failure::new(
            "no Last-Modified header: a client has no date to revalidate with",
        )
        .got(r.head_text())
        .into());
    };
    let req = Request::new("GET", "/c.txt", &h, &[("If-Modified-Since", &lm)]);
    let r = f.fetch(ctx, &req).map_err(|e| {
        e.detail("A 304 response has no body, whatever its headers say.")
            .reproduce(format!(
                "curl -v -H 'If-Modified-Since: {lm}' http://127.0.0.1:{}/c.txt",
                ctx.reproduce_port
            ))
    })?;
    expect_status(&r, &[304], &req).map_err(|e| {
        e.detail(format!(
            "If-Modified-Since was the file's own Last-Modified ({lm}): the file has not changed since. (Its time on disk has a fraction of a second, HTTP dates whole seconds only: compare at whole seconds.)"
        ))
    })?;
    let old = "Sat, 01 Jan 2000 00:00:00 GMT";
    let req = Request::new("GET", "/c.txt", &h, &[("If-Modified-Since", old)]);
    let r = f.fetch(ctx, &req)?;
    Ok(expect_ok_body(&r, body.as_bytes(), &req).map_err(|e| {
        e.detail(format!(
            "If-Modified-Since was {old}, long before the file's Last-Modified ({lm}): the file has changed since. Compare the dates as times, not as text."
        ))
    })?)
}

/// A single byte range gets 206 with `Content-Range`; an unsatisfiable one 416.
pub fn range(ctx: &mut Ctx) -> ProbeResult {
    let size = ctx.rng.range(5_000, 200_000);
    let bytes = ctx.rng.bytes(size);
    put(ctx, "r.bin", &bytes)?;
    let h = host(ctx);
    let a = ctx.rng.range(0, size / 2);
    let b = ctx.rng.range(a, size - 1);
    let n = ctx.rng.range(1, 1000);
    // An end at or past the end of the file means "to the end" (RFC 9110 §14.1.2), as
    // curl's `-r 1000-99999999` or a video player asking for more than is left.
    let c = ctx.rng.range(size / 2, size - 1);
    let past = size + ctx.rng.range(0, 100_000);
    let mut f = Fetcher::new();
    let cases = [
        (format!("bytes={a}-{b}"), a, b),
        (format!("bytes={a}-"), a, size - 1),
        (format!("bytes=-{n}"), size - n, size - 1),
        (format!("bytes={c}-{past}"), c, size - 1),
    ];
    let port = ctx.reproduce_port;
    for (spec, first, last) in &cases {
        let note = |e: Failure| {
            let e = e
                .detail(format!("Range: {spec}, for a {size}-byte file"))
                .reproduce(format!(
                    "curl -v -H 'Range: {spec}' http://127.0.0.1:{port}/r.bin -o part.bin"
                ));
            if !spec.ends_with(&format!("-{past}")) {
                return e;
            }
            e.detail(format!(
                "The range ends past the end of the file: it ends at the last byte, {}, and Content-Length counts only the bytes that exist.",
                size - 1
            ))
        };
        let req = Request::new("GET", "/r.bin", &h, &[("Range", spec)]);
        let r = f.fetch(ctx, &req).map_err(note)?;
        expect_status(&r, &[206], &req).map_err(note)?;
        let want_cr = format!("bytes {first}-{last}/{size}");
        if r.header("content-range") != Some(want_cr.as_str()) {
            return Err(note(
                Failure::new(format!("wrong Content-Range for Range: {spec}"))
                    .expected(format!("Content-Range: {want_cr}"))
                    .got(r.head_text()),
            )
            .into());
        }
        expect_body(&r, &bytes[*first..=*last], &req).map_err(note)?;
    }
    let spec = format!("bytes={}-", size + ctx.rng.range(1, 100));
    let req = Request::new("GET", "/r.bin", &h, &[("Range", &spec)]);
    let r = f.fetch(ctx, &req)?;
    expect_status(&r, &[416], &req).map_err(|e| {
        e.detail(format!(
            "Range: {spec} starts after the end of the {size}-byte file"
        ))
    })?;
    if r.header("content-range") != Some(format!("bytes */{size}").as_str()) {
        return Err(
            Failure::new("a 416 must say the file's size in Content-Range")
                .expected(format!("Content-Range: bytes */{size}"))
                .got(r.head_text())
                .detail("RFC 9110 §15.5.17 says a server SHOULD send it, not that it MUST (lighttpd and Apache leave it out). This lab asks for it because it is all a 416 can tell the client: the current size, from which it can ask again for a range that exists (a download resumed after the file shrank, say) without another round trip to learn it.")
                .into(),
        );
    }
    Ok(())
}
