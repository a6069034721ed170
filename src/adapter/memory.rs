//! An in-memory adapter: simulation's stand-in for every platform, and the
//! test double for the outbox and the daemon. It records what it executes
//! and can be told to fail, the way a platform outage looks to the outbox.

use std::collections::VecDeque;
use std::sync::Mutex;

use async_trait::async_trait;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::{Adapter, Capabilities, EventSink, SendError};
use crate::error::BoxError;
use crate::event::{Action, AdapterId, Event};
use crate::outbox::RateLimits;

/// A platform in memory.
#[derive(Debug)]
pub struct MemoryAdapter {
    /// Its id.
    id: AdapterId,
    /// What it claims to be able to do.
    capabilities: Capabilities,
    /// The limits it declares.
    limits: RateLimits,
    /// Actions carried out, in order.
    executed: Mutex<Vec<Action>>,
    /// Failures to return before succeeding again, front first.
    failures: Mutex<VecDeque<SendError>>,
    /// Wakes waiters of [`MemoryAdapter::wait_for`].
    changed: Notify,
    /// Events to deliver from [`Adapter::run`], fed by [`MemoryAdapter::push`].
    inbox: Mutex<Option<mpsc::UnboundedReceiver<Event>>>,
    /// The sending half of `inbox`.
    inbox_tx: mpsc::UnboundedSender<Event>,
}

impl MemoryAdapter {
    /// An adapter with every capability and no limits.
    pub fn new(id: impl Into<AdapterId>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            id: id.into(),
            capabilities: Capabilities::ALL,
            limits: RateLimits::default(),
            executed: Mutex::new(Vec::new()),
            failures: Mutex::new(VecDeque::new()),
            changed: Notify::new(),
            inbox: Mutex::new(Some(rx)),
            inbox_tx: tx,
        }
    }

    /// The same, declaring `capabilities`.
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// The same, declaring `limits`.
    pub fn with_limits(mut self, limits: RateLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Fail the next executions with these errors, in order.
    pub fn fail_next(&self, errors: impl IntoIterator<Item = SendError>) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(errors);
    }

    /// Deliver `event` as if the platform had sent it (once `run` is running).
    pub fn push(&self, event: Event) {
        // The receiver lives as long as the adapter; a send can only fail
        // after run() returned, when nobody listens any more.
        let _ = self.inbox_tx.send(event);
    }

    /// The actions carried out so far.
    pub fn executed(&self) -> Vec<Action> {
        self.executed.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Wait until at least `n` actions have been carried out.
    pub async fn wait_for(&self, n: usize) -> Vec<Action> {
        loop {
            let notified = self.changed.notified();
            {
                let done = self.executed.lock().unwrap_or_else(|e| e.into_inner());
                if done.len() >= n {
                    return done.clone();
                }
            }
            notified.await;
        }
    }
}

#[async_trait]
impl Adapter for MemoryAdapter {
    fn id(&self) -> &AdapterId {
        &self.id
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    fn limits(&self) -> RateLimits {
        self.limits.clone()
    }

    async fn run(&self, events: EventSink, shutdown: CancellationToken) -> Result<(), BoxError> {
        let taken = self.inbox.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(mut inbox) = taken else {
            return Err("memory adapter is already running".into());
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                event = inbox.recv() => match event {
                    Some(event) => if events.send(event).await.is_err() { break },
                    None => break,
                },
            }
        }
        *self.inbox.lock().unwrap_or_else(|e| e.into_inner()) = Some(inbox);
        Ok(())
    }

    async fn execute(&self, action: &Action) -> Result<(), SendError> {
        let failure = self
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front();
        if let Some(error) = failure {
            return Err(error);
        }
        self.executed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(action.clone());
        self.changed.notify_waiters();
        Ok(())
    }
}
