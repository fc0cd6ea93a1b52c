//! A capture's I/O graph, in the style of Wireshark's (Statistics › I/O Graphs): for each
//! TCP connection, the payload bytes each side sent per 10 ms, with the events that
//! explain flow control and congestion marked where they happened: a zero window (a
//! receiver whose buffer is full: a client that stopped reading), the window update that
//! reopens it, a retransmission, FIN and RST.
//!
//! Read from the pcap file itself (`pcap-file`), headers parsed by `etherparse`: the
//! picture shows what the file holds, nothing the grader remembers otherwise. The numbers
//! drawn are also in the SVG as data attributes (`data-buckets`, `data-ms`), so a reader
//! (or a test) can check them against `tshark`.
//!
//! What counts as what, close to Wireshark's own rules (`tcp.analysis.*`):
//! - bytes: TCP payload, as sent (a retransmitted segment counts again, as on the wire);
//! - zero window: a segment advertising window 0 (not SYN, FIN or RST);
//! - window update: a segment without payload whose window is larger than its sender's
//!   previous segment's, acknowledging nothing new (not SYN, FIN or RST);
//! - retransmission: a segment with payload that ends at or before data its sender had
//!   already sent.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use anyhow::Context;
use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};

use crate::cmd::plot::{format_tick, nice_axis, y_grid, COLOURS};
use crate::grade::report::escape;

/// The graph's time step, as in Wireshark's default I/O graph.
pub const BUCKET_NS: u64 = 10_000_000;
/// Connections drawn one panel each; the rest share a last panel (a swarm test opens
/// hundreds).
const PANELS: usize = 12;

/// A TCP event worth marking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    /// The sender's receive window is full.
    ZeroWindow,
    /// The sender's receive window opened again.
    WindowUpdate,
    /// Data sent again.
    Retransmission,
    /// The sender finished sending.
    Fin,
    /// The sender reset the connection.
    Rst,
}

impl Event {
    /// Its short name on the graph (and in `data-kind`).
    pub fn label(self) -> &'static str {
        match self {
            Event::ZeroWindow => "zero-window",
            Event::WindowUpdate => "window-update",
            Event::Retransmission => "retransmission",
            Event::Fin => "FIN",
            Event::Rst => "RST",
        }
    }

    fn colour(self) -> &'static str {
        match self {
            Event::ZeroWindow => "#D00000",
            Event::WindowUpdate => "#009E73",
            Event::Retransmission => "#CC79A7",
            Event::Fin => "#000000",
            Event::Rst => "#E69F00",
        }
    }
}

/// One direction of a connection.
#[derive(Debug, Default)]
pub struct Flow {
    /// Payload bytes per bucket (bucket index: 10 ms steps from the capture's first frame).
    pub buckets: BTreeMap<u64, u64>,
    /// Events this side caused, at nanoseconds from the capture's first frame.
    pub events: Vec<(u64, Event)>,
    /// The end of the highest sequence number sent so far, and the last window and ack.
    highest_end: Option<u32>,
    last_window: Option<u16>,
    last_ack: Option<u32>,
}

/// One TCP connection: the side that opened it (sent the SYN; else the first seen) is the
/// client.
#[derive(Debug)]
pub struct Connection {
    /// The side that opened it.
    pub client: SocketAddr,
    /// The side it connected to.
    pub server: SocketAddr,
    /// What the client sent.
    pub sent: Flow,
    /// What the server sent.
    pub received: Flow,
}

/// Everything the graph shows.
#[derive(Debug, Default)]
pub struct Graph {
    /// Connections in order of their first frame.
    pub connections: Vec<Connection>,
    /// From the first frame to the last, in nanoseconds.
    pub span_ns: u64,
}

