//! How the deploy engine reports what it does without printing: the ui implements these
//! traits, tests and a controller can implement them otherwise.

use crate::object::Stage;

/// What a staged write reports as it goes.
pub trait Progress {
    /// A stage starts writing `objects` objects.
    fn stage(&self, stage: Stage, objects: usize);
    /// Something worth a line: what the engine waits for, and why.
    fn note(&self, message: &str);
    /// Starts showing the readiness of `names`, updated until finished.
    fn waiting(&self, names: &[String]) -> Box<dyn WaitProgress>;
}

/// The live readiness of a set of objects.
pub trait WaitProgress {
    fn update(&mut self, index: usize, ready: bool, message: &str);
    fn finish(self: Box<Self>);
}

/// A transfer that goes on for a while: bytes done (when known) and what it is doing.
pub trait Transfer {
    fn update(&mut self, done: Option<u64>, note: &str);
    fn finish(self: Box<Self>, message: &str);
}
