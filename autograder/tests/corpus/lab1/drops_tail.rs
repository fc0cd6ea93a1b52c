// Mistake: echoes complete lines only; at end of stream the last, unterminated piece
// is silently dropped.
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port = args.iter().position(|a| a == "--port").map(|i| args[i + 1].clone()).unwrap();
    let listener = TcpListener::bind(format!("127.0.0.1:{port}")).unwrap();
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) if line.ends_with(b"\n") => {
                    if writer.write_all(&line).is_err() {
                        break;
                    }
                }
                Ok(_) => break, // end of stream without a newline: "not a full line"
            }
        }
    }
}
