//! The demo site: a small website written into the test's root, as a browser would see it.
//!
//! [`write()`] creates an HTML page that references a stylesheet, a script, images (PNG, GIF,
//! SVG, an ICO favicon), and links to files in nested directories, one of them with spaces
//! in its name. Contents are random (from the test's seed), so nothing can be hard-coded,
//! and the images are real, decodable images, so that a real browser can display them.
//!
//! The page also carries a small script that, once the page has loaded, checks every
//! resource: each image decoded, the stylesheet applied, the script ran, and every file's
//! bytes (fetched again with a synchronous XMLHttpRequest) have the expected length and
//! FNV-1a hash. It writes `RESULT: PASS n/n` or `RESULT: FAIL …` into the page, which the
//! project's headless-Chromium test reads back with `--dump-dom`. The grader's own probe
//! does not run the script: it fetches everything itself and compares bytes.

use std::path::Path;

use crate::rng::Rng;
use crate::zip::crc32;

/// One file of the site.
#[derive(Debug, Clone)]
pub struct Resource {
    /// The URL path, percent-encoded, starting with `/`.
    pub url: String,
    /// The path below the root, as written to disk.
    pub file: String,
    /// The contents.
    pub bytes: Vec<u8>,
    /// Acceptable media types for `Content-Type` (without parameters).
    pub types: &'static [&'static str],
}

/// The site: its index page first, then every resource it references.
#[derive(Debug, Clone)]
pub struct Site {
    /// All files, `/` (the index page) first.
    pub resources: Vec<Resource>,
}

/// Media types accepted for each kind of file (several where servers legitimately differ).
pub mod types {
    /// HTML.
    pub const HTML: &[&str] = &["text/html"];
    /// CSS.
    pub const CSS: &[&str] = &["text/css"];
    /// JavaScript (RFC 9239 prefers text/javascript; application/javascript is common).
    pub const JS: &[&str] = &["text/javascript", "application/javascript"];
    /// JSON.
    pub const JSON: &[&str] = &["application/json"];
    /// Plain text.
    pub const TXT: &[&str] = &["text/plain"];
    /// PNG.
    pub const PNG: &[&str] = &["image/png"];
    /// JPEG.
    pub const JPG: &[&str] = &["image/jpeg"];
    /// GIF.
    pub const GIF: &[&str] = &["image/gif"];
    /// SVG.
    pub const SVG: &[&str] = &["image/svg+xml"];
    /// ICO (the IANA name and the common one).
    pub const ICO: &[&str] = &["image/x-icon", "image/vnd.microsoft.icon"];
    /// PDF.
    pub const PDF: &[&str] = &["application/pdf"];
    /// WebAssembly.
    pub const WASM: &[&str] = &["application/wasm"];
    /// Anything else.
    pub const OCTET: &[&str] = &["application/octet-stream"];
}

