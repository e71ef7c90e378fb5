//! Where the shell's lines go: above the prompt on a terminal (so an event
//! arriving while you type does not tear your line), plain stdout otherwise.

use parking_lot::Mutex;
use rustyline::ExternalPrinter;
use std::sync::Arc;

/// A handle every part of the shell prints through.
#[derive(Clone, Default)]
pub struct Out {
    terminal: Arc<Mutex<Option<Box<dyn ExternalPrinter + Send>>>>,
}

impl Out {
    /// From now on, print above rustyline's prompt.
    pub fn use_terminal(&self, printer: Box<dyn ExternalPrinter + Send>) {
        *self.terminal.lock() = Some(printer);
    }

    /// Prints one line (or several, split on newlines).
    pub fn line(&self, text: impl AsRef<str>) {
        let text = text.as_ref();
        let mut terminal = self.terminal.lock();
        if let Some(p) = terminal.as_mut() {
            if p.print(text.to_string()).is_ok() {
                return;
            }
        }
        println!("{text}");
    }
}
