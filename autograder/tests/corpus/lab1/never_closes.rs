// Mistake: never checks for read returning 0, so after the client half-closes it spins
// writing nothing and never closes the connection or serves the next client.
use std::io::{Read, Write};
use std::net::TcpListener;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port = args.iter().position(|a| a == "--port").map(|i| args[i + 1].clone()).unwrap();
    let listener = TcpListener::bind(format!("127.0.0.1:{port}")).unwrap();
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let mut buf = [0u8; 4096];
        loop {
            let Ok(n) = stream.read(&mut buf) else { break };
            if stream.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    }
}