/// Writes the demo site below `root` and returns what it wrote.
///
/// # Errors
/// If a file cannot be written.
pub fn write(root: &Path, rng: &mut Rng) -> std::io::Result<Site> {
    let color = format!("#{}", rng.token(6));
    let mut res: Vec<Resource> = Vec::new();
    let mut add = |url: &str, file: &str, bytes: Vec<u8>, types: &'static [&'static str]| {
        res.push(Resource {
            url: url.to_string(),
            file: file.to_string(),
            bytes,
            types,
        });
    };
    let css = format!(
        "/* demo site {} */\nbody {{ color: rgb(1, 2, 3); font-family: sans-serif; }}\n\
         h1 {{ border-bottom: 2px solid {color}; }}\n",
        rng.token(16)
    );
    add(
        "/css/style.css",
        "css/style.css",
        css.into_bytes(),
        types::CSS,
    );
    let js = format!(
        "// demo site {}\nwindow.appLoaded = true;\ndocument.addEventListener('DOMContentLoaded', \
         function () {{ document.body.setAttribute('data-app', 'ran'); }});\n",
        rng.token(16)
    );
    add("/js/app.js", "js/app.js", js.into_bytes(), types::JS);
    add(
        "/images/logo.png",
        "images/logo.png",
        png(rng, 24, 16),
        types::PNG,
    );
    add("/images/dot.gif", "images/dot.gif", gif(rng), types::GIF);
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"16\" height=\"16\">\
         <rect width=\"16\" height=\"16\" fill=\"{color}\"/></svg>\n"
    );
    add(
        "/images/icon.svg",
        "images/icon.svg",
        svg.into_bytes(),
        types::SVG,
    );
    add("/favicon.ico", "favicon.ico", ico(rng), types::ICO);
    let photo_len = rng.range(40_000, 300_000);
    add(
        "/photos/summer%20holiday%20photo.jpg",
        "photos/summer holiday photo.jpg",
        with_magic(b"\xff\xd8\xff\xe0", rng.bytes(photo_len)),
        types::JPG,
    );
    let notes = format!("Notes {}\nwith spaces in the file name\n", rng.token(24));
    add(
        "/docs/read%20me%20first.txt",
        "docs/read me first.txt",
        notes.into_bytes(),
        types::TXT,
    );
    let json = format!("{{\"site\": \"demo\", \"token\": \"{}\"}}\n", rng.token(20));
    add(
        "/data/info.json",
        "data/info.json",
        json.into_bytes(),
        types::JSON,
    );
    let pdf_len = rng.range(5_000, 60_000);
    add(
        "/files/report.pdf",
        "files/report.pdf",
        with_magic(b"%PDF-1.4\n", rng.bytes(pdf_len)),
        types::PDF,
    );
    let wasm_len = rng.range(1_000, 20_000);
    add(
        "/lib/module.wasm",
        "lib/module.wasm",
        with_magic(b"\0asm\x01\0\0\0", rng.bytes(wasm_len)),
        types::WASM,
    );
    let blob_len = rng.range(100_000, 700_000);
    add(
        "/files/blob.dat",
        "files/blob.dat",
        rng.bytes(blob_len),
        types::OCTET,
    );
    let page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Nested {}</title>\n\
         <link rel=\"stylesheet\" href=\"../../css/style.css\"></head>\n\
         <body><p>A page two directories down. <a href=\"../../\">Home</a></p>\n\
         <img src=\"../../images/logo.png\" alt=\"logo\"></body></html>\n",
        rng.token(8)
    );
    add(
        "/nested/deeper/page.html",
        "nested/deeper/page.html",
        page.into_bytes(),
        types::HTML,
    );

    let index = index_page(&res, rng);
    res.insert(
        0,
        Resource {
            url: "/".into(),
            file: "index.html".into(),
            bytes: index.into_bytes(),
            types: types::HTML,
        },
    );
    for r in &res {
        let path = root.join(&r.file);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, &r.bytes)?;
    }
    Ok(Site { resources: res })
}

fn with_magic(magic: &[u8], mut rest: Vec<u8>) -> Vec<u8> {
    rest.splice(0..magic.len().min(rest.len()), magic.iter().copied());
    rest
}

