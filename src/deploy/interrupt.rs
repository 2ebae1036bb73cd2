//! Ctrl-C while writing: stop at the next stage boundary, never mid-write; while waiting, stop
//! waiting. One flag the whole run shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// Set by Ctrl-C.
#[derive(Clone, Default)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl Interrupt {
    /// Listens for Ctrl-C from now on.
    pub fn listen() -> Self {
        let interrupt = Interrupt::default();
        let handle = interrupt.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                handle.set();
            }
        });
        interrupt
    }

    /// Listens for Ctrl-C and for SIGTERM (how Kubernetes stops a pod) from now on.
    pub fn listen_with_terminate() -> Self {
        let interrupt = Interrupt::listen();
        let handle = interrupt.clone();
        tokio::spawn(async move {
            #[cfg(unix)]
            if let Ok(mut terminate) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                terminate.recv().await;
                handle.set();
            }
        });
        interrupt
    }

    /// Sets the flag as a signal would (the controller, when it loses its leadership).
    pub fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Returns once Ctrl-C was pressed.
    pub async fn wait(&self) {
        if !self.is_set() {
            self.notify.notified().await;
        }
    }
}