/// Reads the pcap file at `path` into its graph.
///
/// # Errors
/// When the file cannot be read or is not a pcap file.
pub fn read(path: &Path) -> anyhow::Result<Graph> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut reader = pcap_file::pcap::PcapReader::new(std::io::BufReader::new(file))
        .with_context(|| format!("{} is not a pcap file", path.display()))?;
    let mut graph = Graph::default();
    let mut first: Option<u64> = None;
    while let Some(packet) = reader.next_packet() {
        let packet = packet.with_context(|| format!("{} is damaged", path.display()))?;
        let at = packet.timestamp.as_nanos() as u64;
        let t0 = *first.get_or_insert(at);
        let since = at.saturating_sub(t0);
        graph.span_ns = graph.span_ns.max(since);
        // Lax: a frame cut short in the file (past the capture's per-test byte budget)
        // still has its headers, and its IP header still says how long it was. Frames
        // that are not TCP over IP (none on a quiet loopback) are not drawn.
        let Ok(sliced) = LaxSlicedPacket::from_ethernet(&packet.data) else {
            continue;
        };
        let (src, dst, ip_payload): (IpAddr, IpAddr, usize) = match &sliced.net {
            Some(LaxNetSlice::Ipv4(ip)) => {
                let h = ip.header();
                let ip_payload =
                    usize::from(h.total_len()).saturating_sub(4 * usize::from(h.ihl()));
                (
                    h.source_addr().into(),
                    h.destination_addr().into(),
                    ip_payload,
                )
            }
            Some(LaxNetSlice::Ipv6(ip)) => {
                let h = ip.header();
                (
                    h.source_addr().into(),
                    h.destination_addr().into(),
                    usize::from(h.payload_length()),
                )
            }
            _ => continue,
        };
        let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else {
            continue;
        };
        let from = SocketAddr::new(src, tcp.source_port());
        let to = SocketAddr::new(dst, tcp.destination_port());
        let index =
            match graph.connections.iter().position(|c| {
                (c.client, c.server) == (from, to) || (c.client, c.server) == (to, from)
            }) {
                Some(i) => i,
                None => {
                    // A SYN-ACK seen first means its receiver opened the connection.
                    let (client, server) = if tcp.syn() && tcp.ack() {
                        (to, from)
                    } else {
                        (from, to)
                    };
                    graph.connections.push(Connection {
                        client,
                        server,
                        sent: Flow::default(),
                        received: Flow::default(),
                    });
                    graph.connections.len() - 1
                }
            };
        let conn = &mut graph.connections[index];
        let flow = if conn.client == from {
            &mut conn.sent
        } else {
            &mut conn.received
        };
        let len = ip_payload.saturating_sub(4 * usize::from(tcp.data_offset())) as u32;
        flow.record(since, tcp, len);
    }
    Ok(graph)
}

impl Flow {
    fn record(&mut self, since: u64, tcp: &etherparse::TcpSlice<'_>, len: u32) {
        if len > 0 {
            *self.buckets.entry(since / BUCKET_NS).or_default() += u64::from(len);
        }
        let control = tcp.syn() || tcp.fin() || tcp.rst();
        let seq = tcp.sequence_number();
        let end = seq.wrapping_add(len);
        if len > 0 {
            // Sequence numbers wrap: "at or before" is a signed distance.
            if let Some(highest) = self.highest_end {
                if (end.wrapping_sub(highest) as i32) <= 0 {
                    self.events.push((since, Event::Retransmission));
                }
            }
        }
        if tcp.window_size() == 0 && !control {
            self.events.push((since, Event::ZeroWindow));
        } else if len == 0
            && !control
            && self.last_window.is_some_and(|w| tcp.window_size() > w)
            && self.last_ack == Some(tcp.acknowledgment_number())
        {
            self.events.push((since, Event::WindowUpdate));
        }
        if tcp.fin() {
            self.events.push((since, Event::Fin));
        }
        if tcp.rst() {
            self.events.push((since, Event::Rst));
        }
        let end = end.wrapping_add(u32::from(tcp.syn()) + u32::from(tcp.fin()));
        if self
            .highest_end
            .is_none_or(|h| (end.wrapping_sub(h) as i32) > 0)
        {
            self.highest_end = Some(end);
        }
        self.last_window = Some(tcp.window_size());
        if tcp.ack() {
            self.last_ack = Some(tcp.acknowledgment_number());
        }
    }
}

const WIDTH: f64 = 900.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 95.0;
const PANEL_H: f64 = 130.0;
const GAP: f64 = 60.0;

