// A byte-echo server on Node.js's `net` module: one thread, an event loop (libuv, epoll on
// Linux), backpressure through `pipe` (it pauses reading while the socket's write buffer is
// full). `allowHalfOpen` keeps our side open after the client's FIN until the echo is out.
// Usage: node echo.js PORT
const net = require("net");
const port = Number(process.argv[2]);
net
  .createServer({ allowHalfOpen: true }, (socket) => {
    socket.on("error", () => socket.destroy());
    socket.pipe(socket);
  })
  .listen(port, "127.0.0.1");
