//! The HTML reports, read as people read them: a mixed class's `report.html` and its
//! students' `feedback.html` pages, rendered by headless Chromium (the DOM after the
//! page's own script ran, and screenshots) and parsed by html5lib in strict mode.
//!
//! One batch grades the class once (a full-marks program, the untouched stub, a buggy
//! program, one that does not compile, and one whose output and bytes are hostile HTML),
//! and every test below reads what it wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use autograder::grade::report::escape::url_segment;

use crate::batch::{binary_submission, cargo_package, grades, run_script};
use crate::support::*;

/// The folder name of the hostile submission: markup, a quote, an ampersand, a space and
/// a `#`, which a link must percent-encode and a page must escape.
const HOSTILE: &str = "o'hostile <img src=x onerror=alert(1)> & #1";

/// What the hostile program prints, and what its server answers every client.
const HOSTILE_OUTPUT: &str = "</script><script>alert(2)</script><img src=x onerror=alert(3)>";

/// The graded class: where the batch wrote its reports.
struct Class {
    out: PathBuf,
    /// Scratch for the browsers' profiles and screenshots.
    scratch: PathBuf,
}

/// Grades the class once per test run (under the target directory, replaced each run).
fn class() -> &'static Class {
    static CLASS: OnceLock<Class> = OnceLock::new();
    CLASS.get_or_init(|| {
        let root = target_dir().join("netlabs-tests").join("report");
        let _ = std::fs::remove_dir_all(&root);
        let (class, out, scratch) = (root.join("class"), root.join("out"), root.join("scratch"));
        std::fs::create_dir_all(&scratch).unwrap();
        binary_submission(&class, "full", &package_bin("lab1-solution"), "server", &[]);
        cargo_package(&class, "stub", "labs/lab1");
        binary_submission(
            &class,
            "buggy",
            &corpus_rust("lab1/drops_tail.rs"),
            "server",
            &[],
        );
        let broken = cargo_package(&class, "does-not-compile", "labs/lab1");
        std::fs::write(
            broken.join("src/main.rs"),
            "fn main() { let x: u32 = \"not a number\"; }\n",
        )
        .unwrap();
        // Prints markup, then serves it to every client instead of an echo.
        run_script(
            &class,
            HOSTILE,
            &format!(
                "echo '{HOSTILE_OUTPUT}' >&2\n\
                 exec /usr/bin/python3 -c '\n\
                 import socket, sys\n\
                 s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
                 s.bind((\"127.0.0.1\", int(sys.argv[2]))); s.listen()\n\
                 while True:\n\
                 \x20   c, _ = s.accept(); c.recv(65536)\n\
                 \x20   c.sendall(sys.argv[3].encode()); c.close()\n' \"$@\" '{HOSTILE_OUTPUT}'"
            ),
        );
        autograder()
            .args(["batch", "lab1"])
            .arg(&class)
            .arg("--out")
            .arg(&out)
            .args(["--jobs", "2", "--only", "echo-short,half-close-flush"])
            .args(["--startup-limit", "5", "--offline", "--unsandboxed"])
            .success();
        Class { out, scratch }
    })
}

/// The browser, if one is installed (under CI, one must be).
fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new("sh")
                .args(["-c", &format!("command -v {b}")])
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Chromium is required under CI but is not installed"
        );
        eprintln!("skipped: Chromium is not installed");
    }
    found
}

/// Runs headless Chromium on `page` (a file, with `fragment` after `#` if given) with
/// `what` (`--dump-dom`, or `--screenshot=FILE`), and returns its standard output.
fn browse(browser: &str, page: &Path, fragment: &str, what: &str) -> String {
    let profile = tempfile::tempdir_in(&class().scratch).unwrap();
    // Each segment percent-encoded: a student folder may hold a `#` or a space.
    let mut url = String::from("file://");
    for part in page.components().skip(1) {
        url.push('/');
        url.push_str(&url_segment(&part.as_os_str().to_string_lossy()));
    }
    if !fragment.is_empty() {
        url.push('#');
        url.push_str(fragment);
    }
    let output = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,1600",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(what)
        .arg(&url)
        .success();
    output.stdout()
}

/// The page's DOM after its script ran.
fn dom(browser: &str, page: &Path, fragment: &str) -> String {
    browse(browser, page, fragment, "--dump-dom")
}

/// The students of the table, top to bottom, as the DOM has them.
fn student_order(dom: &str) -> Vec<String> {
    dom.split("<tr data-order=")
        .skip(1)
        .map(|row| {
            let name = row.split("data-student=\"").nth(1).unwrap();
            unescape(&name[..name.find('"').unwrap()])
        })
        .collect()
}