/// The index page: references every resource, and checks them all once loaded.
fn index_page(res: &[Resource], rng: &mut Rng) -> String {
    let checks: Vec<String> = res
        .iter()
        .map(|r| {
            format!(
                "[\"{}\", {}, {}]",
                r.url.trim_start_matches('/'),
                r.bytes.len(),
                fnv1a(&r.bytes)
            )
        })
        .collect();
    let links: String = res
        .iter()
        .filter(|r| !r.url.starts_with("/css") && !r.url.starts_with("/js"))
        .map(|r| {
            format!(
                "<li><a href=\"{}\">{}</a></li>\n",
                r.url.trim_start_matches('/'),
                r.file
            )
        })
        .collect();
    format!(
        r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>netlabs demo site {token}</title>
<link rel="stylesheet" href="css/style.css">
<link rel="icon" href="favicon.ico">
<script src="js/app.js"></script>
</head>
<body>
<h1>Demo site</h1>
<p>Images: <img src="images/logo.png" alt="logo"> <img src="images/dot.gif" alt="dot">
<img src="images/icon.svg" alt="icon"> <img src="favicon.ico" alt="favicon"></p>
<ul>
{links}</ul>
<pre id="result">RESULT: PENDING</pre>
<script>
// Checks every resource once the page has loaded (see the autograder's probe/http/site.rs).
var files = [{checks}];
function fnv1a(s) {{
  var h = 0x811c9dc5;
  for (var i = 0; i < s.length; i++) {{ h ^= s.charCodeAt(i) & 0xff; h = Math.imul(h, 0x01000193) >>> 0; }}
  return h >>> 0;
}}
window.addEventListener('load', function () {{
  var problems = [];
  var images = document.images;
  for (var i = 0; i < images.length; i++) {{
    if (!images[i].complete || images[i].naturalWidth === 0) problems.push('image did not load: ' + images[i].getAttribute('src'));
  }}
  if (getComputedStyle(document.body).color !== 'rgb(1, 2, 3)') problems.push('stylesheet not applied');
  if (window.appLoaded !== true) problems.push('script did not run');
  for (var j = 0; j < files.length; j++) {{
    var f = files[j];
    var x = new XMLHttpRequest();
    x.open('GET', f[0] === '' ? './' : f[0], false);
    x.overrideMimeType('text/plain; charset=x-user-defined');
    try {{ x.send(); }} catch (e) {{ problems.push(f[0] + ': ' + e); continue; }}
    if (x.status !== 200) {{ problems.push(f[0] + ': status ' + x.status); continue; }}
    var body = x.responseText;
    if (body.length !== f[1] || fnv1a(body) !== f[2]) problems.push(f[0] + ': ' + body.length + ' bytes, expected ' + f[1] + ' (or content differs)');
  }}
  document.getElementById('result').textContent = problems.length === 0
    ? 'RESULT: PASS ' + files.length + '/' + files.length
    : 'RESULT: FAIL ' + problems.join('; ');
}});
</script>
</body></html>
"#,
        token = rng.token(8),
        checks = checks.join(", "),
    )
}

/// 32-bit FNV-1a, the hash the page's script computes.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// A valid RGBA PNG of `w`×`h` random pixels (uncompressed deflate blocks: valid and
/// simple).
pub fn png(rng: &mut Rng, w: u32, h: u32) -> Vec<u8> {
    let mut raw = Vec::with_capacity((h * (w * 4 + 1)) as usize);
    for _ in 0..h {
        raw.push(0u8); // each row starts with its filter type: none
        let row: Vec<u8> = (0..w)
            .flat_map(|_| {
                let px = rng.bytes(3);
                [px[0], px[1], px[2], 255]
            })
            .collect();
        raw.extend_from_slice(&row);
    }
    // zlib: header, stored blocks of at most 65535 bytes, Adler-32.
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    z.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]); // 8 bits, RGBA, deflate, no filter, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z);
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in bytes {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

/// A valid 1×1 GIF with a random colour and a random comment.
fn gif(rng: &mut Rng) -> Vec<u8> {
    let mut out = b"GIF89a\x01\x00\x01\x00\x80\x00\x00".to_vec();
    out.extend_from_slice(&rng.bytes(3)); // colour 0
    out.extend_from_slice(&[0, 0, 0]); // colour 1
    let comment = rng.token(32);
    out.extend_from_slice(&[0x21, 0xfe, comment.len() as u8]);
    out.extend_from_slice(comment.as_bytes());
    out.push(0);
    out.extend_from_slice(b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00\x3b");
    out
}

/// A valid ICO holding one 16×16 PNG image.
fn ico(rng: &mut Rng) -> Vec<u8> {
    let image = png(rng, 16, 16);
    let mut out = vec![0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0];
    out.extend_from_slice(&(image.len() as u32).to_le_bytes());
    out.extend_from_slice(&22u32.to_le_bytes());
    out.extend_from_slice(&image);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_known_values() {
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
    }
}
