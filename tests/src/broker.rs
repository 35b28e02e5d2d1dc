//! A RabbitMQ node of a test's own, for the tests that stop and start their broker: it runs
//! beside the broker every other test uses (`TIDINGS_TEST_AMQP`), with its own node name,
//! ports (free ones the system hands out) and files, and is stopped when dropped.
//!
//! It needs `rabbitmq-server` and `rabbitmqctl` on the `PATH` (`scripts/test` installs them)
//! and, as root, the `rabbitmq` user the package creates (the node runs as that user).

use crate::Scratch;
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long the node may take to start, or to stop accepting connections.
const STARTUP: Duration = Duration::from_secs(120);

/// A running RabbitMQ node of the test's own.
#[derive(Debug)]
pub struct OwnBroker {
    node: String,
    port: u16,
    dist_port: u16,
    dir: Scratch,
}

impl OwnBroker {
    /// Starts a node named after `label` and waits until it accepts connections.
    pub fn start(label: &str) -> OwnBroker {
        let node = format!("tidings-{label}-{}@localhost", std::process::id());
        let dir = Scratch::new(&format!("broker-{label}"));
        for sub in ["mnesia", "log"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        if is_root() {
            let owned = Command::new("chown")
                .args(["-R", "rabbitmq:rabbitmq"])
                .arg(dir.path())
                .status()
                .expect("chown runs");
            assert!(owned.success(), "the node's directory given to `rabbitmq`");
        }
        let broker = OwnBroker {
            node,
            port: free_port(),
            dist_port: free_port(),
            dir,
        };
        let started = broker
            .command("rabbitmq-server")
            .arg("-detached")
            .env("RABBITMQ_MNESIA_BASE", broker.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", broker.dir.join("log"))
            .status()
            .expect("rabbitmq-server runs (scripts/test installs it)");
        assert!(
            started.success(),
            "rabbitmq-server -detached for {}",
            broker.node
        );
        let pid_file = broker
            .dir
            .join("mnesia")
            .join(format!("{}.pid", broker.node));
        let pid_file = pid_file.to_str().unwrap();
        broker.ctl(&["wait", "--timeout", "120", pid_file]);
        broker.until_listening(true);
        broker
    }

    /// The node's AMQP URI (user `guest`, the default virtual host).
    pub fn uri(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Stops the broker's application (every connection closes and the port stops
    /// listening), then starts it again and waits until it accepts connections.
    pub fn restart(&self) {
        self.ctl(&["stop_app"]);
        self.until_listening(false);
        self.ctl(&["start_app"]);
        self.until_listening(true);
    }

    /// The messages in `queue`, ready or delivered and not yet acknowledged.
    pub fn messages_in(&self, queue: &str) -> u64 {
        let listed = self.ctl(&[
            "list_queues",
            "--quiet",
            "--no-table-headers",
            "name",
            "messages",
        ]);
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .find_map(|line| {
                let (name, count) = line.split_once('\t')?;
                (name == queue).then(|| count.trim().parse().expect("a message count"))
            })
            .unwrap_or_else(|| panic!("no queue `{queue}` on {}", self.node))
    }

    /// The open connections whose client named them with a name containing `name`.
    pub fn connections_named(&self, name: &str) -> usize {
        let listed = self.ctl(&[
            "list_connections",
            "--quiet",
            "--no-table-headers",
            "client_properties",
        ]);
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter(|line| line.contains("connection_name") && line.contains(name))
            .count()
    }

    /// Runs `rabbitmqctl` against the node; fails the test when it fails.
    pub fn ctl(&self, args: &[&str]) -> Output {
        let output = self
            .command("rabbitmqctl")
            .args(["-n", &self.node])
            .args(args)
            .output()
            .expect("rabbitmqctl runs (scripts/test installs it)");
        assert!(
            output.status.success(),
            "rabbitmqctl {} on {} failed: {}",
            args.join(" "),
            self.node,
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// A command with the node's settings in its environment.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            )
            .stdin(Stdio::null());
        command
    }

    /// Waits until the AMQP port accepts connections (`true`) or refuses them (`false`).
    fn until_listening(&self, listening: bool) {
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() != listening {
            assert!(
                start.elapsed() < STARTUP,
                "{} still {} connections after {STARTUP:?}",
                self.node,
                if listening { "refuses" } else { "accepts" }
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = self
            .command("rabbitmqctl")
            .args(["-n", &self.node, "stop"])
            .output();
    }
}

/// A port nothing listens on now, as the system hands it out.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port on loopback")
        .port()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}