/// The graph as a self-contained SVG.
pub fn svg(title: &str, graph: &Graph) -> String {
    let panels = panels(graph);
    let height = TOP + panels.len().max(1) as f64 * (PANEL_H + GAP) + 20.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, "<title>{}</title>", escape::xml(title));
    let _ = writeln!(
        out,
        "<desc>TCP payload bytes per {} ms in each direction of each connection, with zero windows, window updates, retransmissions, FIN and RST marked; every number is in the data-* attributes.</desc>",
        BUCKET_NS / 1_000_000
    );
    let _ = writeln!(
        out,
        r#"<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="white"/>"#
    );
    let _ = writeln!(
        out,
        r#"<text x="{}" y="24" font-size="16" font-weight="bold" text-anchor="middle">{}</text>"#,
        WIDTH / 2.0,
        escape::xml(title)
    );
    legend(&mut out);
    if panels.is_empty() {
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle">no TCP packets in this capture</text>"#,
            WIDTH / 2.0,
            TOP + 40.0
        );
    }
    let buckets = graph.span_ns / BUCKET_NS + 1;
    for (i, panel) in panels.iter().enumerate() {
        draw_panel(&mut out, TOP + i as f64 * (PANEL_H + GAP), panel, buckets);
    }
    out.push_str("</svg>\n");
    out
}

/// What one panel draws: one connection, or the sum of the rest.
struct Panel<'a> {
    label: String,
    connections: Vec<&'a Connection>,
}

fn panels(graph: &Graph) -> Vec<Panel<'_>> {
    let mut panels: Vec<Panel<'_>> = Vec::new();
    let many = graph.connections.len() > PANELS;
    for (i, c) in graph.connections.iter().enumerate() {
        if many && i >= PANELS - 1 {
            if i == PANELS - 1 {
                panels.push(Panel {
                    label: format!(
                        "the other {} connections, added up",
                        graph.connections.len() - (PANELS - 1)
                    ),
                    connections: Vec::new(),
                });
            }
            panels.last_mut().expect("pushed above").connections.push(c);
        } else {
            panels.push(Panel {
                label: format!("connection {}: {} → {}", i + 1, c.client, c.server),
                connections: vec![c],
            });
        }
    }
    panels
}

