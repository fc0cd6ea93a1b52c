// Mistake: a threaded echo client that unwraps what the network does. A thread per client,
// all at once, every byte compared: but `connect(…).unwrap()` and `read_exact(…).unwrap()`
// turn a refused connection or a server that closes early into a panic, and `join().unwrap()`
// carries the panic into main (exit status 101, a panic message instead of a report).
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .map_or(default.to_string(), |i| args[i + 1].clone())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let host = arg(&args, "--host", "127.0.0.1");
    let port = arg(&args, "--port", "7102");
    let clients: usize = arg(&args, "--clients", "10").parse().unwrap();
    let bytes: usize = arg(&args, "--bytes", "1048576").parse().unwrap();
    let rounds: usize = arg(&args, "--rounds", "1").parse().unwrap();
    let handles: Vec<_> = (1..=clients)
        .map(|i| {
            let addr = format!("{host}:{port}");
            thread::spawn(move || {
                let mut stream = TcpStream::connect(&addr).unwrap();
                let mut state = i as u32 * 2_654_435_761;
                let mut mismatches = 0;
                for _ in 0..rounds {
                    let mut left = bytes;
                    while left > 0 {
                        let n = left.min(4096);
                        let chunk: Vec<u8> = (0..n)
                            .map(|_| {
                                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                                (state >> 16) as u8
                            })
                            .collect();
                        stream.write_all(&chunk).unwrap();
                        let mut echo = vec![0u8; n];
                        stream.read_exact(&mut echo).unwrap();
                        mismatches += chunk.iter().zip(&echo).filter(|(a, b)| a != b).count();
                        left -= n;
                    }
                }
                stream.shutdown(Shutdown::Write).unwrap();
                (bytes * rounds, mismatches)
            })
        })
        .collect();
    let mut failed = false;
    for (i, handle) in handles.into_iter().enumerate() {
        let (n, mismatches) = handle.join().unwrap();
        println!("c{}: {n} bytes, {mismatches} mismatched bytes", i + 1);
        failed |= mismatches > 0;
    }
    if failed {
        eprintln!("mismatch: some bytes came back altered");
        std::process::exit(1);
    }
}
