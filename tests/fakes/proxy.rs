//! A loopback TCP proxy that a test can cut: while cut, it drops every
//! connection through it and every new one (the client sees a broken or
//! closed connection, as in a network outage), while the server behind it
//! keeps running for everyone else. Put it between the daemon and a real
//! server (Synapse) to take "the platform" away from the bot only.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running proxy; stops when dropped.
pub struct Proxy {
    /// Where clients connect.
    addr: SocketAddr,
    /// Up or cut, and the token that ends the current connections.
    state: Arc<Mutex<State>>,
    /// The accept loop.
    task: JoinHandle<()>,
}

struct State {
    up: bool,
    connections: CancellationToken,
}

impl Proxy {
    /// A proxy on an ephemeral 127.0.0.1 port forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            up: true,
            connections: CancellationToken::new(),
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let (up, token) = {
                    let s = shared.lock().unwrap();
                    (s.up, s.connections.clone())
                };
                if !up {
                    drop(inbound);
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = token.cancelled() => {}
                    }
                });
            }
        });
        Proxy { addr, state, task }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drop every connection through the proxy and refuse new ones.
    pub fn cut(&self) {
        let mut s = self.state.lock().unwrap();
        s.up = false;
        s.connections.cancel();
        s.connections = CancellationToken::new();
    }

    /// Let connections through again.
    pub fn restore(&self) {
        self.state.lock().unwrap().up = true;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.state.lock().unwrap().connections.cancel();
    }
}