/// Undoes the five escapes of HTML text (what the pages write and a browser serialises).
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Undoes a link's percent-encoding.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Every `href` in `html`, unescaped.
fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .map(|h| unescape(&h[..h.find('"').unwrap()]))
        .collect()
}

/// The students' folders, as `grades.csv` lists them.
fn students() -> Vec<String> {
    grades(&class().out).1.into_keys().collect()
}

#[test]
fn the_class_report_shows_the_classs_counts_rates_and_diagnoses() {
    let Some(browser) = chromium() else { return };
    let out = &class().out;
    let (csv, rows) = grades(out);
    let expected: BTreeMap<String, String> = [
        ("buggy", "5,15,5,0"),
        ("does-not-compile", "0,15,0,0"),
        ("full", "15,15,5,10"),
        (HOSTILE, "0,15,0,0"),
        ("stub", "0,15,0,0"),
    ]
    .into_iter()
    .map(|(s, g)| (s.to_string(), g.to_string()))
    .collect();
    assert_eq!(rows, expected, "{csv}");
    let dom = dom(browser, &out.join("report.html"), "");
    // A row per student, in name order as written.
    assert_eq!(student_order(&dom), students(), "{dom}");
    assert!(dom.contains("<strong>1</strong> full marks, <strong>1</strong> partial, <strong>3</strong> zero; did not build: 1."), "{dom}");
    // Pass rates: echo-short passed by the full and the buggy program, half-close-flush
    // by the full one only.
    for (test, passed) in [("echo-short", "2 of 5"), ("half-close-flush", "1 of 5")] {
        let row = dom
            .split(&format!("<tr data-test=\"{test}\">"))
            .nth(1)
            .unwrap();
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(row.contains(&format!(">{passed}<")), "{test}: {row}");
    }
    // The distribution: three zeros, one third, one full.
    for (bin, count) in [(0, 3), (3, 1), (10, 1), (5, 0)] {
        assert!(
            dom.contains(&format!("data-bin=\"{bin}\" data-count=\"{count}\"")),
            "bin {bin}: {dom}"
        );
    }
    // The diagnoses: the buggy program stopped at a line end; the program that did not
    // build is no diagnosis.
    let diagnoses = dom.split("<table class=\"diagnoses\">").nth(1).unwrap();
    let diagnoses = &diagnoses[..diagnoses.find("</table>").unwrap()];
    assert!(
        diagnoses
            .contains("<td class=\"diagnosis\">stopped at a line end</td><td class=\"num\">1</td>"),
        "{diagnoses}"
    );
    assert!(!diagnoses.contains("mismatched types"), "{diagnoses}");
}

#[test]
fn every_link_of_the_class_report_leads_to_an_existing_page() {
    let Some(browser) = chromium() else { return };
    let out = &class().out;
    let dom = dom(browser, &out.join("report.html"), "");
    let links: Vec<String> = hrefs(&dom)
        .into_iter()
        .filter(|h| !h.starts_with('#'))
        .collect();
    let expected: Vec<String> = students()
        .iter()
        .map(|s| format!("{s}/feedback.html"))
        .collect();
    let decoded: Vec<String> = links.iter().map(|l| percent_decode(l)).collect();
    assert_eq!(decoded, expected, "{links:?}");
    for (link, file) in links.iter().zip(&decoded) {
        assert!(out.join(file).is_file(), "{link} -> {file}");
        // And back: each feedback page links to the class report.
        let page = std::fs::read_to_string(out.join(file)).unwrap();
        let back: Vec<String> = hrefs(&page)
            .into_iter()
            .filter(|h| !h.starts_with('#'))
            .collect();
        assert_eq!(back, ["../report.html"], "{file}");
        // Its in-page links name sections that exist.
        for anchor in hrefs(&page).iter().filter_map(|h| h.strip_prefix('#')) {
            assert!(
                page.contains(&format!("id=\"{anchor}\"")),
                "{file}: #{anchor}"
            );
        }
    }
}

