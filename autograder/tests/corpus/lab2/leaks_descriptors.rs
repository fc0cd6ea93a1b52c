// Mistake: a thread per client, and a list of every client ever connected ("for
// statistics") that keeps a clone of each socket. The echo is right and the FIN is sent
// (shutdown), but no socket is ever closed: file descriptors leak until the server can
// accept no more.
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Mutex;
use std::thread;

static CLIENTS: Mutex<Vec<TcpStream>> = Mutex::new(Vec::new());

fn serve(mut stream: TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 8192];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        stream.write_all(&buf[..n])?;
    }
    stream.shutdown(Shutdown::Write)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port = args.iter().position(|a| a == "--port").map(|i| args[i + 1].clone()).unwrap();
    let listener = TcpListener::bind(format!("127.0.0.1:{port}")).unwrap();
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if let Ok(copy) = stream.try_clone() {
            CLIENTS.lock().unwrap_or_else(|e| e.into_inner()).push(copy);
        }
        thread::spawn(move || {
            if let Err(e) = serve(stream) {
                eprintln!("client error: {e}");
            }
        });
    }
}
