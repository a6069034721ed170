//! Shared helpers of the integration tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use qunbot::adapter::Capabilities;
use qunbot::adapter::memory::MemoryAdapter;
use qunbot::clock::VirtualClock;
use qunbot::config::{self, Config};
use qunbot::event::{Action, AdapterId};
use qunbot::registry::Registry;
use qunbot::runtime::{self, RunOptions};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The folder of the transcript cases.
pub fn transcripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts")
}

/// Load `dir/config.yaml`, panicking with every error.
pub fn load(dir: &Path) -> Config {
    config::load(&dir.join("config.yaml"), &Registry::builtin()).unwrap_or_else(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!("config errors:\n{}", lines.join("\n"))
    })
}

/// Write `files` (relative path, content) under `dir`.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// Run `qunbot simulate`'s engine on `transcript` with the config in `dir`.
pub async fn simulate(dir: &Path, transcript: &str) -> String {
    let mut out = Vec::new();
    qunbot::simulate::run(load(dir), transcript, &Default::default(), &mut out)
        .await
        .unwrap();
    String::from_utf8(out).unwrap()
}

/// A daemon started on a virtual clock, with every adapter replaced by an
/// in-memory one.
pub struct Daemon {
    pub adapters: Vec<Arc<MemoryAdapter>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Daemon {
    /// Start the daemon of `dir/config.yaml` on `clock`; returns once it is
    /// ready (before that, moving the clock could skip its first slots).
    pub async fn start(dir: &Path, clock: &VirtualClock) -> Daemon {
        Self::start_with(dir, clock, |_| {}).await
    }

    /// The same, letting `setup` prepare the in-memory adapters.
    pub async fn start_with(dir: &Path, clock: &VirtualClock, setup: impl Fn(&MemoryAdapter)) -> Daemon {
        Self::launch(dir, clock, |id| {
            let memory = MemoryAdapter::new(id);
            setup(&memory);
            memory
        })
        .await
    }

    /// The same, with in-memory adapters that can do only `capabilities`.
    pub async fn start_capable_of(dir: &Path, clock: &VirtualClock, capabilities: Capabilities) -> Daemon {
        Self::launch(dir, clock, |id| {
            MemoryAdapter::new(id).with_capabilities(capabilities)
        })
        .await
    }

    async fn launch(dir: &Path, clock: &VirtualClock, make: impl Fn(AdapterId) -> MemoryAdapter) -> Daemon {
        let mut config = load(dir);
        let mut adapters = Vec::new();
        for entry in &mut config.adapters {
            let memory = Arc::new(make(entry.id.clone()));
            entry.adapter = memory.clone();
            adapters.push(memory);
        }
        let (tx, rx) = oneshot::channel::<()>();
        let clock = Arc::new(clock.clone());
        let ready = Arc::new(tokio::sync::Notify::new());
        let options = RunOptions {
            ready: Some(ready.clone()),
            ..RunOptions::default()
        };
        let notified = ready.notified();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = rx.await;
            };
            runtime::run(config, clock, options, shutdown).await.unwrap();
        });
        // Moving the clock before the scheduler took its start time would
        // skip its first slots.
        tokio::time::timeout(Duration::from_secs(30), notified)
            .await
            .expect("daemon ready");
        Daemon {
            adapters,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stop the daemon and wait until it has drained.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .expect("daemon did not stop")
                .unwrap();
        }
    }
}

/// Move `clock` forward in `step`s until `adapter` has executed `n` actions
/// (at most `max_steps` steps), giving the daemon's tasks a moment between
/// steps. Returns the executed actions.
pub async fn advance_until(
    clock: &VirtualClock,
    adapter: &MemoryAdapter,
    n: usize,
    step: Duration,
    max_steps: usize,
) -> Vec<Action> {
    for _ in 0..max_steps {
        if let Ok(done) = tokio::time::timeout(Duration::from_millis(20), adapter.wait_for(n)).await {
            return done;
        }
        clock.advance(step);
    }
    // A loaded machine may be slow to act on the last step: give it time
    // (real time only, the virtual clock stays put) before failing.
    if let Ok(done) = tokio::time::timeout(Duration::from_secs(10), adapter.wait_for(n)).await {
        return done;
    }
    let done = adapter.executed();
    panic!(
        "only {} of {n} actions after {max_steps} steps: {done:?}",
        done.len()
    );
}

/// Let the daemon's tasks run without moving the clock, then return what
/// `adapter` has executed.
pub async fn settle(adapter: &MemoryAdapter) -> Vec<Action> {
    for _ in 0..10 {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    adapter.executed()
}

/// The real daemon (system clock) running one config folder; shared with
/// the other adapter suites.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    pub http: Option<std::net::SocketAddr>,
}

impl Running {
    pub async fn start(dir: &Path) -> Running {
        Self::start_on(dir, Arc::new(qunbot::clock::SystemClock)).await
    }

    /// The same on `clock` (a virtual one, to test pacing of real adapters).
    pub async fn start_on(dir: &Path, clock: Arc<dyn qunbot::clock::Clock>) -> Running {
        let config = load(dir);
        let ready = Arc::new(tokio::sync::Notify::new());
        let http = Arc::new(std::sync::OnceLock::new());
        let options = RunOptions {
            ready: Some(ready.clone()),
            http_addr: Some(http.clone()),
            ..RunOptions::default()
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let notified = ready.notified();
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            runtime::run(config, clock, options, shutdown).await.unwrap();
        });
        tokio::time::timeout(Duration::from_secs(30), notified)
            .await
            .expect("daemon ready");
        Running {
            stop: Some(stop),
            task: Some(task),
            http: http.get().copied(),
        }
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(30), self.task.take().unwrap())
            .await
            .expect("daemon stops")
            .unwrap();
    }
}