#[test]
fn a_click_on_a_header_sorts_the_students_by_that_column() {
    let Some(browser) = chromium() else { return };
    let report = class().out.join("report.html");
    // A click on a header sets the fragment its link names; the page's script sorts by
    // it (the fragment of a page loaded with one is applied the same way).
    let by_score = dom(browser, &report, "sort=score");
    assert_eq!(
        student_order(&by_score),
        ["does-not-compile", HOSTILE, "stub", "buggy", "full"],
        "equal scores keep the name order"
    );
    // Sorted ascending, the header now links to the other way.
    assert!(
        by_score.contains("aria-sort=\"ascending\"><a href=\"#sort=-score\">score</a>"),
        "{by_score}"
    );
    let by_score_down = dom(browser, &report, "sort=-score");
    assert_eq!(
        student_order(&by_score_down),
        ["full", "buggy", "does-not-compile", HOSTILE, "stub"]
    );
    let by_standing = dom(browser, &report, "sort=-standing");
    assert_eq!(student_order(&by_standing)[0], "does-not-compile");
    let by_test = dom(browser, &report, "sort=-t2");
    assert_eq!(student_order(&by_test)[0], "full");
    // Without the script (the file as written), the students are in name order.
    let written = std::fs::read_to_string(&report).unwrap();
    assert_eq!(student_order(&written), students());
}

#[test]
fn clicks_on_a_header_sort_and_reverse_the_table() {
    let Some(browser) = chromium() else { return };
    let class = class();
    // A page of the test's own holds the report in a frame, clicks the score header's
    // link twice, and writes the order the report's script left after each click (the
    // report's own listener runs first: it was registered first).
    let clicker = class.scratch.join("click.html");
    let report = class.out.join("report.html");
    std::fs::write(
        &clicker,
        format!(
            "<!DOCTYPE html><html><head><title>click</title></head><body><pre id=\"out\">waiting</pre>\n\
             <iframe id=\"report\" src=\"file://{}\"></iframe>\n<script>\n\
             var frame = document.getElementById('report'), orders = [];\n\
             frame.onload = function () {{\n\
               var doc = frame.contentDocument, link = doc.querySelector('th[data-key=score] a');\n\
               frame.contentWindow.addEventListener('hashchange', function () {{\n\
                 orders.push(Array.prototype.map.call(doc.querySelectorAll('#student-table tbody tr'),\n\
                   function (row) {{ return row.getAttribute('data-student'); }}));\n\
                 document.getElementById('out').textContent = JSON.stringify(orders);\n\
                 if (orders.length === 1) {{ link.click(); }}\n\
               }});\n\
               link.click();\n\
             }};\n</script></body></html>\n",
            report.display()
        ),
    )
    .unwrap();
    let dom = {
        let profile = tempfile::tempdir_in(&class.scratch).unwrap();
        Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
            ])
            // File pages may reach each other only with this (the frame's document).
            .arg("--allow-file-access-from-files")
            // Runs the page's pending work (the clicks' hash changes) before the dump.
            .arg("--virtual-time-budget=10000")
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("--dump-dom")
            .arg(format!("file://{}", clicker.display()))
            .success()
            .stdout()
    };
    let json = dom.split("<pre id=\"out\">").nth(1).unwrap();
    let json = unescape(&json[..json.find("</pre>").unwrap()]);
    let orders: Vec<Vec<String>> =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {dom}"));
    assert_eq!(
        orders,
        [
            vec!["does-not-compile", HOSTILE, "stub", "buggy", "full"],
            vec!["full", "buggy", "does-not-compile", HOSTILE, "stub"],
        ]
    );
}

#[test]
fn every_page_is_valid_html() {
    if !require_tool("python3") {
        return;
    }
    let out = &class().out;
    let mut pages = vec![out.join("report.html")];
    pages.extend(students().iter().map(|s| out.join(s).join("feedback.html")));
    valid_html(&pages);
}

