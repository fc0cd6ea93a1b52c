// Mistake: logs the first byte of every read before checking for the end of the stream.
// A read that returns 0 (a client that sends nothing and closes) indexes an empty slice:
// the panic ends the only thread, and the server is gone.
use std::io::{Read, Write};
use std::net::TcpListener;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port = args.iter().position(|a| a == "--port").map(|i| args[i + 1].clone()).unwrap();
    let listener = TcpListener::bind(format!("127.0.0.1:{port}")).unwrap();
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let mut buf = [0u8; 16384];
        let mut first_read = true;
        loop {
            let Ok(n) = stream.read(&mut buf) else { break };
            if first_read {
                eprintln!("client opened with byte {:#04x}", buf[..n][0]);
                first_read = false;
            }
            if n == 0 {
                break;
            }
            if stream.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    }
}
