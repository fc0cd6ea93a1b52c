// Mistake: calls `write` once per chunk and ignores how many bytes it took. A write
// timeout (set "so a slow client cannot block the server") makes partial writes real:
// when it fires, `write` returns the count sent so far, and the rest is lost.
//
// (With a plain blocking socket, Linux's send() usually takes everything, so this bug
// hides on a fast, idle machine; the rubric's slow reader brings it out.)
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port = args.iter().position(|a| a == "--port").map(|i| args[i + 1].clone()).unwrap();
    let listener = TcpListener::bind(format!("127.0.0.1:{port}")).unwrap();
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        stream.set_write_timeout(Some(Duration::from_millis(200))).unwrap();
        let mut buf = [0u8; 65536];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let _ = stream.write(&buf[..n]);
                }
            }
        }
    }
}