fn draw_panel(out: &mut String, top: f64, panel: &Panel<'_>, buckets: u64) {
    let bottom = top + PANEL_H;
    let right = WIDTH - RIGHT;
    let sum = |pick: fn(&Connection) -> &Flow| {
        let mut total: BTreeMap<u64, u64> = BTreeMap::new();
        for c in &panel.connections {
            for (i, b) in &pick(c).buckets {
                *total.entry(*i).or_default() += b;
            }
        }
        total
    };
    let sent = sum(|c| &c.sent);
    let received = sum(|c| &c.received);
    let max = sent
        .values()
        .chain(received.values())
        .copied()
        .max()
        .unwrap_or(0) as f64;
    let (y_max, step) = nice_axis(max);
    let x = |bucket: f64| LEFT + bucket / buckets as f64 * (right - LEFT);
    let y = |v: f64| bottom - v / y_max * PANEL_H;
    let only = panel
        .connections
        .first()
        .filter(|_| panel.connections.len() == 1);
    let _ = match only {
        Some(c) => writeln!(
            out,
            r#"<g class="connection" data-client="{}" data-server="{}">"#,
            c.client, c.server
        ),
        None => writeln!(out, r#"<g class="connections-added-up">"#),
    };
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="{:.1}" font-weight="bold">{}</text>"#,
        top - 8.0,
        escape::xml(&panel.label)
    );
    y_grid(out, (LEFT, right), (y_max, step), y);
    // Time ticks: about ten, at round milliseconds.
    let span_ms = (buckets * BUCKET_NS / 1_000_000) as f64;
    let (_, tick_ms) = nice_axis(span_ms);
    let mut ms = 0.0;
    while ms <= span_ms {
        let px = x(ms / (BUCKET_NS as f64 / 1e6));
        let _ = writeln!(
            out,
            r##"<line x1="{px:.1}" y1="{bottom}" x2="{px:.1}" y2="{:.1}" stroke="#444"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            bottom + 4.0,
            bottom + 16.0,
            format_tick(ms, tick_ms)
        );
        ms += tick_ms;
    }
    let _ = writeln!(
        out,
        r##"<line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#444"/><line x1="{LEFT}" y1="{top}" x2="{LEFT}" y2="{bottom}" stroke="#444"/><text x="{right}" y="{:.1}" text-anchor="end">ms since the first packet</text><text x="{:.1}" y="{:.1}" text-anchor="middle" transform="rotate(-90 {:.1} {:.1})">bytes / 10 ms</text>"##,
        bottom + 30.0,
        LEFT - 55.0,
        top + PANEL_H / 2.0,
        LEFT - 55.0,
        top + PANEL_H / 2.0,
    );
    // The client's line is wide and the server's thin and dashed on top of it: an echo
    // server's reply has the client's shape, and both must stay visible.
    for (direction, colour, style, cells) in [
        (
            "client-to-server",
            COLOURS[0],
            r#"stroke-width="3.5" stroke-opacity="0.7""#,
            &sent,
        ),
        (
            "server-to-client",
            COLOURS[1],
            r#"stroke-width="1.5" stroke-dasharray="5,2""#,
            &received,
        ),
    ] {
        // A step line through every bucket (an empty one is a zero, not a gap).
        let mut points = String::new();
        let mut at = 0u64;
        for (&i, &b) in cells.iter() {
            if i > at {
                let _ = write!(
                    points,
                    "{:.1},{:.1} {:.1},{:.1} ",
                    x(at as f64),
                    y(0.0),
                    x(i as f64),
                    y(0.0)
                );
            }
            let _ = write!(
                points,
                "{:.1},{:.1} {:.1},{:.1} ",
                x(i as f64),
                y(b as f64),
                x(i as f64 + 1.0),
                y(b as f64)
            );
            at = i + 1;
        }
        if at < buckets {
            let _ = write!(
                points,
                "{:.1},{:.1} {:.1},{:.1}",
                x(at as f64),
                y(0.0),
                x(buckets as f64),
                y(0.0)
            );
        }
        let data: Vec<String> = cells.iter().map(|(i, b)| format!("{i}:{b}")).collect();
        let _ = writeln!(
            out,
            r#"<polyline class="series" data-direction="{direction}" data-buckets="{}" points="{}" fill="none" stroke="{colour}" {style}/>"#,
            data.join(" "),
            points.trim_end()
        );
    }
    // Events: a mark at the bottom (client's) or top (server's) of the panel.
    let mut marked = 0;
    for c in &panel.connections {
        for (side, flow, y_mark) in [
            ("client", &c.sent, bottom - 4.0),
            ("server", &c.received, top + 4.0),
        ] {
            for &(at, event) in &flow.events {
                marked += 1;
                if marked > 400 {
                    continue;
                }
                let px = x(at as f64 / BUCKET_NS as f64);
                let _ = writeln!(
                    out,
                    r#"<g class="event" data-kind="{}" data-side="{side}" data-ms="{:.3}"><title>{} from the {side} at {:.3} ms</title><line x1="{px:.1}" y1="{top}" x2="{px:.1}" y2="{bottom}" stroke="{}" stroke-dasharray="2,3"/><circle cx="{px:.1}" cy="{y_mark:.1}" r="3.5" fill="{}"/></g>"#,
                    event.label(),
                    at as f64 / 1e6,
                    event.label(),
                    at as f64 / 1e6,
                    event.colour(),
                    event.colour()
                );
            }
        }
    }
    out.push_str("</g>\n");
}

fn legend(out: &mut String) {
    let mut x = LEFT;
    let y = 50.0;
    out.push_str("<g class=\"legend\">\n");
    for (label, colour) in [
        ("client → server", COLOURS[0]),
        ("server → client", COLOURS[1]),
    ] {
        let _ = writeln!(
            out,
            r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{label}</text>"#,
            x + 20.0,
            x + 25.0,
            y + 4.0
        );
        x += 130.0;
    }
    for event in [
        Event::ZeroWindow,
        Event::WindowUpdate,
        Event::Retransmission,
        Event::Fin,
        Event::Rst,
    ] {
        let _ = writeln!(
            out,
            r#"<circle cx="{:.1}" cy="{y}" r="3.5" fill="{}"/><text x="{:.1}" y="{}">{}</text>"#,
            x + 4.0,
            event.colour(),
            x + 11.0,
            y + 4.0,
            event.label()
        );
        x += 18.0 + 7.0 * event.label().len() as f64;
    }
    out.push_str("</g>\n");
}

