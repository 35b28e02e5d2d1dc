//! NATS for the JetStream tests: the shared server `scripts/test` starts
//! (`TIDINGS_TEST_NATS`), and a server of a test's own ([`OwnNats`]) for the tests that
//! restart it.

use crate::broker::free_port;
use crate::Scratch;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The NATS server with JetStream the broadcasting tests use: `TIDINGS_TEST_NATS`, by default
/// `nats://127.0.0.1:4222`. Fails (never skips) when nothing listens there.
pub fn nats_url() -> String {
    let url =
        std::env::var("TIDINGS_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let address = url.split("://").nth(1).unwrap_or(&url);
    let address = address.rsplit('@').next().unwrap_or(address).to_owned();
    let reachable = std::net::ToSocketAddrs::to_socket_addrs(&address)
        .ok()
        .and_then(|mut addresses| addresses.next())
        .is_some_and(|address| {
            TcpStream::connect_timeout(&address, Duration::from_secs(3)).is_ok()
        });
    assert!(
        reachable,
        "no NATS server at {address} (TIDINGS_TEST_NATS={url}): run the tests through \
         `scripts/test`, which installs `nats-server` and starts it with JetStream"
    );
    url
}

/// The `nats-server` binary: `TIDINGS_NATS_SERVER`, or `nats-server` on the `PATH`.
fn server_binary() -> String {
    std::env::var("TIDINGS_NATS_SERVER")
        .ok()
        .filter(|path| !path.is_empty())
        .unwrap_or_else(|| "nats-server".to_owned())
}

/// A NATS server with JetStream of a test's own, on a free port of loopback, its store in a
/// scratch directory that outlives its restarts. Stopped when dropped.
#[derive(Debug)]
pub struct OwnNats {
    port: u16,
    dir: Scratch,
    process: Mutex<Option<Child>>,
}

impl OwnNats {
    /// Starts a server and waits until it accepts connections.
    pub fn start(label: &str) -> OwnNats {
        let nats = OwnNats {
            port: free_port(),
            dir: Scratch::new(&format!("nats-{label}")),
            process: Mutex::new(None),
        };
        nats.run();
        nats
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn run(&self) {
        let child = Command::new(server_binary())
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "nats-server runs (scripts/test installs it; TIDINGS_NATS_SERVER names another)",
            );
        *self.process.lock().unwrap() = Some(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "nats-server on port {} did not accept connections within a minute",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server (SIGTERM: it closes its clients' connections and its store, as a
    /// server taken down for an upgrade does) and starts it again on the same port and store.
    pub fn restart(&self) {
        if let Some(mut child) = self.process.lock().unwrap().take() {
            let signalled = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .expect("kill runs");
            assert!(signalled.success(), "nats-server was sent SIGTERM");
            child.wait().unwrap();
        }
        self.run();
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        if let Some(mut child) = self.process.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