/// Parses each of `pages` with html5lib in strict mode: the first parse error of any kind
/// fails, with its position. Skips without html5lib (outside CI).
fn valid_html(pages: &[PathBuf]) {
    let has_html5lib = Command::new("python3")
        .args(["-c", "import html5lib"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_html5lib {
        assert!(
            std::env::var_os("CI").is_none(),
            "html5lib is required under CI (.ci/requirements.txt)"
        );
        eprintln!("skipped: the Python package html5lib is not installed");
        return;
    }
    // Strict: the first parse error of any kind fails, with its position.
    let check = "import sys, html5lib\n\
                 for path in sys.argv[1:]:\n\
                 \x20   parser = html5lib.HTMLParser(strict=True)\n\
                 \x20   try:\n\
                 \x20       parser.parse(open(path, 'rb'))\n\
                 \x20   except Exception as e:\n\
                 \x20       sys.exit(f'{path}: {e!r} {parser.errors[:3]}')\n";
    Command::new("python3")
        .args(["-c", check])
        .args(pages)
        .success();
}

/// The elements of `html` by tag name, and the attributes whose name starts with `on`
/// (event handlers), as a real parser (Python's `html.parser`) finds them.
fn elements(html: &str) -> (BTreeMap<String, usize>, Vec<String>) {
    let count = "import sys, html.parser, json\n\
                 tags, handlers = {}, []\n\
                 class P(html.parser.HTMLParser):\n\
                 \x20   def handle_starttag(self, tag, attrs):\n\
                 \x20       tags[tag] = tags.get(tag, 0) + 1\n\
                 \x20       handlers.extend(f'{tag} {k}' for k, _ in attrs if k.startswith('on'))\n\
                 P().feed(sys.stdin.read())\n\
                 print(json.dumps([tags, handlers]))\n";
    let mut child = Command::new("python3")
        .args(["-c", count])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(html.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn a_hostile_submissions_output_and_name_are_text_on_every_page() {
    let Some(browser) = chromium() else { return };
    if !require_tool("python3") {
        return;
    }
    let out = &class().out;
    let feedback = dom(browser, &out.join(HOSTILE).join("feedback.html"), "");
    // Its output and its bytes are there, as text: no element came of them.
    assert!(
        feedback.contains("&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;&lt;img src=x onerror=alert(3)&gt;"),
        "{feedback}"
    );
    let (tags, handlers) = elements(&feedback);
    assert_eq!(tags.get("img"), None, "{tags:?}");
    assert_eq!(tags.get("script"), None, "{tags:?}");
    assert!(handlers.is_empty(), "{handlers:?}");
    // Its bytes on the wire, in the sequence diagram.
    assert!(tags.get("svg").is_some_and(|&n| n >= 1), "{tags:?}");
    let report = dom(browser, &out.join("report.html"), "");
    let (tags, handlers) = elements(&report);
    assert_eq!(tags.get("img"), None, "{tags:?}");
    assert_eq!(tags.get("script"), Some(&1), "only the page's own script");
    assert!(handlers.is_empty(), "{handlers:?}");
    assert!(
        report.contains(">o'hostile &lt;img src=x onerror=alert(1)&gt; &amp; #1</a>"),
        "{report}"
    );
}

#[test]
fn the_pages_render_and_a_failing_exchange_is_drawn() {
    let Some(browser) = chromium() else { return };
    let class = class();
    // The buggy program's half-close test: its bytes, the client's FIN, and the box that
    // says what was expected where it stopped.
    let buggy = class.out.join("buggy/feedback.html");
    let dom = dom(browser, &buggy, "");
    let section = dom.split("id=\"test-half-close-flush\"").nth(1).unwrap();
    assert!(section.contains("<svg class=\"sequence\""), "{section}");
    assert!(section.contains("c1  FIN (half-close)"), "{section}");
    assert!(section.contains("class=\"sq-failure\""), "{section}");
    assert!(section.contains("expected: "), "{section}");
    assert!(section.contains(" ms</text>"), "{section}");
    let passed = dom.split("id=\"test-echo-short\"").nth(1).unwrap();
    let passed = &passed[..passed.find("</section>").unwrap()];
    assert!(
        !passed.contains("<svg"),
        "a passed test draws nothing: {passed}"
    );
    for (page, name) in [(class.out.join("report.html"), "report"), (buggy, "buggy")] {
        let png = class.scratch.join(format!("{name}.png"));
        browse(
            browser,
            &page,
            "",
            &format!("--screenshot={}", png.display()),
        );
        let image = std::fs::read(&png).unwrap();
        // A PNG of the window's size (IHDR: width and height, big-endian, at 16 and 20).
        assert!(image.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}");
        let size = |at: usize| u32::from_be_bytes(image[at..at + 4].try_into().unwrap());
        assert_eq!((size(16), size(20)), (1200, 1600), "{name}");
        assert!(
            image.len() > 20_000,
            "{name}: a blank page? {} bytes",
            image.len()
        );
    }
}

#[test]
fn grade_and_check_write_one_programs_feedback_page() {
    let tmp = tempfile::tempdir().unwrap();
    let graded = tmp.path().join("graded.html");
    autograder()
        .args([
            "grade",
            "lab1",
            "--only",
            "echo-short,half-close-flush",
            "--html",
        ])
        .arg(&graded)
        .arg("--")
        .arg(corpus_rust("lab1/drops_tail.rs"))
        .code(1);
    let page = std::fs::read_to_string(&graded).unwrap();
    assert!(page.contains("<strong>5/15 points</strong>"), "{page}");
    let flush = page.split("id=\"test-half-close-flush\"").nth(1).unwrap();
    assert!(flush.contains("<svg class=\"sequence\""), "{flush}");
    assert!(
        !page.contains("the class report"),
        "no class to link back to"
    );
    // `check`: the student's own lab (here the untouched stub).
    let checked = tmp.path().join("checked.html");
    autograder()
        .args(["check", "lab1", "--only", "echo-short", "--html"])
        .arg(&checked)
        .code(1);
    let page = std::fs::read_to_string(&checked).unwrap();
    assert!(page.contains("<strong>0/5 points</strong>"), "{page}");
    assert!(page.contains("id=\"test-echo-short\""), "{page}");
    // A page that could not be written is refused before anything runs.
    let refused = autograder()
        .args([
            "grade",
            "lab1",
            "--html",
            "/nonexistent/feedback.html",
            "--",
            "true",
        ])
        .code(2);
    assert!(refused.stderr().contains("does not exist"), "{refused}");
}

/// The client tests' pages draw the test server's record: the program is the client
/// lane, and the pages are valid HTML.
#[test]
fn a_client_tests_page_draws_the_test_servers_exchange() {
    if !require_tool("python3") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let echo = tmp.path().join("lab2.html");
    let ftp = tmp.path().join("lab4.html");
    for (lab, only, page, program) in [
        (
            "lab2",
            "client-mismatch",
            &echo,
            ["lab2/threaded_client.py", "no-compare"],
        ),
        (
            "lab4",
            "client-ls",
            &ftp,
            ["lab4/ftp_client.py", "ls-ignores-dir"],
        ),
    ] {
        autograder()
            .args([
                "grade",
                lab,
                "--only",
                only,
                "--seed",
                GOLDEN_SEED,
                "--html",
            ])
            .arg(page)
            .arg("--")
            .arg("python3")
            .arg(corpus(program[0]))
            .args(["--mistake", program[1]])
            .code(1);
        let html = std::fs::read_to_string(page).unwrap();
        let test = html.split(&format!("id=\"test-{only}\"")).nth(1).unwrap();
        assert!(test.contains("<svg class=\"sequence\""), "{test}");
        assert!(test.contains(">grader (test server)</text>"), "{test}");
        assert!(test.contains(">your program (client)</text>"), "{test}");
        assert!(test.contains("c1  connect (SYN)"), "{test}");
        assert!(!html.contains("does not record its side"), "{test}");
    }
    let echo_page = std::fs::read_to_string(&echo).unwrap();
    assert!(
        echo_page.contains("on purpose: altered byte"),
        "{echo_page}"
    );
    let ftp_page = std::fs::read_to_string(&ftp).unwrap();
    assert!(ftp_page.contains("d1  connect (SYN)"), "{ftp_page}");
    assert!(
        ftp_page.contains("c1  6 bytes  b&quot;LIST\\r\\n&quot;"),
        "{ftp_page}"
    );
    valid_html(&[echo, ftp]);
}

#[test]
fn only_naming_a_test_the_rubric_disables_is_refused_saying_so() {
    let tmp = tempfile::tempdir().unwrap();
    let rubric = tmp.path().join("rubric.toml");
    std::fs::write(&rubric, "[lab1.tests.echo-fragments]\nenabled = false\n").unwrap();
    let class = tmp.path().join("class");
    binary_submission(&class, "ada", &package_bin("lab1-solution"), "server", &[]);
    let out = tmp.path().join("out");
    for command in [
        vec!["grade", "lab1", "--only", "echo-short,echo-fragments"],
        vec!["check", "lab1", "--only", "echo-fragments"],
        vec!["export", "gradescope", "lab1", "--only", "echo-fragments"],
    ] {
        let mut cmd = autograder();
        cmd.args(&command).arg("--rubric").arg(&rubric);
        if command[0] == "export" {
            cmd.arg("--out").arg(tmp.path().join("bundle.zip"));
        }
        if command[0] == "grade" {
            cmd.args(["--", "true"]);
        }
        let refused = cmd.code(2);
        assert!(
            refused
                .stderr()
                .contains("`echo-fragments` is disabled by the rubric file"),
            "{refused}"
        );
    }
    let refused = autograder()
        .args(["batch", "lab1"])
        .arg(&class)
        .arg("--out")
        .arg(&out)
        .args(["--only", "echo-fragments", "--offline", "--rubric"])
        .arg(&rubric)
        .code(2);
    assert!(
        refused.stderr().contains("disabled by the rubric file"),
        "{refused}"
    );
    assert!(!out.join("grades.csv").exists());
    assert!(!tmp.path().join("bundle.zip").exists());
}