/// Writes `PCAP`'s graph beside it (`x.pcap` → `x.svg`), titled `title`.
///
/// # Errors
/// When the capture cannot be read or the picture written.
pub fn write_beside(pcap: &Path, title: &str) -> anyhow::Result<std::path::PathBuf> {
    let graph = read(pcap)?;
    let path = pcap.with_extension("svg");
    std::fs::write(&path, svg(title, &graph))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One segment of a made-up exchange: at `ms`, from the client (or the server), with
    /// these flags, window and payload.
    struct Segment {
        ms: u64,
        from_client: bool,
        flags: &'static str,
        seq: u32,
        ack: u32,
        window: u16,
        payload: &'static [u8],
    }

    fn pcap_of(segments: &[Segment]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut writer = pcap_file::pcap::PcapWriter::new(file.reopen().unwrap()).unwrap();
        for s in segments {
            let (src, dst) = if s.from_client {
                (40000, 7000)
            } else {
                (7000, 40000)
            };
            let mut tcp = etherparse::TcpHeader::new(src, dst, s.seq, s.window);
            tcp.syn = s.flags.contains('S');
            tcp.fin = s.flags.contains('F');
            tcp.rst = s.flags.contains('R');
            tcp.ack = s.flags.contains('A');
            tcp.acknowledgment_number = s.ack;
            let builder = etherparse::PacketBuilder::ethernet2([0; 6], [0; 6])
                .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
                .tcp_header(tcp);
            let mut frame = Vec::new();
            builder.write(&mut frame, s.payload).unwrap();
            let at = std::time::Duration::from_millis(1_000_000 + s.ms);
            writer
                .write_packet(&pcap_file::pcap::PcapPacket::new(
                    at,
                    frame.len() as u32,
                    &frame,
                ))
                .unwrap();
        }
        file
    }

    #[test]
    fn bytes_go_into_10_ms_buckets_and_each_kind_of_event_is_found() {
        let seg = |ms, from_client, flags, seq, ack, window, payload| Segment {
            ms,
            from_client,
            flags,
            seq,
            ack,
            window,
            payload,
        };
        let file = pcap_of(&[
            seg(0, true, "S", 100, 0, 1000, b""),
            seg(0, false, "SA", 500, 101, 1000, b""),
            seg(1, true, "A", 101, 501, 1000, b"0123456789"),
            // The same ten bytes again: a retransmission, in the next bucket.
            seg(15, true, "A", 101, 501, 1000, b"0123456789"),
            seg(16, false, "A", 501, 111, 0, b""),
            // The same ack, a window again: a window update.
            seg(31, false, "A", 501, 111, 800, b""),
            seg(32, false, "A", 501, 111, 800, b"abc"),
            seg(45, true, "FA", 111, 504, 1000, b""),
            seg(52, false, "R", 504, 0, 0, b""),
        ]);
        let graph = read(file.path()).unwrap();
        assert_eq!(graph.connections.len(), 1);
        let c = &graph.connections[0];
        assert_eq!(c.client.port(), 40000);
        assert_eq!(
            c.sent.buckets,
            BTreeMap::from([(0, 10), (1, 10)]),
            "client to server"
        );
        assert_eq!(c.received.buckets, BTreeMap::from([(3, 3)]));
        let kinds = |f: &Flow| f.events.iter().map(|(_, e)| *e).collect::<Vec<_>>();
        assert_eq!(kinds(&c.sent), [Event::Retransmission, Event::Fin]);
        // The RST carries window 0 but is no zero window (as in Wireshark).
        assert_eq!(
            kinds(&c.received),
            [Event::ZeroWindow, Event::WindowUpdate, Event::Rst]
        );
        assert_eq!(c.received.events[0].0, 16_000_000);
        assert_eq!(graph.span_ns, 52_000_000);
        let svg = svg("t", &graph);
        assert!(svg.contains(r#"data-buckets="0:10 1:10""#), "{svg}");
        assert!(svg.contains(r#"data-kind="zero-window" data-side="server" data-ms="16.000""#));
    }

    #[test]
    fn an_empty_capture_says_so() {
        let svg = svg("t <1>", &Graph::default());
        assert!(svg.contains("no TCP packets"), "{svg}");
        assert!(svg.contains("<title>t &lt;1&gt;</title>"), "{svg}");
    }
}
