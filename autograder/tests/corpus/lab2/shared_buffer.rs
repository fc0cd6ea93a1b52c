// Mistake: a thread per client, but all threads share one buffer ("to save memory").
// One thread reads into it while another is still writing its echo from it, so clients
// receive each other's bytes.
use std::cell::UnsafeCell;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;

struct SharedBuf(UnsafeCell<[u8; 16384]>);
// The lie that makes it compile: this buffer is NOT safe to share between threads.
unsafe impl Sync for SharedBuf {}
static BUF: SharedBuf = SharedBuf(UnsafeCell::new([0; 16384]));

fn serve(mut stream: TcpStream) -> std::io::Result<()> {
    let buf = unsafe { &mut *BUF.0.get() };
    loop {
        let n = stream.read(buf)?;
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
        thread::spawn(move || {
            if let Err(e) = serve(stream) {
                eprintln!("client error: {e}");
            }
        });
    }
}
