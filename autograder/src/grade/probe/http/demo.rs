//! The demo site: what a browser loading a real site (or a proxy in front of it) does,
//! over six keep-alive connections at once.

use super::*;

/// Loads the demo site as a browser does: the page, then everything it references over
/// six parallel keep-alive connections, all byte-exact with the right types.
pub fn demo_site(ctx: &mut Ctx) -> ProbeResult {
    let site = site::write(&ctx.root, &mut ctx.rng)
        .map_err(|e| Failure::new(format!("the grader could not write the demo site: {e}")))?;
    let h = host(ctx);
    let cookie = format!("session={}", ctx.rng.token(16));
    // `lowercase`: header names as a proxy in front of the server may send them (Envoy,
    // for one, lowercases every name on HTTP/1.1); names are case-insensitive.
    let browser_request = |target: &str, accept: &str, lowercase: bool| -> Request {
        let referer = format!("http://{h}/");
        let headers = [
            ("Host", h.as_str()),
            ("Connection", "keep-alive"),
            ("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 netlabs-autograder"),
            ("Accept", accept),
            ("Accept-Language", "en-US,en;q=0.9"),
            ("Cache-Control", "no-cache"),
            ("Pragma", "no-cache"),
            ("Referer", &referer),
            ("Sec-Fetch-Mode", "no-cors"),
            ("Cookie", &cookie),
        ];
        let mut text = format!("GET {target} HTTP/1.1\r\n");
        for (name, value) in headers {
            let name = if lowercase {
                name.to_ascii_lowercase()
            } else {
                name.to_string()
            };
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("\r\n");
        Request::raw("GET", target, text.into_bytes())
    };
    let index = &site.resources[0];
    let mut first = Fetcher::new();
    let req = browser_request(
        "/",
        "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        false,
    );
    let r = first.fetch(ctx, &req)?;
    expect_ok_body(&r, &index.bytes, &req)?;
    expect_type(&r, index.types, &req)?;
    // The rest over six connections (the first one reused), each fetching its share in
    // order, all six at the same time.
    let mut lanes: Vec<Vec<site::Resource>> = vec![Vec::new(); 6];
    for (i, res) in site.resources[1..].iter().enumerate() {
        lanes[i % 6].push(res.clone());
    }
    let mut fetchers = vec![first];
    for _ in 1..6 {
        let mut f = Fetcher::new();
        f.client = Some(client(ctx)?);
        fetchers.push(f);
    }
    let mut handles = Vec::new();
    for (i, (lane, mut f)) in lanes.into_iter().zip(fetchers).enumerate() {
        // Every other connection comes through a proxy that lowercases header names.
        let lowercase = i % 2 == 1;
        // Patient, like a browser: this test is about what arrives, not how fast (the
        // concurrency tests check that). A server that serves one connection at a time
        // still completes here, one keep-alive timeout per connection.
        f.patience = Some(Duration::from_secs(40));
        let requests: Vec<(Request, site::Resource)> = lane
            .into_iter()
            .map(|res| (browser_request(&res.url, "*/*", lowercase), res))
            .collect();
        // Each lane reconnects through a context of its own if the server closes.
        let mut lane_ctx = Ctx::new(
            &crate::os::harness::Placeholders {
                host: ctx.host.clone(),
                port: ctx.port,
                root: ctx.root.clone(),
            },
            ctx.program.clone(),
            ctx.reproduce_port,
            ctx.rng.fork(),
            ctx.remaining(),
        );
        lane_ctx.transcript = ctx.transcript.clone();
        handles.push(thread::spawn(move || -> Result<(), Failure> {
            let through_proxy = |e: Failure| {
                if !lowercase {
                    return e;
                }
                e.detail("This connection's requests name their headers in lowercase (`host:`, `connection:`), as a proxy such as Envoy sends them: header names are case-insensitive (RFC 9110 §5.1).")
            };
            for (req, res) in requests {
                let r = f.fetch(&mut lane_ctx, &req).map_err(through_proxy)?;
                expect_ok_body(&r, &res.bytes, &req).map_err(through_proxy)?;
                expect_type(&r, res.types, &req).map_err(through_proxy)?;
            }
            Ok(())
        }));
    }
    for handle in handles {
        handle
            .join()
            .unwrap_or_else(|_| Err(Failure::new("a fetching thread of the grader panicked")))
            .map_err(|e| {
                e.detail("The demo site: index.html, then its CSS, JS, images (png, gif, svg, ico), a jpg and a txt file with spaces in their names, json, pdf, wasm, an unknown type, a page two directories down; fetched over six keep-alive connections at once.")
                    .reproduce(format!("open http://127.0.0.1:{}/ in a browser with the developer tools' Network tab open", ctx.reproduce_port))
            })?;
    }
    Ok(())
}
